package tailscale

import (
	"github.com/homelab-agent/homelab-agent/agent/files"
	"github.com/homelab-agent/homelab-agent/agent/resource"
	"github.com/homelab-agent/homelab-agent/agent/role"
	agentts "github.com/homelab-agent/homelab-agent/agent/tailscale"
)

// AuthKeyPath holds the Tailscale auth key, written from the
// TAILSCALE_AUTHKEY secret, for `tailscale up --auth-key=file:...`.
const AuthKeyPath = "/etc/homelab-agent/tailscale/authkey"

// router returns what makes the node a subnet router: the auth key file,
// the running kernel's forwarding switches, and `tailscale up` with the
// lab's route, run only when the node's prefs differ.
func router(in role.Input) *role.Output {
	key := &files.File{Path: AuthKeyPath, Content: []byte("${secret:TAILSCALE_AUTHKEY}\n"), Mode: 0o600}
	return &role.Output{Resources: []resource.Resource{
		key,
		&agentts.Forwarding{},
		&agentts.Up{
			Hostname:        in.Host.Name,
			AdvertiseRoutes: []string{in.Lab.Network.CIDR.String()},
			AuthKeyFile:     AuthKeyPath,
		},
	}}
}
