package secrets

import "strings"

// AgentEnvPrefix prefixes the daemon's own configuration variables
// (HOMELAB_AGENT_AUTH_TOKEN, HOMELAB_AGENT_WEBHOOK_SECRET ...).
const AgentEnvPrefix = "HOMELAB_AGENT_"

// Private reports whether an environment variable belongs to the agent
// alone: its secrets (HOMELAB_SECRET_*) and its configuration
// (HOMELAB_AGENT_*, which may hold the repo token or the webhook secret).
func Private(name string) bool {
	return strings.HasPrefix(name, EnvPrefix) || strings.HasPrefix(name, AgentEnvPrefix)
}

// ChildEnv is environ without the agent's private variables: what a child
// process (restic, a reload hook, tailscale) or a compose interpolation
// may see.
func ChildEnv(environ []string) []string {
	out := make([]string, 0, len(environ))
	for _, kv := range environ {
		if k, _, _ := strings.Cut(kv, "="); !Private(k) {
			out = append(out, kv)
		}
	}
	return out
}
