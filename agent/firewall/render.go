package firewall

import (
	"fmt"
	"net/netip"
	"strings"
)

// Render returns the ruleset as `nft list table inet homelab` prints it,
// so plans can show a diff in nft syntax and `nft -f` can load it.
func (rs *Ruleset) Render() string {
	var b strings.Builder
	fmt.Fprintf(&b, "table inet %s {\n", TableName)
	for i, c := range rs.Chains {
		if i > 0 {
			b.WriteString("\n")
		}
		b.WriteString(c.header())
		for _, r := range c.Rules {
			fmt.Fprintf(&b, "\t\t%s\n", r.Text())
		}
		b.WriteString("\t}\n")
	}
	b.WriteString("}\n")
	return b.String()
}

func (c *Chain) header() string {
	return fmt.Sprintf("\tchain %s {\n\t\ttype %s hook %s priority %s; policy %s;\n",
		c.Name, c.Type, c.Hook, priorityText(c.Hook, c.Priority), c.Policy)
}

// priorityText writes a priority the way nft does: as a standard name
// valid for the hook plus or minus at most 10, else as a number.
func priorityText(hook string, p int) string {
	for _, std := range []struct {
		name  string
		val   int
		hooks string
	}{
		{"raw", -300, ""}, {"mangle", -150, ""}, {"dstnat", -100, "prerouting output"},
		{"filter", 0, ""}, {"security", 50, ""}, {"srcnat", 100, "postrouting input"},
	} {
		if std.hooks != "" && !strings.Contains(std.hooks, hook) {
			continue
		}
		switch d := p - std.val; {
		case d == 0:
			return std.name
		case d > 0 && d <= 10:
			return fmt.Sprintf("%s + %d", std.name, d)
		case d < 0 && d >= -10:
			return fmt.Sprintf("%s - %d", std.name, -d)
		}
	}
	return fmt.Sprint(p)
}

// Text is the rule in nft syntax, as nft lists it.
func (r *Rule) Text() string {
	var parts []string
	add := func(f string, a ...any) { parts = append(parts, fmt.Sprintf(f, a...)) }
	if r.IIfName != "" {
		add("iifname %q", r.IIfName)
	}
	if r.NotLocal {
		add("fib daddr type != local")
	}
	if r.CtState != 0 {
		add("ct state %s", stateText(r.CtState))
	}
	if r.DNAT {
		add("ct status dnat")
	}
	ip := "ip"
	if r.family6() {
		ip = "ip6"
	}
	if r.Src.IsValid() {
		add("%s saddr %s", ip, prefixText(r))
	}
	if r.Dst.IsValid() {
		add("%s daddr %s", ip, prefixTextOf(r.Dst))
	}
	switch {
	case r.Port != 0:
		add("%s dport %d", r.Proto, r.Port)
	case r.Proto != "":
		add("meta l4proto %s", r.Proto)
	}
	if r.ICMP != nil {
		kind := "icmp"
		if r.ICMP.V6 {
			kind = "icmpv6"
		}
		add("%s type %s", kind, r.ICMP.Type)
	}
	if l := r.Limit; l != nil {
		if l.Burst == 5 {
			add("limit rate %d/second", l.PerSecond)
		} else {
			add("limit rate %d/second burst %d packets", l.PerSecond, l.Burst)
		}
	}
	add("%s", r.Verdict)
	if r.Comment != "" {
		add("comment %q", r.Comment)
	}
	return strings.Join(parts, " ")
}

func prefixText(r *Rule) string { return prefixTextOf(r.Src) }

// prefixTextOf writes a host prefix as its address, as nft does.
func prefixTextOf(p netip.Prefix) string {
	if p.Bits() == p.Addr().BitLen() {
		return p.Addr().String()
	}
	return p.String()
}

func stateText(bits uint32) string {
	var names []string
	for _, s := range []struct {
		bit  uint32
		name string
	}{{StateInvalid, "invalid"}, {StateEstablished, "established"}, {StateRelated, "related"}, {StateNew, "new"}} {
		if bits&s.bit != 0 {
			names = append(names, s.name)
		}
	}
	return strings.Join(names, ",")
}
