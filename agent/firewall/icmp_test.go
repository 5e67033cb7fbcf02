package firewall_test

import (
	"context"
	"errors"
	"net"
	"net/netip"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/homelab-agent/homelab-agent/agent"
	"github.com/homelab-agent/homelab-agent/agent/firewall"
	"github.com/homelab-agent/homelab-agent/agent/role"
)

// pings reports whether an ICMP echo from the namespace to ip is answered.
func pings(ns, ip string) bool {
	return inNS(ns, func() error {
		ctx, cancel := context.WithTimeout(context.Background(), 700*time.Millisecond)
		defer cancel()
		return firewall.Ping(ctx, netip.MustParseAddr(ip))
	}) == nil
}

// TestICMPZeroTrust: with every guest's table in place, a guest answers
// echo requests from the gateway and the VPN only, never from another
// guest, while ICMP errors still reach it (a UDP send to a closed port is
// refused, not left to time out).
func TestICMPZeroTrust(t *testing.T) {
	needKernel(t)
	l := loadTestLab(t)
	n := buildLabNet(t, l)
	ns := n.ns
	for _, h := range l.Hosts {
		tb := agent.FirewallTable(role.Input{Lab: l, Host: h})
		tb.NetNS = nsPath(ns[h.Name])
		ctx := firewall.WithConfirm(context.Background(), firewall.Confirm{Probe: okProbe})
		if _, err := tb.CheckApply(ctx, env, true); err != nil {
			t.Fatalf("%s: %v", h.Name, err)
		}
	}
	cases := []struct {
		from, to string
		answered bool
	}{
		{"gw", "10.231.0.2", true},      // the gateway pings a guest
		{"gw", "10.231.0.10", true},     //
		{"client", "10.231.0.2", true},  // a VPN client, masqueraded by the router
		{"vpn", "10.231.0.3", true},     // the router itself is a VPN source
		{"dns1", "10.231.0.3", false},   // guest -> guest
		{"media", "10.231.0.2", false},  //
		{"proxy", "10.231.0.10", false}, //
		{"dns1", "10.231.0.1", true},    // guests ping the gateway (the lock-out probe)
	}
	var wg sync.WaitGroup
	got := make([]bool, len(cases))
	for i, c := range cases {
		wg.Add(1)
		go func() { defer wg.Done(); got[i] = pings(ns[c.from], c.to) }()
	}
	wg.Wait()
	for i, c := range cases {
		if got[i] != c.answered {
			t.Errorf("ping %s -> %s: answered %v, want %v", c.from, c.to, got[i], c.answered)
		}
	}

	// An ICMP error (port unreachable from the gateway, which has no
	// table) reaches a filtered guest: the send is refused at once.
	err := inNS(ns["dns1"], func() error {
		c, err := net.Dial("udp4", "10.231.0.1:9")
		if err != nil {
			return err
		}
		defer c.Close()
		c.SetDeadline(time.Now().Add(2 * time.Second))
		c.Write([]byte("x"))
		_, err = c.Read(make([]byte, 8))
		return err
	})
	if !errors.Is(err, syscall.ECONNREFUSED) {
		t.Errorf("UDP to a closed port of the gateway: got %v, want connection refused (the ICMP error admitted)", err)
	}
	if out := nft(t, ns["dns1"], "list", "table", "inet", "homelab"); !strings.Contains(out, "ip saddr 10.231.0.1 icmp type echo-request") {
		t.Errorf("no echo rule for the gateway in\n%s", out)
	}
}
