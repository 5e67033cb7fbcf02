package agent

import (
	"fmt"
	"net/netip"
	"slices"

	"github.com/homelab-agent/homelab-agent/agent/firewall"
	"github.com/homelab-agent/homelab-agent/agent/lab"
	"github.com/homelab-agent/homelab-agent/agent/role"
)

// Ports every host opens to role.Admin: SSH and the agent's status port.
const (
	SSHPort         = 22
	AgentStatusPort = 9123
)

// VPNSources are the addresses VPN clients arrive from: the VPN range and,
// since Tailscale masquerades subnet-route traffic, the lab IPs of the
// hosts playing role.VPNRouter.
func VPNSources(l *lab.Lab) []netip.Prefix {
	var out []netip.Prefix
	if l.Network.VPNCIDR.IsValid() {
		out = append(out, l.Network.VPNCIDR.Prefix)
	}
	for _, h := range role.HostsPlaying(l, role.VPNRouter) {
		out = append(out, hostPrefix(h.IP))
	}
	return out
}

func hostPrefix(ip lab.IP) netip.Prefix { return netip.PrefixFrom(ip.Addr, ip.BitLen()) }

// Sources resolves an audience to networks.
func Sources(l *lab.Lab, a role.Audience) []netip.Prefix {
	var out []netip.Prefix
	switch a {
	case role.Clients:
		out = append(out, l.Network.CIDR.Prefix)
		for _, p := range VPNSources(l) {
			if !l.Network.CIDR.Contains(p.Addr()) {
				out = append(out, p)
			}
		}
		if lan := l.Network.LANCIDR; lan.IsValid() {
			out = append(out, lan.Prefix)
		}
	case role.Proxy:
		for _, h := range role.HostsPlaying(l, role.ReverseProxy) {
			out = append(out, hostPrefix(h.IP))
		}
	case role.Admin:
		out = append(out, hostPrefix(l.Network.Gateway))
		out = append(out, VPNSources(l)...)
	}
	return out
}

// FirewallHost gathers what a host's table admits: SSH and the status
// port from Admin, its role's ports (role.Firewaller), the ports of the
// services it publishes (its role's app and its extra apps) from the
// proxy, its allow: flows, and its role's routes (role.Router).
func FirewallHost(in role.Input) firewall.Host {
	l, h := in.Lab, in.Host
	var fh firewall.Host
	add := func(p role.Port) {
		who := p.From.String()
		if p.From == role.Clients && l.Network.LANCIDR.IsValid() {
			who = "the lab, VPN and LAN"
		}
		f := firewall.Flow{Proto: p.Proto, Port: p.Port, Anywhere: p.From == role.Anyone, From: Sources(l, p.From),
			Comment: fmt.Sprintf("%s from %s", p.Service, who)}
		if f.Proto == "" {
			f.Proto = "tcp"
		}
		fh.Flows = append(fh.Flows, f)
	}
	add(role.Port{Port: SSHPort, Proto: "tcp", From: role.Admin, Service: "ssh"})
	add(role.Port{Port: AgentStatusPort, Proto: "tcp", From: role.Admin, Service: "agent status"})
	if l.UsesWaves() {
		// Canary waves: agents read each other's /fleet/status (HMAC-signed).
		fh.Flows = append(fh.Flows, firewall.Flow{Proto: "tcp", Port: AgentStatusPort,
			From: []netip.Prefix{l.Network.CIDR.Prefix}, Comment: "agent fleet status from the lab (waves)"})
	}
	r, _ := role.Lookup(h.Role)
	if fw, ok := r.(role.Firewaller); ok {
		for _, p := range fw.Ports(in) {
			add(p)
		}
	}
	for _, s := range role.Services(l) {
		if s.Host == h {
			add(role.Port{Port: uint16(s.Port), Proto: "tcp", From: role.Proxy, Service: s.Name})
		}
	}
	for _, a := range h.Allow {
		if a == nil {
			continue
		}
		from := l.Hosts.Get(a.From)
		if from == nil {
			continue
		}
		proto := a.Proto
		if proto == "" {
			proto = "tcp"
		}
		fh.Flows = append(fh.Flows, firewall.Flow{Proto: proto, Port: uint16(a.Port),
			From:    []netip.Prefix{hostPrefix(from.IP)},
			Comment: fmt.Sprintf("allow from %s (homelab.yaml)", a.From)})
	}
	if rt, ok := r.(role.Router); ok {
		fh.Routes = rt.Routes(in)
	}
	fh.Flows = dedupe(fh.Flows)
	fh.Ping = Sources(l, role.Admin)
	return fh
}

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
func FirewallTable(in role.Input) *firewall.Table {
	t := &firewall.Table{Host: FirewallHost(in), Persist: firewall.PersistPath}
	if g := in.Lab.Network.Gateway; g.IsValid() {
		t.ProbeTargets = []string{g.String()}
	}
	return t
}
