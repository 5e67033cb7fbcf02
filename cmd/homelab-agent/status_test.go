package main

import (
	"bytes"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/homelab-agent/homelab-agent/agent/backup"
	"github.com/homelab-agent/homelab-agent/agent/daemon"
	"github.com/homelab-agent/homelab-agent/agent/images"
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

// TestStatusBackupSection: the backup section for a person, and a failing
// or stale backup makes status exit 1 (with --json too, which includes it).
func TestStatusBackupSection(t *testing.T) {
	now := time.Date(2026, 11, 27, 9, 0, 0, 0, time.UTC)
	ok := backup.Record{LastRun: now.Add(-5 * time.Hour), LastSuccess: now.Add(-5 * time.Hour), DurationSeconds: 3.2,
		BytesAdded: 3 << 20, SnapshotID: "1a2b3c4d5e6f7a8b"}
	s := &daemon.Status{Host: "cloud", Role: "nextcloud", Repo: "https://git.home.example/lab.git", Branch: "main", Interval: "1m0s",
		AppliedCommit: "aaaa", LastGoodCommit: "aaaa", HeadCommit: "aaaa", LastSyncOK: now, Resources: []daemon.ResourceStatus{},
		Backup: &daemon.BackupStatus{Repository: "s3:https://s3.example/lab", Schedule: "30 3 * * *", HostDelay: "21m26s",
			PruneSchedule: "0 5 * * 0", CheckSchedule: "0 6 * * 0", Scheduled: true, NextBackup: now.Add(18*time.Hour + 51*time.Minute),
			Services: []daemon.BackupService{{Service: "nextcloud", Record: ok}},
			Prune:    &backup.Record{LastRun: now.Add(-time.Hour), LastFailure: now.Add(-time.Hour), LastError: "restic: repository is locked"}}}
	var b bytes.Buffer
	writeStatus(&b, s, now)
	out := b.String()
	t.Log("\n" + out)
	for _, want := range []string{
		`backup     s3:https://s3.example/lab, schedule "30 3 * * *" (+21m26s), prune "0 5 * * 0", check "0 6 * * 0"`,
		"next backup 2026-11-28T03:51:00Z (in 18h51m0s)",
		"  nextcloud  ok, last success 2026-11-27T04:00:00Z (5h0m0s ago), snapshot 1a2b3c4d, 3.0 MiB added, took 3.2s",
		"  prune      FAILED\n    failed 2026-11-27T08:00:00Z (1h0m0s ago): restic: repository is locked",
		"  check      never run",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("status lacks %q", want)
		}
	}
	if unhealthy(s) {
		t.Error("no problem listed, but status is unhealthy")
	}
	s.Backup.Problems = []string{"backup prune failed at 2026-11-27T08:00:00Z: restic: repository is locked"}
	if !unhealthy(s) {
		t.Error("a backup problem does not make status exit 1")
	}

	// Through the command, against a stand-in agent on loopback.
	body, _ := json.Marshal(s)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { w.Write(body) }))
	defer srv.Close()
	for _, args := range [][]string{{}, {"--json"}} {
		var o bytes.Buffer
		r := newRoot(&o, &o)
		r.SetArgs(append([]string{"status", "--root", t.TempDir(), "--addr", strings.TrimPrefix(srv.URL, "http://")}, args...))
		if err := r.Execute(); err != silentError {
			t.Errorf("status %v with a failing prune: %v, want exit 1", args, err)
		}
		if !strings.Contains(o.String(), "repository is locked") {
			t.Errorf("status %v does not show the backup problem:\n%s", args, o.String())
		}
	}
}

func TestStatusNamesAFailedImageUpdate(t *testing.T) {
	at := time.Date(2026, 11, 29, 4, 2, 0, 0, time.UTC)
	s := &daemon.Status{Host: "media", Images: []daemon.ImageStatus{
		{Project: "jellyfin", Service: "jellyfin", Record: images.Record{Image: "jellyfin/jellyfin:10.10", Policy: images.Track,
			Digest: "sha256:aaa", Available: "docker.io/jellyfin/jellyfin:10.10@sha256:bbb",
			Last: &images.Update{At: at, From: "jellyfin/jellyfin:10.10@sha256:aaa", To: "docker.io/jellyfin/jellyfin:10.10@sha256:bbb",
				Result: images.ResultRolledBack, Error: "container jellyfin is unhealthy"}}},
		{Project: "whoami", Service: "w", Record: images.Record{Image: "traefik/whoami:v1.10", Running: "traefik/whoami:v1.10.4", Digest: "sha256:ccc", Policy: images.Patch,
			Pending: &images.Pending{Update: images.Update{At: at, From: "traefik/whoami:v1.10.4@sha256:ccc", To: "docker.io/traefik/whoami:v1.10.5@sha256:ddd"}}}},
	}}
	var b bytes.Buffer
	writeStatus(&b, s, at)
	for _, want := range []string{
		"update in progress since 2026-11-29T04:02:00Z: traefik/whoami:v1.10.4@sha256:ccc -> docker.io/traefik/whoami:v1.10.5@sha256:ddd",
		"images     jellyfin/jellyfin: jellyfin/jellyfin:10.10 sha256:aaa (track), update available docker.io/jellyfin/jellyfin:10.10@sha256:bbb",
		"LAST UPDATE ROLLED BACK 2026-11-29T04:02:00Z: jellyfin/jellyfin:10.10@sha256:aaa -> docker.io/jellyfin/jellyfin:10.10@sha256:bbb: container jellyfin is unhealthy",
		"whoami/w: traefik/whoami:v1.10.4 sha256:ccc (patch)",
	} {
		if !strings.Contains(b.String(), want) {
			t.Errorf("status lacks %q:\n%s", want, b.String())
		}
	}
	if !unhealthy(s) {
		t.Error("a rolled back update must make status exit 1")
	}
	s.Images[0].Last.Result = images.ResultUpdated
	if unhealthy(s) {
		t.Error("a good update is no problem")
	}
}
