package firewall

import (
	"fmt"
	"net/netip"
)

// Host is what a host's table admits; Build turns it into the ruleset.
type Host struct {
	// Flows are the new connections the host accepts, to itself or to
	// container ports Docker publishes on it.
	Flows []Flow
	// Routes are forwarded through the host (a subnet router).
	Routes []Route
	// Ping lists the sources whose ICMP (or ICMPv6) echo requests the host
	// answers: the gateway and the VPN. Echo from anywhere else, other
	// guests included, is dropped; ICMP errors are admitted from all.
	Ping []netip.Prefix
}

// Flow admits new connections to one port from some sources.
type Flow struct {
	// From lists the admitted sources; a flow with none admits nothing
	// unless Anywhere is set.
	From     []netip.Prefix
	Anywhere bool
	// Proto is "tcp" or "udp".
	Proto string
	Port  uint16
	// Comment says who opens the port and why ("dns from the lab").
	Comment string
}

// Route forwards new connections from one network to another.
type Route struct {
	From, To netip.Prefix
	// Masquerade rewrites the source to the router's address.
	Masquerade bool
	Comment    string
}

// Chain priorities. The prerouting chain runs before Docker's DNAT
// (dstnat, -100), so it sees a published port as the port the client
// asked for; the forward chain runs before Docker's filter chains (0).
const (
	PriorityPrerouting = -110
	PriorityInput      = 0
	PriorityForward    = -10
	PriorityNAT        = 100
)

// Build returns the zero-trust ruleset of a host:
//
//   - prerouting (filter, before Docker's DNAT, policy accept): new TCP and
//     UDP connections to an address of this host are dropped unless a flow
//     admits them, so Docker cannot publish a port around the rules;
//   - input (policy drop): loopback, established/related, rate-limited
//     ICMP and ICMPv6 errors and neighbour discovery, echo requests from
//     the Ping sources only, then the flows;
//   - forward (policy drop): established/related, connections Docker
//     DNATed (admitted in prerouting), containers' own traffic from
//     docker0 and br-* bridges, and the routes;
//   - postrouting (nat), only for masqueraded routes.
func Build(h Host) (*Ruleset, error) {
	var flows []Rule
	for _, f := range h.Flows {
		if f.Anywhere {
			flows = append(flows, Rule{Proto: f.Proto, Port: f.Port, Verdict: "accept", Comment: f.Comment})
			continue
		}
		for _, p := range f.From {
			flows = append(flows, Rule{Src: p.Masked(), Proto: f.Proto, Port: f.Port, Verdict: "accept", Comment: f.Comment})
		}
	}
	pre := &Chain{Name: "prerouting", Type: "filter", Hook: "prerouting", Priority: PriorityPrerouting, Policy: "accept"}
	pre.Rules = append(pre.Rules,
		Rule{IIfName: "lo", Verdict: "accept"},
		Rule{NotLocal: true, Verdict: "accept", Comment: "not for this host: see forward"},
		Rule{CtState: StateEstablished | StateRelated, Verdict: "accept"})
	pre.Rules = append(pre.Rules, flows...)
	pre.Rules = append(pre.Rules,
		Rule{Proto: "tcp", Verdict: "drop", Comment: "no flow admits it (before Docker's DNAT)"},
		Rule{Proto: "udp", Verdict: "drop", Comment: "no flow admits it (before Docker's DNAT)"})

	in := &Chain{Name: "input", Type: "filter", Hook: "input", Priority: PriorityInput, Policy: "drop"}
	in.Rules = append(in.Rules,
		Rule{IIfName: "lo", Verdict: "accept"},
		Rule{CtState: StateEstablished | StateRelated, Verdict: "accept"},
		Rule{CtState: StateInvalid, Verdict: "drop"})
	in.Rules = append(in.Rules, icmpEssentials(h.Ping)...)
	in.Rules = append(in.Rules, flows...)

	fwd := &Chain{Name: "forward", Type: "filter", Hook: "forward", Priority: PriorityForward, Policy: "drop"}
	fwd.Rules = append(fwd.Rules,
		Rule{CtState: StateEstablished | StateRelated, Verdict: "accept"},
		Rule{CtState: StateInvalid, Verdict: "drop"},
		Rule{DNAT: true, Verdict: "accept", Comment: "published container ports, admitted in prerouting"},
		Rule{IIfName: "docker0", Verdict: "accept", Comment: "containers' own connections"},
		Rule{IIfName: "br-*", Verdict: "accept", Comment: "containers' own connections"})
	rs := &Ruleset{Chains: []*Chain{pre, in, fwd}}
	var nat *Chain
	for _, r := range h.Routes {
		if !r.From.IsValid() || !r.To.IsValid() {
			return nil, fmt.Errorf("route %q: needs both networks", r.Comment)
		}
		fwd.Rules = append(fwd.Rules, Rule{Src: r.From.Masked(), Dst: r.To.Masked(), Verdict: "accept", Comment: r.Comment})
		if r.Masquerade {
			if nat == nil {
				nat = &Chain{Name: "postrouting", Type: "nat", Hook: "postrouting", Priority: PriorityNAT, Policy: "accept"}
				rs.Chains = append(rs.Chains, nat)
			}
			nat.Rules = append(nat.Rules, Rule{Src: r.From.Masked(), Dst: r.To.Masked(), Verdict: "masquerade", Comment: r.Comment})
		}
	}
	if err := rs.Validate(); err != nil {
		return nil, err
	}
	return rs, nil
}

// SSHPort is the port Minimal keeps open.
const SSHPort = 22

// Minimal is the table the agent falls back to when a rejected change
// cannot be rolled back: the host's SSH flows (tcp/22, from the gateway and
// the VPN) and its ping sources, nothing else; the forward chain drops
// everything but established traffic.
func Minimal(h Host) (*Ruleset, error) {
	var m Host
	for _, f := range h.Flows {
		if f.Proto == "tcp" && f.Port == SSHPort {
			m.Flows = append(m.Flows, f)
		}
	}
	m.Ping = h.Ping
	return Build(m)
}

// icmpEssentials keeps path MTU discovery (destination-unreachable
// carries fragmentation-needed, packet-too-big for IPv6), error reporting
// and IPv6 neighbour discovery working for everyone, and answers echo
// requests only from the ping sources. Echoes and errors are rate limited.
func icmpEssentials(ping []netip.Prefix) []Rule {
	echo := &Limit{PerSecond: 10, Burst: 20}
	errs := &Limit{PerSecond: 100, Burst: 100}
	var out []Rule
	for _, t := range []string{"destination-unreachable", "time-exceeded", "parameter-problem"} {
		out = append(out, Rule{ICMP: &ICMP{Type: t}, Limit: errs, Verdict: "accept"})
	}
	for _, p := range ping {
		if p.Addr().Is4() {
			out = append(out, Rule{Src: p.Masked(), ICMP: &ICMP{Type: "echo-request"}, Limit: echo, Verdict: "accept", Comment: "ping from the gateway and VPN"})
		}
	}
	for _, t := range []string{"destination-unreachable", "packet-too-big", "time-exceeded", "parameter-problem"} {
		out = append(out, Rule{ICMP: &ICMP{V6: true, Type: t}, Limit: errs, Verdict: "accept"})
	}
	for _, p := range ping {
		if p.Addr().Is6() {
			out = append(out, Rule{Src: p.Masked(), ICMP: &ICMP{V6: true, Type: "echo-request"}, Limit: echo, Verdict: "accept", Comment: "ping from the gateway and VPN"})
		}
	}
	for _, t := range []string{"nd-router-advert", "nd-neighbor-solicit", "nd-neighbor-advert"} {
		out = append(out, Rule{ICMP: &ICMP{V6: true, Type: t}, Verdict: "accept"})
	}
	return out
}
