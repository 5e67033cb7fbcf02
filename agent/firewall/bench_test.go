package firewall_test

import (
	"context"
	"testing"

	"github.com/homelab-agent/homelab-agent/agent"
	"github.com/homelab-agent/homelab-agent/agent/firewall"
	"github.com/homelab-agent/homelab-agent/agent/role"
)

// BenchmarkNoopCheck measures a pass over an unchanged table: build the
// ruleset from the lab, read the kernel's table over netlink, compare.
func BenchmarkNoopCheck(b *testing.B) {
	needKernel(b)
	ns := newNS(b, "bench")
	l := loadTestLabB(b)
	tb := agent.FirewallTable(role.Input{Lab: l, Host: l.Hosts.Get("media")})
	tb.NetNS = nsPath(ns)
	ctx := firewall.WithConfirm(context.Background(), firewall.Confirm{Probe: okProbe})
	if _, err := tb.CheckApply(ctx, env, true); err != nil {
		b.Fatal(err)
	}
	gen := genID(b, ns)
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		ch, err := tb.CheckApply(ctx, env, true)
		if err != nil || ch != nil {
			b.Fatalf("no-op pass: %+v %v", ch, err)
		}
	}
	b.StopTimer()
	if g := genID(b, ns); g != gen {
		b.Fatalf("the no-op passes committed %d batches", g-gen)
	}
}

// BenchmarkBuildRender measures building and rendering a host's ruleset.
func BenchmarkBuildRender(b *testing.B) {
	l := loadTestLabB(b)
	in := role.Input{Lab: l, Host: l.Hosts.Get("vpn")}
	b.ReportAllocs()
	for b.Loop() {
		rs, err := firewall.Build(agent.FirewallHost(in))
		if err != nil {
			b.Fatal(err)
		}
		_ = rs.Render()
	}
}
