//go:build e2e

package e2e

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"
)

// bootFirewall restarts a guest (a new network namespace: no table in the
// kernel) with the git server stopped. The boot unit loads the saved
// table before the network: a port no rule admits, with a listener proven
// up, times out from another guest; the agent comes up on the last good
// commit from its clone although it cannot sync. Then the git server
// returns and the guest syncs again.
func (l *Lab) bootFirewall(t *testing.T) (string, string) {
	g, from := l.guest("cloud"), l.guest("photos")
	git := l.ID + "-git"
	const port = 9999 // no role, app or allow: admits it
	if out, err := l.in(g, "test", "-s", "/var/lib/homelab-agent/firewall.nft"); err != nil {
		l.fail("%s: the agent saved no table for the next boot: %s %v", g.Name, out, err)
	}
	l.must("stop", "-t", "1", git)
	start := time.Now()
	l.must("restart", "-t", "10", g.Container)
	l.waitBooted(g)
	booted := time.Since(start)
	if out, err := l.in(g, "systemctl", "is-active", "homelab-agent-firewall"); err != nil || strings.TrimSpace(out) != "active" {
		l.fail("%s: homelab-agent-firewall.service after the restart: %q %v", g.Name, out, err)
	}
	if out, err := l.in(g, "nft", "list", "table", "inet", "homelab"); err != nil || !strings.Contains(out, "policy drop") {
		l.fail("%s: no table inet homelab after the restart: %s %v", g.Name, out, err)
	}

	// A listener on the closed port, proven up from inside the guest
	// after the probe (nc answers one connection).
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if _, err := dexec(ctx, g.Container, nil, "sh", "-c", fmt.Sprintf("timeout 30 nc -l -p %d -k </dev/null >/dev/null 2>&1 &", port)); err != nil {
		l.fail("listener on %s:%d: %v", g.Name, port, err)
	}
	up := false
	for range 50 {
		out, _ := dexec(ctx, g.Container, nil, "sh", "-c", fmt.Sprintf("ss -Hltn 'sport = :%d' | wc -l", port))
		if up = strings.TrimSpace(out) != "0"; up {
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
	if !up {
		l.fail("%s: the listener on %d did not come up", g.Name, port)
	}
	t0 := time.Now()
	_, err := dexec(ctx, from.Container, nil, "nc", "-z", "-w", "3", g.IP, fmt.Sprint(port))
	probe := time.Since(t0)
	if err == nil || probe < 2500*time.Millisecond {
		l.fail("%s -> %s:%d after the restart: connected=%v in %s, want a time-out (dropped)", from.Name, g.Name, port, err == nil, probe)
	}
	if out, err := dexec(ctx, g.Container, nil, "nc", "-z", "-w", "3", "127.0.0.1", fmt.Sprint(port)); err != nil {
		l.fail("%s: the listener on %d is not up: %s %v", g.Name, port, out, err)
	}
	dexec(context.Background(), g.Container, nil, "sh", "-c", fmt.Sprintf("pkill -f 'nc -l -p %d' || true", port))

	// The agent is up on the last good commit, from its clone, without git.
	l.waitAll([]*Guest{g}, start, 2*time.Minute, "agent up on the last good commit with the git server down", func(_ *Guest, s *Status) bool {
		return s.Ready && s.SyncError != "" && s.AppliedCommit == l.Good && s.LastError == ""
	})
	journal, _ := l.in(g, "journalctl", "-b", "-u", "homelab-agent", "--no-pager", "-o", "cat")
	if !strings.Contains(journal, "firewall of the last good commit applied at start") {
		l.fail("%s: no start pass of the firewall in the agent's journal:\n%s", g.Name, journal)
	}

	l.must("start", git)
	back := time.Now()
	if err := l.webhook(g); err != nil {
		l.fail("%v", err)
	}
	rec := l.waitAll([]*Guest{g}, back, 3*time.Minute, "sync again after the git server returned", func(_ *Guest, s *Status) bool {
		return converged(s, l.Good) && s.SyncError == ""
	})
	return fmt.Sprintf("booted in %s; probe timed out after %s", ms(booted), ms(probe)),
		fmt.Sprintf("guest %s restarted with the git server stopped: homelab-agent-firewall.service loaded the saved table at boot; %s -> %s:%d (listener up) timed out; the agent came up on the last good commit from its clone and synced %s after the server returned",
			g.Name, from.Name, g.Name, port, ms(rec[g.Name]))
}

// waitBooted waits for the guest's systemd to finish booting.
func (l *Lab) waitBooted(g *Guest) {
	l.t.Helper()
	deadline := time.Now().Add(2 * time.Minute)
	for {
		out, _ := l.in(g, "systemctl", "is-system-running")
		if s := strings.TrimSpace(out); s == "running" || s == "degraded" {
			return
		}
		if time.Now().After(deadline) {
			l.fail("%s: systemd did not finish booting after the restart: %q", g.Name, out)
		}
		time.Sleep(300 * time.Millisecond)
	}
}
