package main

import (
	"bytes"
	"strings"
	"testing"
	"time"

	"github.com/homelab-agent/homelab-agent/agent/daemon"
	"github.com/homelab-agent/homelab-agent/agent/state"
)

func TestWriteStatusRefusedAndStale(t *testing.T) {
	now := time.Date(2026, 11, 27, 9, 0, 0, 0, time.UTC)
	s := &daemon.Status{Host: "dns1", Role: "dns", Repo: "https://git.home.example/lab.git", Branch: "main", Interval: "1m0s",
		HeadCommit: "bbbb", AppliedCommit: "aaaa", LastGoodCommit: "aaaa", BadCommit: "bbbb",
		BadReason:  "homelab.yaml:5:35: unknown key \"colour\" (known keys: upstream)",
		LastSyncOK: now.Add(-5 * time.Minute), Stale: true, StaleSeconds: 300, SyncError: "listing refs: connection refused",
		Resources: []daemon.ResourceStatus{{ID: "file:/etc/bind/named.conf", ResourceResult: state.ResourceResult{Status: "ok"}},
			{ID: "file:/etc/x", ResourceResult: state.ResourceResult{Status: "failed", Error: "permission denied"}}}}
	var b bytes.Buffer
	writeStatus(&b, s, now)
	out := b.String()
	for _, want := range []string{
		"applied    aaaa (good)",
		"refused    bbbb:\n    homelab.yaml:5:35: unknown key",
		"last sync  2026-11-27T08:55:00Z (5m0s ago)",
		"STALE      no successful sync for 5m0s",
		"sync error listing refs: connection refused",
		"resources  2: 1 ok, 0 changed, 1 failed, 0 skipped",
		"  failed file:/etc/x: permission denied",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("status lacks %q:\n%s", want, out)
		}
	}
}

func TestStatusAgentUnreachable(t *testing.T) {
	root := t.TempDir()
	st := &state.State{AppliedCommit: "aaaa", LastGoodCommit: "aaaa", BadCommit: "bbbb", BadReason: "homelab.yaml:3:1: bad"}
	if err := st.Save(root); err != nil {
		t.Fatal(err)
	}
	var out bytes.Buffer
	r := newRoot(&out, &out)
	r.SetArgs([]string{"status", "--root", root, "--addr", freeAddr(t)})
	if err := r.Execute(); err != silentError {
		t.Fatalf("status with no agent: %v, want exit 1", err)
	}
	for _, want := range []string{"not reachable", "applied    aaaa", "refused    bbbb", "homelab.yaml:3:1: bad"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("output lacks %q:\n%s", want, out.String())
		}
	}
}
