package daemon_test

import (
	"context"
	"encoding/json"
	"fmt"
	"github.com/homelab-agent/homelab-agent/agent/backup/backuptest"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/homelab-agent/homelab-agent/agent/backup"
	"github.com/homelab-agent/homelab-agent/agent/daemon"
	"github.com/homelab-agent/homelab-agent/internal/testreq"
)

// fakeClock moves only when the test fires one of its waiters.
type fakeClock struct {
	mu      sync.Mutex
	now     time.Time
	waiting chan waiter
}

type waiter struct {
	at time.Time
	ch chan time.Time
}

func newFakeClock(t time.Time) *fakeClock {
	return &fakeClock{now: t, waiting: make(chan waiter, 100)}
}

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *fakeClock) After(d time.Duration) <-chan time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	w := waiter{c.now.Add(d), make(chan time.Time, 1)}
	c.waiting <- w
	return w.ch
}

// next returns the next wait the scheduler starts.
func (c *fakeClock) next(t *testing.T) waiter {
	t.Helper()
	select {
	case w := <-c.waiting:
		return w
	case <-time.After(time.Minute):
		t.Fatal("the backup scheduler never waited")
		return waiter{}
	}
}

// fire jumps to the waiter's deadline and wakes it.
func (c *fakeClock) fire(w waiter) {
	c.mu.Lock()
	if w.at.After(c.now) {
		c.now = w.at
	}
	now := c.now
	c.mu.Unlock()
	w.ch <- now
}

func s3Server(t testing.TB) string { return backuptest.S3Server(t) }

func getStatus(t *testing.T, addr string) daemon.Status {
	t.Helper()
	resp, err := http.Get("http://" + addr + "/status")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var s daemon.Status
	if err := json.NewDecoder(resp.Body).Decode(&s); err != nil {
		t.Fatal(err)
	}
	return s
}

func waitStatus(t *testing.T, addr, what string, ok func(daemon.Status) bool) daemon.Status {
	t.Helper()
	deadline := time.Now().Add(time.Minute)
	for {
		s := getStatus(t, addr)
		if ok(s) {
			return s
		}
		if time.Now().After(deadline) {
			b, _ := json.MarshalIndent(s, "", "  ")
			t.Fatalf("timed out waiting for %s; status:\n%s", what, b)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// TestDaemonSchedulesBackups runs the daemon for host cloud with --only
// backup under a folder root, a fake clock for the scheduler, real restic
// and an S3 server on loopback: the scheduled backup runs at the
// schedule's time and shows in /status and /metrics; a pushed schedule
// change restarts the scheduler on the new schedule; SIGTERM (ctx) stops
// it.
func TestDaemonSchedulesBackups(t *testing.T) {
	if _, err := backup.FindRestic(); err != nil {
		testreq.Missing(t, "%v", err)
	}
	addr := s3Server(t)
	h := newHarness(t, func(c *daemon.Config) { c.Host = "cloud" })
	h.repo.Edit("homelab.yaml", "s3:https://s3.us-west-004.backblazeb2.com/lab-backups", "s3:http://"+addr+"/lab-backups\n  init: true\n  random_delay: 0s")
	h.repo.CommitAndPush("backups to the test server")
	secretsEnv := "RESTIC_PASSWORD=daemon-test-pw\nAWS_ACCESS_KEY_ID=AKIATEST\nAWS_SECRET_ACCESS_KEY=test-secret\n"
	os.MkdirAll(filepath.Join(h.root, "etc/homelab-agent"), 0o700)
	if err := os.WriteFile(filepath.Join(h.root, "etc/homelab-agent/secrets.env"), []byte(secretsEnv), 0o600); err != nil {
		t.Fatal(err)
	}
	data := filepath.Join(h.root, "srv/data/nextcloud")
	os.MkdirAll(data, 0o750)
	os.WriteFile(filepath.Join(data, "config.php"), []byte("<?php $CONFIG = [];\n"), 0o640)

	start := time.Date(2026, 3, 4, 3, 0, 0, 0, time.Local) // a Wednesday
	clk := newFakeClock(start)
	// The last backup of the test is stopped by SIGTERM half-way: its
	// quiesce step stops the daemon; the undo step must still run.
	var stopMidBackup atomic.Bool
	var undone atomic.Bool
	quiescing := make(chan struct{}, 1)
	var cancel context.CancelFunc
	adjust := func(jobs []backup.Job) []backup.Job {
		if !stopMidBackup.Load() {
			return jobs
		}
		for i := range jobs {
			jobs[i].Quiesce = &backup.Quiesce{
				Before: func(context.Context) error { quiescing <- struct{}{}; cancel(); return nil },
				After:  func(context.Context) error { undone.Store(true); return nil },
			}
		}
		return jobs
	}
	h.d = h.newDaemon(daemon.Options{Only: []string{"backup"}, BackupClock: clk, BackupJobs: adjust})
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := ln.Addr().String()
	ctx, cancelCtx := context.WithCancel(context.Background())
	cancel = cancelCtx
	done := make(chan error, 1)
	go func() { done <- h.d.Run(ctx, ln) }()
	var stopped error
	var once sync.Once
	stop := func() error {
		once.Do(func() {
			cancel()
			select {
			case stopped = <-done:
			case <-time.After(30 * time.Second):
				stopped = fmt.Errorf("the daemon did not stop")
			}
		})
		return stopped
	}
	defer stop()

	// The scheduler waits for 03:30 (no delay, no catch-up: no run yet).
	w := clk.next(t)
	if want := start.Add(30 * time.Minute); !w.at.Equal(want) {
		t.Fatalf("first wait until %s, want %s", w.at, want)
	}
	s := waitStatus(t, srv, "the backup section", func(s daemon.Status) bool { return s.Backup != nil && s.Backup.Scheduled })
	if b := s.Backup; b.Schedule != "30 3 * * *" || b.Repository != "s3:http://"+addr+"/lab-backups" ||
		len(b.Services) != 1 || b.Services[0].Service != "nextcloud" || !b.NextBackup.Equal(w.at) || len(b.Problems) != 0 {
		t.Fatalf("backup status before the run: %+v", b)
	}
	if !strings.Contains(h.file(backup.ScheduleFile), `schedule: "30 3 * * *"`) {
		t.Fatalf("schedule file:\n%s", h.file(backup.ScheduleFile))
	}

	clk.fire(w)
	w = clk.next(t) // the scheduler waits again once the backup is done
	s = getStatus(t, srv)
	rec := s.Backup.Services[0]
	if !rec.LastSuccess.Equal(start.Add(30*time.Minute)) || rec.SnapshotID == "" || rec.BytesAdded == 0 || rec.LastError != "" || rec.Stale {
		t.Fatalf("record after the scheduled backup: %+v", rec)
	}
	metrics := get(t, h.d.Handler(), "/metrics")
	for _, want := range []string{
		fmt.Sprintf(`homelab_backup_last_success_timestamp_seconds{service="nextcloud"} %g`, float64(start.Add(30*time.Minute).Unix())),
		`homelab_backup_failing{service="nextcloud"} 0`,
		`homelab_backup_status_error 0`,
	} {
		if !strings.Contains(metrics, want) {
			t.Errorf("/metrics lacks %q", want)
		}
	}
	if !strings.Contains(metrics, `homelab_backup_last_bytes_added{service="nextcloud"} `) {
		t.Error("/metrics lacks bytes added")
	}

	// A new schedule restarts the scheduler: it now waits for 04:00.
	h.repo.Edit("homelab.yaml", `schedule: "30 3 * * *"`, `schedule: "0 4 * * *"`)
	c2 := h.repo.CommitAndPush("back up at four")
	h.d.Trigger()
	for w = clk.next(t); !w.at.Equal(start.Add(time.Hour)); w = clk.next(t) {
	}
	s = waitStatus(t, srv, "the new schedule", func(s daemon.Status) bool {
		return s.Backup != nil && s.Backup.Schedule == "0 4 * * *" && s.Backup.Commit == c2
	})
	if !s.Backup.Scheduled || !s.Backup.NextBackup.Equal(start.Add(time.Hour)) {
		t.Fatalf("after the schedule change: %+v", s.Backup)
	}
	clk.fire(w)
	w = clk.next(t)
	s = getStatus(t, srv)
	if rec := s.Backup.Services[0]; !rec.LastSuccess.Equal(start.Add(time.Hour)) {
		t.Fatalf("the restarted scheduler did not back up at 04:00: %+v", rec)
	}

	// A failed run and a success older than twice the interval are problems.
	now := clk.Now()
	bad := &backup.Status{Services: map[string]*backup.Record{"nextcloud": {LastRun: now, LastFailure: now,
		LastSuccess: now.Add(-72 * time.Hour), LastError: "the repository does not exist", ErrorKind: backup.KindNoRepository}}}
	if err := bad.Save(h.root); err != nil {
		t.Fatal(err)
	}
	s = getStatus(t, srv)
	if p := s.Backup.Problems; len(p) != 2 || !strings.Contains(p[0], "backup of nextcloud failed") || !strings.Contains(p[1], "older than twice the interval (24h0m0s)") || !s.Backup.Services[0].Stale {
		t.Fatalf("problems: %q", p)
	}
	if !strings.Contains(get(t, h.d.Handler(), "/metrics"), `homelab_backup_failing{service="nextcloud"} 1`) {
		t.Error("/metrics does not show the failure")
	}

	// SIGTERM during a backup: the daemon returns once the backup was
	// interrupted and its quiesce undone.
	stopMidBackup.Store(true)
	for started := false; !started; { // hourly staleness checks, then tomorrow's 04:00 backup
		clk.fire(w)
		select {
		case <-quiescing:
			started = true
		case w = <-clk.waiting:
		case <-time.After(time.Minute):
			t.Fatal("the backup did not start")
		}
	}
	if err := stop(); err != nil {
		t.Fatal(err)
	}
	if !undone.Load() {
		t.Fatal("the daemon stopped without undoing the quiesce step")
	}
	st, err := backup.LoadStatus(h.root)
	if err != nil {
		t.Fatal(err)
	}
	if rec := st.Services["nextcloud"]; rec.ErrorKind != backup.KindInterrupted {
		t.Fatalf("record after SIGTERM: %+v", rec)
	}
}

// TestNoBackupSection: a host without backups has no backup section and
// no backup metrics.
func TestNoBackupSection(t *testing.T) {
	h := newHarness(t, nil)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- h.d.Run(ctx, ln) }()
	s := waitStatus(t, ln.Addr().String(), "the first pass", func(s daemon.Status) bool { return s.Ready })
	cancel()
	<-done
	if s.Backup != nil {
		t.Fatalf("dns1 has no backups, got %+v", s.Backup)
	}
	if m := get(t, h.d.Handler(), "/metrics"); strings.Contains(m, "homelab_backup_failing") {
		t.Error("metrics show backups of a host without any")
	}
}
