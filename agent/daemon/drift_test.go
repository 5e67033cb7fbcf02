package daemon_test

import (
	"context"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestDriftIsRepairedCountedAndExplained: a managed file edited on the
// host is put back by the next poll, counted as drift with what changed,
// and the report says why each pass changed things.
func TestDriftIsRepairedCountedAndExplained(t *testing.T) {
	h := newHarness(t, nil)
	c0 := h.repo.Git("rev-parse", "HEAD")
	s := h.converge()
	if s.AppliedCommit != c0 || s.LastReport.Trigger != "commit "+c0[:12]+" (first apply)" {
		t.Fatalf("first pass: applied %s, trigger %q", s.AppliedCommit, s.LastReport.Trigger)
	}
	conf := filepath.Join(h.root, "etc/bind/named.conf")
	want, _ := os.ReadFile(conf)
	os.WriteFile(conf, []byte("// edited by hand\n"), 0o640)
	s = h.converge()
	if got, _ := os.ReadFile(conf); string(got) != string(want) {
		t.Fatal("the hand edit was not repaired")
	}
	if s.Drift == nil || s.Drift.Repaired != 1 || len(s.Drift.LastChanges) != 1 || !strings.HasPrefix(s.Drift.LastChanges[0], "file:/etc/bind/named.conf: ") {
		t.Fatalf("drift %+v", s.Drift)
	}
	if !strings.HasPrefix(s.LastReport.Trigger, "drift: the host changed outside git") {
		t.Errorf("trigger %q", s.LastReport.Trigger)
	}
	if v := metric(t, h.d, `homelab_agent_drift_repaired_total{resource="file:/etc/bind/named.conf"}`); v != "1" {
		t.Errorf("drift metric = %q", v)
	}
	h.repo.Edit("homelab.yaml", "mullvad-base", "mullvad-family")
	c1 := h.repo.CommitAndPush("upstream")
	if s := h.converge(); s.LastReport.Trigger != "commit "+c1[:12]+" (changed homelab.yaml)" || s.Drift.Repaired != 1 {
		t.Fatalf("new commit: trigger %q, drift %+v", s.LastReport.Trigger, s.Drift)
	}
}

// TestThousandPollsWriteNothing: polls with no new commit and no drift
// write no file (mtimes and state.json stay as they are) and count no
// drift. A test of behaviour, not of time.
func TestThousandPollsWriteNothing(t *testing.T) {
	h := newHarness(t, nil)
	h.converge()
	mtimes := func() map[string]time.Time {
		m := map[string]time.Time{}
		filepath.WalkDir(h.root, func(p string, d fs.DirEntry, err error) error {
			if err == nil && !d.IsDir() && !strings.Contains(p, "/var/lib/homelab-agent/repo") {
				fi, _ := d.Info()
				m[p] = fi.ModTime()
			}
			return nil
		})
		return m
	}
	before := mtimes()
	for range 1000 {
		h.d.Converge(context.Background())
	}
	after := mtimes()
	for p, t0 := range before {
		if !after[p].Equal(t0) {
			t.Errorf("%s was written during 1,000 idle polls", p)
		}
	}
	if len(after) != len(before) {
		t.Errorf("files: %d before, %d after", len(before), len(after))
	}
	if s := h.d.Status(); s.Drift != nil {
		t.Errorf("idle polls counted drift: %+v", s.Drift)
	}
}
