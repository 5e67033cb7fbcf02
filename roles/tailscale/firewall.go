package tailscale

import (
	"net/netip"

	"github.com/homelab-agent/homelab-agent/agent/firewall"
	"github.com/homelab-agent/homelab-agent/agent/role"
)

// WireGuardPort is tailscaled's UDP port for direct connections.
const WireGuardPort = 41641

// DefaultVPNCIDR is Tailscale's address range, used when the lab has no vpn_cidr.
var DefaultVPNCIDR = netip.MustParsePrefix("100.64.0.0/10")

var (
	_ role.Firewaller = Role{}
	_ role.Router     = Role{}
)

// Ports implements role.Firewaller: WireGuard from anywhere (it
// authenticates every packet), so that peers can connect directly.
func (Role) Ports(role.Input) []role.Port {
	return []role.Port{{Port: WireGuardPort, Proto: "udp", From: role.Anyone, Service: "tailscale wireguard"}}
}

// Routes implements role.Router: VPN clients reach the lab, masqueraded
// as the router (as Tailscale's --snat-subnet-routes does too), so that
// guests need no route back to the VPN.
func (Role) Routes(in role.Input) []firewall.Route {
	vpn := in.Lab.Network.VPNCIDR.Prefix
	if !vpn.IsValid() {
		vpn = DefaultVPNCIDR
	}
	return []firewall.Route{{From: vpn, To: in.Lab.Network.CIDR.Prefix, Masquerade: true, Comment: "vpn to lab"}}
}
