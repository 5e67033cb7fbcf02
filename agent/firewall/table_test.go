package firewall_test

import (
	"context"
	"errors"
	"net/netip"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/google/nftables"

	"github.com/homelab-agent/homelab-agent/agent/firewall"
	"github.com/homelab-agent/homelab-agent/agent/resource"
)

var env = &resource.Env{Root: "/"}

func pfx(s string) netip.Prefix { return netip.MustParsePrefix(s) }

// sampleHost is a router-shaped host: flows, a route and a masquerade.
func sampleHost(sshFrom string) firewall.Host {
	return firewall.Host{
		Flows: []firewall.Flow{
			{From: []netip.Prefix{pfx(sshFrom)}, Proto: "tcp", Port: 22, Comment: "ssh"},
			{From: []netip.Prefix{pfx("10.231.0.0/24"), pfx("100.64.0.0/10")}, Proto: "udp", Port: 53, Comment: "dns"},
			{Anywhere: true, Proto: "udp", Port: 41641, Comment: "wireguard"},
		},
		Routes: []firewall.Route{{From: pfx("100.64.0.0/10"), To: pfx("10.231.0.0/24"), Masquerade: true, Comment: "vpn to lab"}},
	}
}

func apply(t *testing.T, ctx context.Context, tb *firewall.Table) *resource.Change {
	t.Helper()
	ch, err := tb.CheckApply(ctx, env, true)
	if err != nil {
		t.Fatalf("apply: %v", err)
	}
	return ch
}

var handleRe = regexp.MustCompile(`table inet homelab \{ # handle (\d+)`)

func tableHandle(t *testing.T, ns string) string {
	m := handleRe.FindStringSubmatch(nft(t, ns, "-a", "list", "table", "inet", "homelab"))
	if m == nil {
		t.Fatal("no table handle in nft -a output")
	}
	return m[1]
}

// TestRenderIsWhatNftLists: the text plan shows is exactly what nft lists
// after the netlink batch, so the expressions and the text agree.
func TestRenderIsWhatNftLists(t *testing.T) {
	needKernel(t)
	ns := newNS(t, "render")
	h := sampleHost("10.231.0.1/32")
	rs, err := firewall.Build(h)
	if err != nil {
		t.Fatal(err)
	}
	ch := apply(t, context.Background(), &firewall.Table{Host: h, NetNS: nsPath(ns)})
	if ch == nil || ch.Action != "create" {
		t.Fatalf("first apply: got %+v, want a create", ch)
	}
	if got := nft(t, ns, "list", "table", "inet", "homelab"); got != rs.Render() {
		t.Errorf("nft lists\n%s\nwant (Render)\n%s", got, rs.Render())
	}
	// And nft itself accepts the text as a ruleset file.
	sh(t, "sh", "-c", "ip netns exec "+ns+" nft -c -f - <<'EOF'\n"+rs.Render()+"EOF\n")
}

// TestReapplyIsNoop: a second pass finds nothing to do and commits no
// batch (the ruleset generation and the table handle stay the same).
func TestReapplyIsNoop(t *testing.T) {
	needKernel(t)
	ns := newNS(t, "noop")
	tb := &firewall.Table{Host: sampleHost("10.231.0.1/32"), NetNS: nsPath(ns)}
	apply(t, context.Background(), tb)
	gen, handle := genID(t, ns), tableHandle(t, ns)
	for i := 0; i < 2; i++ {
		if ch := apply(t, context.Background(), tb); ch != nil {
			t.Fatalf("re-apply %d changed: %+v", i, ch)
		}
		if ch, err := tb.CheckApply(context.Background(), env, false); ch != nil || err != nil {
			t.Fatalf("plan after apply: %+v, %v", ch, err)
		}
	}
	if g := genID(t, ns); g != gen {
		t.Errorf("generation moved from %d to %d on a no-op", gen, g)
	}
	if h := tableHandle(t, ns); h != handle {
		t.Errorf("table handle changed from %s to %s", handle, h)
	}
}

// TestChangeReplacesAtomically: a changed ruleset replaces the table in
// one batch, plan shows the diff in nft syntax, and a batch the kernel
// refuses leaves the old table exactly as it was.
func TestChangeReplacesAtomically(t *testing.T) {
	needKernel(t)
	ns := newNS(t, "atomic")
	old := &firewall.Table{Host: sampleHost("10.231.0.1/32"), NetNS: nsPath(ns)}
	apply(t, context.Background(), old)
	gen := genID(t, ns)

	next := &firewall.Table{Host: sampleHost("10.231.0.9/32"), NetNS: nsPath(ns)}
	plan, err := next.CheckApply(context.Background(), env, false)
	if err != nil || plan == nil {
		t.Fatalf("plan: %+v, %v", plan, err)
	}
	for _, want := range []string{
		"-\t\tip saddr 10.231.0.1 tcp dport 22 accept comment \"ssh\"",
		"+\t\tip saddr 10.231.0.9 tcp dport 22 accept comment \"ssh\"",
	} {
		if !strings.Contains(plan.Diff, want) {
			t.Errorf("plan diff lacks %q:\n%s", want, plan.Diff)
		}
	}
	if g := genID(t, ns); g != gen {
		t.Errorf("plan committed a batch (generation %d -> %d)", gen, g)
	}

	// A batch that fails half-way (a rule for a chain that does not exist).
	before := nft(t, ns, "list", "table", "inet", "homelab")
	firewall.SetBeforeFlush(next, func(c *nftables.Conn) {
		tbl := &nftables.Table{Name: "homelab", Family: nftables.TableFamilyINet}
		c.AddRule(&nftables.Rule{Table: tbl, Chain: &nftables.Chain{Name: "no-such-chain", Table: tbl}})
	})
	if _, err := next.CheckApply(context.Background(), env, true); err == nil || !strings.Contains(err.Error(), "old table is unchanged") {
		t.Fatalf("failing batch: got %v", err)
	}
	if after := nft(t, ns, "list", "table", "inet", "homelab"); after != before {
		t.Errorf("a failed batch changed the table:\n%s", after)
	}
	if g := genID(t, ns); g != gen {
		t.Errorf("a failed batch moved the generation %d -> %d", gen, g)
	}

	firewall.SetBeforeFlush(next, nil)
	apply(t, context.Background(), next)
	want, _ := firewall.Build(next.Host)
	if got := nft(t, ns, "list", "table", "inet", "homelab"); got != want.Render() {
		t.Errorf("after the change nft lists\n%s", got)
	}
	if g := genID(t, ns); g != gen+1 {
		t.Errorf("the change took %d batches, want 1", g-gen)
	}
}

// tailscaleTables is shaped like what tailscaled installs in nftables mode.
const tailscaleTables = `table ip filter {
	chain ts-input {
		iifname "lo" ip saddr 100.101.102.103 accept
		iifname != "tailscale0" ip saddr 100.64.0.0/10 drop
	}

	chain INPUT {
		type filter hook input priority filter; policy accept;
		jump ts-input
	}
}
table ip nat {
	chain ts-postrouting {
		meta mark & 0x00ff0000 == 0x00040000 masquerade
	}

	chain POSTROUTING {
		type nat hook postrouting priority srcnat; policy accept;
		jump ts-postrouting
	}
}
`

// TestForeignTablesSurvive: creating, replacing, rolling back and
// removing our table never touches Tailscale's tables.
func TestForeignTablesSurvive(t *testing.T) {
	needKernel(t)
	ns := newNS(t, "foreign")
	sh(t, "sh", "-c", "ip netns exec "+ns+" nft -f - <<'EOF'\n"+tailscaleTables+"EOF\n")
	foreign := func() string {
		return nft(t, ns, "list", "table", "ip", "filter") + nft(t, ns, "list", "table", "ip", "nat")
	}
	before := foreign()
	apply(t, context.Background(), &firewall.Table{Host: sampleHost("10.231.0.1/32"), NetNS: nsPath(ns)})
	apply(t, context.Background(), &firewall.Table{Host: sampleHost("10.231.0.2/32"), NetNS: nsPath(ns)})
	ctx := firewall.WithConfirm(context.Background(), firewall.Confirm{
		Probe:   func(context.Context) error { return errors.New("cut off") },
		Timeout: 50 * time.Millisecond, Interval: 10 * time.Millisecond})
	if _, err := (&firewall.Table{Host: sampleHost("10.231.0.3/32"), NetNS: nsPath(ns)}).CheckApply(ctx, env, true); err == nil {
		t.Fatal("rejected change reported no error")
	}
	if got := foreign(); got != before {
		t.Errorf("foreign tables changed:\n%s\nwant\n%s", got, before)
	}
	if !strings.Contains(nft(t, ns, "list", "ruleset"), "ip saddr 10.231.0.2 tcp dport 22") {
		t.Error("the rolled-back table is not the previous one")
	}
}

// TestUnreadableTableIsReplaced: a hand-made rule the netlink library
// cannot decode does not wedge the agent; the table is replaced.
func TestUnreadableTableIsReplaced(t *testing.T) {
	needKernel(t)
	ns := newNS(t, "unread")
	sh(t, "sh", "-c", "ip netns exec "+ns+" nft -f - <<'EOF'\n"+
		"table inet homelab {\n\tchain input {\n\t\ttype filter hook input priority filter; policy accept;\n"+
		"\t\tmeta l4proto tcp ct original proto-dst 80 accept\n\t}\n}\nEOF\n")
	tb := &firewall.Table{Host: sampleHost("10.231.0.1/32"), NetNS: nsPath(ns)}
	plan, err := tb.CheckApply(context.Background(), env, false)
	if err != nil || plan == nil || !strings.Contains(plan.Diff, "not readable") {
		t.Fatalf("plan: %+v %v", plan, err)
	}
	apply(t, context.Background(), tb)
	want, _ := firewall.Build(tb.Host)
	if got := nft(t, ns, "list", "table", "inet", "homelab"); got != want.Render() {
		t.Errorf("after apply:\n%s", got)
	}
}
