package daemon_test

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/homelab-agent/homelab-agent/agent/clock"
	"github.com/homelab-agent/homelab-agent/agent/daemon"
	"github.com/homelab-agent/homelab-agent/agent/fleet"
	"github.com/homelab-agent/homelab-agent/agent/health"
	agentlab "github.com/homelab-agent/homelab-agent/agent/lab"
)

const fleetKey = "fleet-test-key-0123456789"

func writeFleetKey(t *testing.T, root string) {
	t.Helper()
	dir := filepath.Join(root, "etc/homelab-agent")
	os.MkdirAll(dir, 0o700)
	if err := os.WriteFile(filepath.Join(dir, "secrets.env"), []byte("FLEET_KEY="+fleetKey+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
}

// TestCanaryWaves: proxy (wave 1) applies a commit only after dns1
// (wave 0) applied it and is healthy, refuses one dns1 rolled back, and
// holds while dns1 cannot be reached. The agents talk over HTTP with
// HMAC-signed requests, with no server between them.
func TestCanaryWaves(t *testing.T) {
	h := newHarness(t, nil)
	h.repo.Edit("homelab.yaml", "role: traefik,          vm:", "role: traefik, wave: 1, vm:")
	// The other hosts come after proxy; only dns1 is ahead of it.
	h.repo.Edit("homelab.yaml", "role: tailscale-router, vm:", "role: tailscale-router, wave: 2, vm:")
	h.repo.Edit("homelab.yaml", "role: nextcloud,        vm:", "role: nextcloud, wave: 2, vm:")
	h.repo.Edit("homelab.yaml", "    role: immich\n", "    role: immich\n    wave: 2\n")
	h.repo.Edit("homelab.yaml", "    role: jellyfin\n", "    role: jellyfin\n    wave: 2\n")
	h.repo.CommitAndPush("proxy in wave 1, the rest in wave 2")
	writeFleetKey(t, h.root)

	// dns1 (wave 0) serves its fleet status; its probe fails on a broken upstream.
	clk := clock.NewFake(time.Date(2026, 11, 29, 6, 0, 0, 0, time.UTC))
	conf := filepath.Join(h.root, "etc/bind/named.conf")
	h.d = h.newDaemon(daemon.Options{Clock: clk, Health: func(*agentlab.Lab, string) (health.Spec, error) {
		return health.Spec{Deadline: 30 * time.Second, Probes: []health.Probe{health.Func{Name: "named", F: func(context.Context) error {
			if b, _ := os.ReadFile(conf); strings.Contains(string(b), "mullvad-family") {
				return errors.New("SERVFAIL")
			}
			return nil
		}}}}, nil
	}})
	srv := httptest.NewServer(h.d.Handler())
	t.Cleanup(srv.Close)
	dns1 := func() daemon.Status {
		done := make(chan struct{})
		go func() { h.d.Converge(context.Background()); close(done) }()
		for {
			select {
			case <-done:
				return h.d.Status()
			default:
			}
			if clk.WaitForWaiters(1, 20*time.Millisecond) {
				clk.Step()
			}
		}
	}

	// proxy (wave 1) asks dns1 at the test server's address.
	pcfg := *h.cfg
	pcfg.Host, pcfg.Root = "proxy", t.TempDir()
	writeFleetKey(t, pcfg.Root)
	addr := strings.TrimPrefix(srv.URL, "http://")
	proxyD, err := daemon.New(daemon.Options{Config: &pcfg, Notify: func(string) {}, Clock: clk,
		PeerAddr: func(hh *agentlab.Host) string { return addr }})
	if err != nil {
		t.Fatal(err)
	}
	proxy := func() daemon.Status { proxyD.Converge(context.Background()); return proxyD.Status() }

	c0 := h.repo.Git("rev-parse", "HEAD")
	if s := proxy(); s.AppliedCommit == c0 || !strings.Contains(s.Waiting, "wave 0 host dns1 has not applied "+c0[:12]) {
		t.Fatalf("proxy before dns1: applied %q, waiting %q", s.AppliedCommit, s.Waiting)
	}
	if s := dns1(); s.AppliedCommit != c0 {
		t.Fatalf("dns1: %+v", s)
	}
	if s := proxy(); s.AppliedCommit != c0 || s.Waiting != "" {
		t.Fatalf("proxy after dns1: applied %q, waiting %q, err %q", s.AppliedCommit, s.Waiting, s.LastError)
	}

	// A commit dns1 rolls back never reaches proxy.
	h.repo.Edit("homelab.yaml", "mullvad-base", "mullvad-family")
	c1 := h.repo.CommitAndPush("broken upstream")
	if s := proxy(); s.AppliedCommit != c0 || !strings.Contains(s.Waiting, "has not applied "+c1[:12]) {
		t.Fatalf("proxy while dns1 has not tried c1: applied %q waiting %q", s.AppliedCommit, s.Waiting)
	}
	if s := dns1(); s.BadCommit != c1 || !strings.HasPrefix(s.BadReason, "rolled back "+c1[:12]) {
		t.Fatalf("dns1 did not roll back: %+v", s)
	}
	s := proxy()
	if s.AppliedCommit != c0 || s.BadCommit != c1 || !strings.Contains(s.BadReason, "wave 0 host dns1 refused it: rolled back "+c1[:12]) {
		t.Fatalf("proxy after the rollback: applied %q bad %q %q", s.AppliedCommit, s.BadCommit, s.BadReason)
	}

	// The fix rolls out wave by wave.
	h.repo.Edit("homelab.yaml", "mullvad-family", "mullvad-adblock")
	c2 := h.repo.CommitAndPush("fixed")
	if s := dns1(); s.LastGoodCommit != c2 {
		t.Fatalf("dns1 on the fix: %+v", s)
	}
	if s := proxy(); s.AppliedCommit != c2 || s.BadCommit != "" {
		t.Fatalf("proxy on the fix: applied %q bad %q", s.AppliedCommit, s.BadCommit)
	}

	// dns1 unreachable: proxy holds and says since when.
	srv.Close()
	h.repo.Edit("homelab.yaml", "mullvad-adblock", "mullvad-base")
	h.repo.CommitAndPush("another change")
	if s := proxy(); s.AppliedCommit != c2 || !strings.Contains(s.Waiting, "wave 0 host dns1 unreachable since") {
		t.Fatalf("proxy with dns1 down: applied %q waiting %q", s.AppliedCommit, s.Waiting)
	}
}

// TestFleetStatusNeedsASignature: /fleet/status answers only requests
// signed with the lab's key, recently.
func TestFleetStatusNeedsASignature(t *testing.T) {
	h := newHarness(t, nil)
	writeFleetKey(t, h.root)
	h.converge()
	srv := httptest.NewServer(h.d.Handler())
	defer srv.Close()
	addr := strings.TrimPrefix(srv.URL, "http://")
	s, err := fleet.Fetch(context.Background(), http.DefaultClient, addr, []byte(fleetKey), time.Now())
	if err != nil || s.Host != "dns1" || s.LastGood == "" {
		t.Fatalf("signed: %+v %v", s, err)
	}
	for name, f := range map[string]func(r *http.Request){
		"unsigned": func(r *http.Request) {},
		"wrong key": func(r *http.Request) {
			r.Header.Set(fleet.Header, fleet.Sign([]byte("nope"), "GET", fleet.Path, time.Now()))
		},
		"old": func(r *http.Request) {
			r.Header.Set(fleet.Header, fleet.Sign([]byte(fleetKey), "GET", fleet.Path, time.Now().Add(-5*time.Minute)))
		},
	} {
		req, _ := http.NewRequest("GET", srv.URL+fleet.Path, nil)
		f(req)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusUnauthorized {
			t.Errorf("%s: status %d", name, resp.StatusCode)
		}
	}
}
