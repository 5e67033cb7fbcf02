// Package tailscale is the tailscale-router role: a Tailscale subnet
// router advertising the lab network to the VPN: kernel forwarding, the
// auth key, `tailscale up` when the node's prefs differ (router.go), and
// its firewall ports and routes (firewall.go).
package tailscale

import (
	"github.com/homelab-agent/homelab-agent/agent/files"
	"github.com/homelab-agent/homelab-agent/agent/resource"
	"github.com/homelab-agent/homelab-agent/agent/role"
)

// SysctlPath turns on IPv4 and IPv6 forwarding.
const SysctlPath = "/etc/sysctl.d/99-homelab-forwarding.conf"

// Role is the tailscale-router role.
type Role struct{}

func init() { role.Register(Role{}) }

var (
	_ role.Role   = Role{}
	_ role.Player = Role{}
)

// Name implements role.Role.
func (Role) Name() string { return "tailscale-router" }

// Plays implements role.Player: the VPN's way into the lab (its lab IP is
// where masqueraded VPN clients come from).
func (Role) Plays() []role.Part { return []role.Part{role.VPNRouter} }

// Build implements role.Role.
func (Role) Build(in role.Input) (*role.Output, error) {
	f := &files.File{Path: SysctlPath, Mode: 0o644, Content: []byte(files.Header("#", "forwarding for the subnet router") +
		"net.ipv4.ip_forward = 1\nnet.ipv6.conf.all.forwarding = 1\n")}
	out := &role.Output{
		Resources: []resource.Resource{f},
		Hooks: []*resource.Hook{{
			Name:     "apply-sysctl",
			Watch:    []string{f.ID()},
			Commands: [][]string{{"sysctl", "--load=" + SysctlPath}},
		}},
		Secrets:  []string{"TAILSCALE_AUTHKEY"},
		Packages: Packages,
	}
	out.Add(router(in))
	return out, nil
}
