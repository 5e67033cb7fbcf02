package role

import "github.com/homelab-agent/homelab-agent/agent/firewall"

// Audience says who may open a service port.
type Audience int

// Audiences, from the lab model (DESIGN.md, "Network facts").
const (
	// Clients are the devices people use: the lab network, the VPN and,
	// when homelab.yaml sets network.lan_cidr, the home LAN.
	Clients Audience = iota
	// Proxy is the reverse proxy host(s): app ports are reached through it only.
	Proxy
	// Admin is the gateway and the VPN.
	Admin
	// Anyone is every source (for authenticated protocols such as WireGuard).
	Anyone
)

// String names the audience in rule comments.
func (a Audience) String() string {
	switch a {
	case Clients:
		return "the lab and VPN"
	case Proxy:
		return "the proxy"
	case Admin:
		return "the gateway and VPN"
	case Anyone:
		return "anywhere"
	}
	return "nobody"
}

// Port is a service port a role opens and to whom.
type Port struct {
	Port uint16
	// Proto is "tcp" or "udp".
	Proto string
	From  Audience
	// Service names what listens, for the rule's comment.
	Service string
}

// Firewaller is implemented by roles that open service ports beyond their
// published app's (an Exposer's port is opened to the proxy without it).
// A host's table admits nothing else but SSH and the status port from
// Admin, the ports of its published services from Proxy, and its allow:
// flows.
type Firewaller interface {
	Ports(in Input) []Port
}

// Router is implemented by roles that forward traffic between networks.
type Router interface {
	Routes(in Input) []firewall.Route
}
