// Package firewall owns the agent's nftables table, `inet homelab`: a
// rule model that roles generate, its rendering in nft syntax (for plan
// diffs), its translation to netlink expressions, and the resource that
// replaces the table atomically in one netlink batch, confirms the host
// can still reach its git remote and gateway, and rolls back when it
// cannot. It never flushes the ruleset or touches another table.
package firewall

import (
	"fmt"
	"net/netip"
	"strings"
)

// TableName is the one table the agent owns, in the inet family.
const TableName = "homelab"

// Ruleset is the desired content of table inet homelab.
type Ruleset struct {
	Chains []*Chain
}

// Chain is a base chain of the table.
type Chain struct {
	Name string
	// Type is "filter" or "nat".
	Type string
	// Hook is "input", "forward", "output", "prerouting" or "postrouting".
	Hook string
	// Priority is the hook priority (filter is 0, srcnat 100).
	Priority int
	// Policy is "accept" or "drop".
	Policy string
	Rules  []Rule
}

// Conntrack state bits, as the kernel numbers them.
const (
	StateInvalid     = 1
	StateEstablished = 2
	StateRelated     = 4
	StateNew         = 8
)

// Rule is one rule: every set field is a condition, in the order nft
// prints them, then the verdict. The zero value of a field matches all.
type Rule struct {
	// IIfName matches the input interface by name; a trailing "*"
	// matches every name with that prefix ("br-*").
	IIfName string
	// NotLocal matches packets whose destination is not an address of
	// this host: fib daddr type != local.
	NotLocal bool
	// CtState matches when any of the state bits is set.
	CtState uint32
	// DNAT matches connections whose destination was rewritten
	// (Docker's published ports): ct status dnat.
	DNAT bool
	// Src and Dst match the IPv4 or IPv6 source and destination.
	Src, Dst netip.Prefix
	// Proto is "tcp" or "udp"; with Port it matches the destination port.
	Proto string
	Port  uint16
	// ICMP matches an ICMP (V6 false) or ICMPv6 type by nft's name.
	ICMP *ICMP
	// Limit rate-limits the match, in packets per second.
	Limit *Limit
	// Verdict is "accept", "drop" or "masquerade".
	Verdict string
	// Comment says why the rule exists; nft shows it.
	Comment string
}

// ICMP is an ICMP or ICMPv6 message type.
type ICMP struct {
	V6   bool
	Type string
}

// Limit is a packet rate limit.
type Limit struct {
	PerSecond uint64
	Burst     uint32
}

var icmpTypes = map[string]byte{
	"destination-unreachable": 3, "echo-request": 8, "time-exceeded": 11, "parameter-problem": 12,
}

var icmp6Types = map[string]byte{
	"destination-unreachable": 1, "packet-too-big": 2, "time-exceeded": 3, "parameter-problem": 4,
	"echo-request": 128, "nd-router-advert": 134, "nd-neighbor-solicit": 135, "nd-neighbor-advert": 136,
}

var hooks = map[string]bool{"input": true, "forward": true, "output": true, "prerouting": true, "postrouting": true}

// Validate checks that every chain and rule can be expressed.
func (rs *Ruleset) Validate() error {
	seen := map[string]bool{}
	for _, c := range rs.Chains {
		if seen[c.Name] {
			return fmt.Errorf("chain %s defined twice", c.Name)
		}
		seen[c.Name] = true
		if c.Type != "filter" && c.Type != "nat" {
			return fmt.Errorf("chain %s: type %q is not filter or nat", c.Name, c.Type)
		}
		if !hooks[c.Hook] {
			return fmt.Errorf("chain %s: unknown hook %q", c.Name, c.Hook)
		}
		if c.Policy != "accept" && c.Policy != "drop" {
			return fmt.Errorf("chain %s: policy %q is not accept or drop", c.Name, c.Policy)
		}
		for i, r := range c.Rules {
			if err := r.validate(); err != nil {
				return fmt.Errorf("chain %s rule %d (%s): %w", c.Name, i+1, r.Text(), err)
			}
		}
	}
	return nil
}

func (r *Rule) validate() error {
	if r.Src.IsValid() && r.Dst.IsValid() && r.Src.Addr().Is4() != r.Dst.Addr().Is4() {
		return fmt.Errorf("source and destination are of different IP families")
	}
	if (r.Port != 0 || r.Proto != "") && r.Proto != "tcp" && r.Proto != "udp" {
		return fmt.Errorf("proto must be tcp or udp, got %q", r.Proto)
	}
	if n := r.IIfName; strings.Contains(strings.TrimSuffix(n, "*"), "*") || len(n) > 15 {
		return fmt.Errorf("interface name %q: at most 15 characters, \"*\" only at the end", n)
	}
	if r.ICMP != nil {
		tbl := icmpTypes
		if r.ICMP.V6 {
			tbl = icmp6Types
		}
		if _, ok := tbl[r.ICMP.Type]; !ok {
			return fmt.Errorf("unknown ICMP type %q", r.ICMP.Type)
		}
		if r.Proto != "" || ((r.Src.IsValid() || r.Dst.IsValid()) && r.family6() != r.ICMP.V6) {
			return fmt.Errorf("an ICMP match cannot be combined with a port or another IP family")
		}
	}
	switch r.Verdict {
	case "accept", "drop", "masquerade":
	default:
		return fmt.Errorf("unknown verdict %q", r.Verdict)
	}
	if strings.ContainsAny(r.Comment, "\"\n") || len(r.Comment) > 120 {
		return fmt.Errorf("comment %q must be one line of at most 120 characters without quotes", r.Comment)
	}
	return nil
}

func (r *Rule) family6() bool {
	if r.Src.IsValid() {
		return r.Src.Addr().Is6()
	}
	return r.Dst.IsValid() && r.Dst.Addr().Is6()
}
