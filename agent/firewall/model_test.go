package firewall_test

import (
	"context"
	"net"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/homelab-agent/homelab-agent/agent/firewall"
)

func TestValidateRejects(t *testing.T) {
	for _, c := range []struct {
		rule firewall.Rule
		want string
	}{
		{firewall.Rule{Proto: "sctp", Port: 1, Verdict: "accept"}, "proto must be tcp or udp"},
		{firewall.Rule{Verdict: "reject"}, "unknown verdict"},
		{firewall.Rule{ICMP: &firewall.ICMP{Type: "echo-request"}, Proto: "tcp", Port: 1, Verdict: "accept"}, "cannot be combined"},
		{firewall.Rule{ICMP: &firewall.ICMP{Type: "nd-neighbor-solicit"}, Verdict: "accept"}, "unknown ICMP type"},
		{firewall.Rule{Src: pfx("10.0.0.0/8"), Dst: pfx("fd00::/8"), Verdict: "accept"}, "different IP families"},
		{firewall.Rule{IIfName: "br-*x", Verdict: "accept"}, "only at the end"},
		{firewall.Rule{Comment: `say "hi"`, Verdict: "accept"}, "without quotes"},
	} {
		rs := &firewall.Ruleset{Chains: []*firewall.Chain{{Name: "input", Type: "filter", Hook: "input", Policy: "drop",
			Rules: []firewall.Rule{c.rule}}}}
		if err := rs.Validate(); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: got %v, want %q", c.rule.Text(), err, c.want)
		}
	}
	if _, err := firewall.Build(firewall.Host{Routes: []firewall.Route{{From: pfx("10.0.0.0/8")}}}); err == nil {
		t.Error("a route without a destination was accepted")
	}
}

func TestRuleText(t *testing.T) {
	for _, c := range []struct {
		rule firewall.Rule
		want string
	}{
		{firewall.Rule{Src: netip.MustParsePrefix("10.1.2.3/32"), Proto: "udp", Port: 53, Verdict: "accept", Comment: "dns"},
			`ip saddr 10.1.2.3 udp dport 53 accept comment "dns"`},
		{firewall.Rule{Src: pfx("fd7a:115c:a1e0::/48"), Proto: "tcp", Port: 22, Verdict: "accept"},
			`ip6 saddr fd7a:115c:a1e0::/48 tcp dport 22 accept`},
		{firewall.Rule{CtState: firewall.StateEstablished | firewall.StateRelated, Verdict: "accept"}, "ct state established,related accept"},
		{firewall.Rule{Src: pfx("100.64.0.0/10"), Dst: pfx("10.0.0.0/24"), Verdict: "masquerade"}, "ip saddr 100.64.0.0/10 ip daddr 10.0.0.0/24 masquerade"},
	} {
		if got := c.rule.Text(); got != c.want {
			t.Errorf("got %q, want %q", got, c.want)
		}
	}
}

// TestDialProbe: an answer, even a refusal, means reachable; silence
// (a namespace that drops everything) means not.
func TestDialProbe(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	open := ln.Addr().String()
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			c.Close()
		}
	}()
	ln2, _ := net.Listen("tcp", "127.0.0.1:0")
	refused := ln2.Addr().String()
	ln2.Close()
	if err := firewall.DialProbe(open, refused)(context.Background()); err != nil {
		t.Errorf("open and refused ports: %v", err)
	}
	ln.Close()

	needKernel(t)
	ns := newNS(t, "probe")
	sh(t, "ip", "-n", ns, "addr", "add", "10.231.9.1/24", "dev", "lo")
	ctx := firewall.WithConfirm(context.Background(), firewall.Confirm{Probe: okProbe})
	if _, err := (&firewall.Table{Ruleset: cutOff, NetNS: nsPath(ns)}).CheckApply(ctx, env, true); err != nil {
		t.Fatal(err)
	}
	for _, target := range []string{"10.231.9.1:22", "10.231.9.1"} {
		pctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
		err := inNS(ns, func() error { return firewall.DialProbe(target)(pctx) })
		cancel()
		if err == nil {
			t.Errorf("%s answered through a drop-everything table", target)
		}
	}
}
