package tailscale

import (
	"strings"

	"github.com/homelab-agent/homelab-agent/agent/files"
	"github.com/homelab-agent/homelab-agent/agent/health"
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
	up := &agentts.Up{
		Hostname:        in.Host.Name,
		AdvertiseRoutes: []string{in.Lab.Network.CIDR.String()},
		AuthKeyFile:     AuthKeyPath,
	}
	return &role.Output{
		Resources: []resource.Resource{key, &agentts.Forwarding{}, up},
		Health:    health.Spec{Probes: []health.Probe{health.Func{Name: "tailscale status (routes " + strings.Join(up.AdvertiseRoutes, ",") + ")", F: up.Healthy}}},
	}
}
