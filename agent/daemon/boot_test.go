package daemon_test

import (
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/homelab-agent/homelab-agent/agent/daemon"
	"github.com/homelab-agent/homelab-agent/agent/firewall"
	labpkg "github.com/homelab-agent/homelab-agent/agent/lab"
	"github.com/homelab-agent/homelab-agent/agent/state"
)

// TestStartAppliesFirewallWithRemoteDown: after a reboot with the git
// server unreachable, the daemon applies the last good commit's firewall
// from its local clone before (and although) the first sync fails.
func TestStartAppliesFirewallWithRemoteDown(t *testing.T) {
	h := newHarness(t, nil)
	c0 := h.repo.Git("rev-parse", "HEAD")
	if s := h.converge(); s.AppliedCommit != c0 || s.LastError != "" {
		t.Fatalf("first pass: %+v", s)
	}
	table := filepath.Join(h.root, firewall.RenderedPath)
	want := h.file(firewall.RenderedPath)
	h.srv.Stop() // the remote is down after the power cut
	if err := os.Remove(table); err != nil {
		t.Fatal(err) // the table is gone with the reboot
	}
	var logs syncBuffer
	r := h.run(daemon.Options{Log: slog.New(slog.NewTextHandler(&logs, nil))})
	s := r.d.Status()
	if s.SyncError == "" {
		t.Fatalf("the first sync succeeded with the server stopped: %+v", s)
	}
	got, err := os.ReadFile(table)
	if err != nil || string(got) != want {
		t.Fatalf("firewall not applied at start with the remote down: %v\n%s\nlog:\n%s", err, got, logs.String())
	}
	if st := h.state(); st.LastGoodCommit != c0 || st.AppliedCommit != c0 {
		t.Errorf("state after start: good %s applied %s, want %s", st.LastGoodCommit, st.AppliedCommit, c0)
	}
	if !strings.Contains(logs.String(), "firewall of the last good commit applied at start") {
		t.Errorf("no log line for the start pass:\n%s", logs.String())
	}
}

// TestCorruptStateMovedAside: a corrupt state.json is moved aside with a
// clear log line, the state is rebuilt from the clone (last good commit),
// the firewall still comes up at start with the remote down, and once the
// server is back the pass works.
func TestCorruptStateMovedAside(t *testing.T) {
	h := newHarness(t, nil)
	c0 := h.repo.Git("rev-parse", "HEAD")
	h.converge()
	h.srv.Stop()
	statePath := filepath.Join(h.root, state.Path)
	if err := os.WriteFile(statePath, []byte(`{"version": 1, "last_good_comm`), 0o600); err != nil {
		t.Fatal(err)
	}
	table := filepath.Join(h.root, firewall.RenderedPath)
	os.Remove(table)

	var logs syncBuffer
	r := h.run(daemon.Options{Log: slog.New(slog.NewTextHandler(&logs, nil))})
	aside, _ := filepath.Glob(statePath + ".corrupt-*")
	if len(aside) != 1 {
		t.Fatalf("corrupt state not moved aside: %v\nlog:\n%s", aside, logs.String())
	}
	if b, _ := os.ReadFile(aside[0]); !strings.Contains(string(b), "last_good_comm") {
		t.Errorf("the file moved aside is not the corrupt one: %q", b)
	}
	if !strings.Contains(logs.String(), "state.json was corrupt") || !strings.Contains(logs.String(), aside[0]) {
		t.Errorf("no clear log line about the corrupt state:\n%s", logs.String())
	}
	if _, err := os.Stat(table); err != nil {
		t.Fatalf("a corrupt state blocked the firewall at start: %v\nlog:\n%s", err, logs.String())
	}
	if st := h.state(); st.LastGoodCommit != c0 {
		t.Errorf("state not rebuilt from the clone: last good %q, want %s", st.LastGoodCommit, c0)
	}

	h.srv.Start()
	h.repo.Edit("homelab.yaml", "mullvad-base", "mullvad-family")
	c1 := h.repo.CommitAndPush("after the power cut")
	r.d.Trigger()
	s := r.waitFor(func(s daemon.Status) bool { return s.AppliedCommit == c1 }, "the new head applied")
	if s.LastError != "" {
		t.Errorf("after recovery: %s", s.LastError)
	}
}

// TestStartPassPanicKeepsRunning: a panic while loading the last good
// commit at start is logged and reported; the daemon goes on to its loop.
func TestStartPassPanicKeepsRunning(t *testing.T) {
	h := newHarness(t, nil)
	h.converge()
	h.srv.Stop()
	daemon.SetLoadLab(t, func(string) (*labpkg.Lab, error) { panic("boom at start") })
	var logs syncBuffer
	r := h.run(daemon.Options{Log: slog.New(slog.NewTextHandler(&logs, nil))})
	if s := r.d.Status(); !s.Ready || !strings.Contains(s.LastError, "internal error in the start pass: ") || !strings.Contains(s.LastError, "boom at start") {
		t.Fatalf("after a panic at start: ready %v, last error %q", s.Ready, s.LastError)
	}
	if !strings.Contains(logs.String(), "panic while applying the firewall at start") {
		t.Errorf("no log line for the panic:\n%s", logs.String())
	}
}
