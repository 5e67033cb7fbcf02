package roles

import (
	"fmt"
	"net/netip"
	"slices"

	"github.com/homelab-agent/homelab-agent/agent/firewall"
	"github.com/homelab-agent/homelab-agent/agent/lab"
)

// Ports every host opens to Admin: SSH and the agent's status port.
const (
	SSHPort         = 22
	AgentStatusPort = 9123
)

// Audience says who may open a service port.
type Audience int

// Audiences, from the lab model (DESIGN.md, "Network facts").
const (
	// Clients are the lab network and the VPN.
	Clients Audience = iota
	// Proxy is the traefik host(s): app ports are reached through Traefik only.
	Proxy
	// Admin is the gateway and the VPN.
	Admin
	// Anyone is every source (for authenticated protocols such as WireGuard).
	Anyone
)

// Port is a service port a role opens and to whom.
type Port struct {
	Port uint16
	// Proto is "tcp" or "udp".
	Proto string
	From  Audience
	// Service names what listens, for the rule's comment.
	Service string
}

// Firewaller is implemented by roles that open service ports. A host's
// table admits nothing else but SSH and the status port from Admin, the
// expose ports of its extra apps from Proxy, and its allow: flows.
type Firewaller interface {
	Ports(in Input) []Port
}

// Router is implemented by roles that forward traffic between networks.
type Router interface {
	Routes(in Input) []firewall.Route
}

// ExposedPort is the port a host's own app listens on behind Traefik:
// the role's default unless the host's expose: says otherwise.
func ExposedPort(e Exposer, h *lab.Host) uint16 {
	_, port := e.DefaultExpose()
	if h.Expose != nil && h.Expose.Port != 0 {
		port = h.Expose.Port
	}
	return uint16(port)
}

// VPNSources are the addresses VPN clients arrive from: the VPN range and,
// since Tailscale masquerades subnet-route traffic, the routers' lab IPs.
func VPNSources(l *lab.Lab) []netip.Prefix {
	var out []netip.Prefix
	if l.Network.VPNCIDR.IsValid() {
		out = append(out, l.Network.VPNCIDR.Prefix)
	}
	for _, h := range l.WithRole("tailscale-router") {
		out = append(out, netip.PrefixFrom(h.IP.Addr, h.IP.BitLen()))
	}
	return out
}

// Sources resolves an audience to networks.
func Sources(l *lab.Lab, a Audience) []netip.Prefix {
	host := func(ip lab.IP) netip.Prefix { return netip.PrefixFrom(ip.Addr, ip.BitLen()) }
	var out []netip.Prefix
	switch a {
	case Clients:
		out = append(out, l.Network.CIDR.Prefix)
		for _, p := range VPNSources(l) {
			if !l.Network.CIDR.Contains(p.Addr()) {
				out = append(out, p)
			}
		}
	case Proxy:
		for _, h := range l.WithRole("traefik") {
			out = append(out, host(h.IP))
		}
	case Admin:
		out = append(out, host(l.Network.Gateway))
		out = append(out, VPNSources(l)...)
	}
	return out
}

// FirewallHost gathers what a host's table admits: SSH and the status
// port from Admin, its role's ports, its extra apps' expose ports from
// Proxy, its allow: flows, and its role's routes.
func FirewallHost(in Input) firewall.Host {
	l, h := in.Lab, in.Host
	var fh firewall.Host
	add := func(p Port) {
		f := firewall.Flow{Proto: p.Proto, Port: p.Port, Anywhere: p.From == Anyone, From: Sources(l, p.From),
			Comment: fmt.Sprintf("%s from %s", p.Service, audienceName[p.From])}
		if f.Proto == "" {
			f.Proto = "tcp"
		}
		fh.Flows = append(fh.Flows, f)
	}
	add(Port{Port: SSHPort, Proto: "tcp", From: Admin, Service: "ssh"})
	add(Port{Port: AgentStatusPort, Proto: "tcp", From: Admin, Service: "agent status"})
	r, _ := Lookup(h.Role)
	if fw, ok := r.(Firewaller); ok {
		for _, p := range fw.Ports(in) {
			add(p)
		}
	}
	for _, a := range l.AppsOn(h.Name) {
		if a.Expose != nil {
			port := a.Expose.Port
			if port == 0 {
				port = 80
			}
			add(Port{Port: uint16(port), Proto: "tcp", From: Proxy, Service: "app " + a.Name})
		}
	}
	for _, a := range h.Allow {
		from := l.Hosts.Get(a.From)
		if from == nil {
			continue
		}
		proto := a.Proto
		if proto == "" {
			proto = "tcp"
		}
		fh.Flows = append(fh.Flows, firewall.Flow{Proto: proto, Port: uint16(a.Port),
			From:    []netip.Prefix{netip.PrefixFrom(from.IP.Addr, from.IP.BitLen())},
			Comment: fmt.Sprintf("allow from %s (homelab.yaml)", a.From)})
	}
	if rt, ok := r.(Router); ok {
		fh.Routes = rt.Routes(in)
	}
	fh.Flows = dedupe(fh.Flows)
	return fh
}

var audienceName = map[Audience]string{Clients: "the lab and VPN", Proxy: "the proxy", Admin: "the gateway and VPN", Anyone: "anywhere"}

// dedupe drops sources a flow for the same port already admitted.
func dedupe(flows []firewall.Flow) []firewall.Flow {
	type key struct {
		proto string
		port  uint16
		src   netip.Prefix
	}
	seen := map[key]bool{}
	var out []firewall.Flow
	for _, f := range flows {
		if f.Anywhere {
			if seen[key{f.Proto, f.Port, netip.Prefix{}}] {
				continue
			}
			seen[key{f.Proto, f.Port, netip.Prefix{}}] = true
			out = append(out, f)
			continue
		}
		f.From = slices.DeleteFunc(slices.Clone(f.From), func(p netip.Prefix) bool {
			k := key{f.Proto, f.Port, p}
			dup := seen[k] || seen[key{f.Proto, f.Port, netip.Prefix{}}]
			seen[k] = true
			return dup
		})
		if len(f.From) > 0 {
			out = append(out, f)
		}
	}
	return out
}

// FirewallTable is the firewall resource every host gets. After a change
// the host must still reach the gateway (an ICMP echo); the daemon adds
// its git remote with firewall.WithConfirm.
func FirewallTable(in Input) *firewall.Table {
	t := &firewall.Table{Host: FirewallHost(in)}
	if g := in.Lab.Network.Gateway; g.IsValid() {
		t.ProbeTargets = []string{g.String()}
	}
	return t
}
