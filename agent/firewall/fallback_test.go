package firewall_test

import (
	"context"
	"errors"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/google/nftables"

	"github.com/homelab-agent/homelab-agent/agent/firewall"
)

// TestRestoreFailureKeepsMinimalTable: a change whose probe fails is
// rolled back; when even the rollback batch fails, the host keeps a
// minimal table (SSH from the gateway, nothing else) instead of none, and
// the error says so. Checked with real connections from a gateway
// namespace.
func TestRestoreFailureKeepsMinimalTable(t *testing.T) {
	needKernel(t)
	host, gw := newNS(t, "minhost"), newNS(t, "mingw")
	sh(t, "ip", "link", "add", "eth0", "netns", host, "type", "veth", "peer", "name", "eth0", "netns", gw)
	sh(t, "ip", "-n", host, "addr", "add", "10.231.0.2/24", "dev", "eth0")
	sh(t, "ip", "-n", gw, "addr", "add", "10.231.0.1/24", "dev", "eth0")
	sh(t, "ip", "-n", host, "link", "set", "eth0", "up")
	sh(t, "ip", "-n", gw, "link", "set", "eth0", "up")
	serve(t, host, 22, 53)

	h := sampleHost("10.231.0.1/32")
	h.Ping = []netip.Prefix{pfx("10.231.0.1/32")}
	apply(t, context.Background(), &firewall.Table{Host: h, NetNS: nsPath(host)})
	checkMatrix(t, []flow{{gw, "tcp", "10.231.0.2:22", true}, {gw, "udp", "10.231.0.2:53", true}})

	// The new table cuts the host off; its probe fails; the restoring
	// batch fails too (a rule for a chain that does not exist).
	next := &firewall.Table{Host: h, Ruleset: cutOff, NetNS: nsPath(host)}
	firewall.SetBeforeRestore(next, func(c *nftables.Conn) {
		tbl := &nftables.Table{Name: "homelab", Family: nftables.TableFamilyINet}
		c.AddRule(&nftables.Rule{Table: tbl, Chain: &nftables.Chain{Name: "no-such-chain", Table: tbl}})
	})
	ctx := firewall.WithConfirm(context.Background(), firewall.Confirm{
		Probe:   func(context.Context) error { return errors.New("unreachable") },
		Timeout: 300 * time.Millisecond, Interval: 100 * time.Millisecond})
	_, err := next.CheckApply(ctx, env, true)
	var rej *firewall.RejectedError
	if !errors.As(err, &rej) || rej.RestoreErr == nil || !rej.Minimal {
		t.Fatalf("got %v, want a rejection whose restore failed and left the minimal table", err)
	}
	if !strings.Contains(err.Error(), "minimal table that admits only SSH from the gateway and the VPN") {
		t.Errorf("the error does not say what the host is left with: %v", err)
	}
	min, _ := firewall.Minimal(h)
	if got := nft(t, host, "list", "table", "inet", "homelab"); got != min.Render() {
		t.Errorf("table after the failed rollback:\n%s\nwant the minimal table\n%s", got, min.Render())
	}
	checkMatrix(t, []flow{
		{gw, "tcp", "10.231.0.2:22", true},  // SSH from the gateway
		{gw, "udp", "10.231.0.2:53", false}, // nothing else
	})
	if !pings(gw, "10.231.0.2") {
		t.Error("the gateway's ping is not answered under the minimal table")
	}
}
