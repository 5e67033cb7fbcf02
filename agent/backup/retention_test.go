package backup

import (
	"context"
	"errors"
	"log/slog"
	"os/exec"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/homelab-agent/homelab-agent/agent/lab"
)

// TestRetentionKeepsWhatPolicySays builds a synthetic history with faked
// snapshot times and checks that prune keeps exactly the policy's set:
// keep daily 3, weekly 2, monthly 2.
func TestRetentionKeepsWhatPolicySays(t *testing.T) {
	r := testRunner(t, s3Server(t))
	r.Config.Keep = lab.Keep{Daily: 3, Weekly: 2, Monthly: 2}
	ctx := ctxT(t)
	writeTree(t, r.Config.Root, "immich")
	day := func(m time.Month, d, h int) time.Time { return time.Date(2026, m, d, h, 0, 0, 0, time.Local) }
	history := []time.Time{
		day(1, 5, 12), day(1, 20, 12), day(2, 2, 12), day(2, 10, 12), day(2, 18, 12),
		day(2, 24, 12), day(2, 25, 12), day(2, 26, 12), day(2, 26, 13),
	}
	for _, at := range history {
		r.Now = func() time.Time { return at }
		if res := r.BackupJob(ctx, job("immich")); res.Err != nil {
			t.Fatal(res.Err)
		}
	}
	if err := r.Prune(ctx); err != nil {
		t.Fatal(err)
	}
	snaps, err := r.Snapshots(ctx, "immich")
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, s := range snaps {
		got = append(got, s.Time.In(time.Local).Format("01-02 15"))
	}
	slices.Sort(got)
	// daily: 02-26 13, 02-25, 02-24; weekly: 02-26 13 (week of 02-23), 02-18;
	// monthly: 02-26 13, 01-20.
	want := []string{"01-20 12", "02-18 12", "02-24 12", "02-25 12", "02-26 13"}
	if !slices.Equal(got, want) {
		t.Errorf("kept %v, want %v", got, want)
	}
	st, _ := r.Status()
	if st.Prune == nil || st.Prune.Failing() || st.Prune.LastSuccess.IsZero() {
		t.Errorf("prune record = %+v", st.Prune)
	}
}

// holdLock starts a restic backup reading stdin, which holds a lock on
// the repository until stdin closes; it returns the process and a func
// that closes stdin.
func holdLock(t *testing.T, r *Runner) (*exec.Cmd, func()) {
	t.Helper()
	repo, err := r.open(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { repo.Close() })
	cmd := exec.Command(repo.bin, "backup", "--stdin", "--stdin-filename", "held", "--host", "other")
	cmd.Env = repo.env
	stdin, _ := cmd.StdinPipe()
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { stdin.Close(); cmd.Process.Kill(); cmd.Wait() })
	deadline := time.Now().Add(30 * time.Second)
	for {
		locks, err := repo.Locks(context.Background())
		if err == nil && slices.ContainsFunc(locks, func(l Lock) bool { return l.PID == cmd.Process.Pid }) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("restic never took its lock (%v)", err)
		}
		time.Sleep(50 * time.Millisecond)
	}
	stdin.Write([]byte("some data"))
	return cmd, func() { stdin.Close() }
}

// TestStaleLockRecovered: a backup killed with SIGKILL leaves its lock;
// prune removes it with `restic unlock` and succeeds.
func TestStaleLockRecovered(t *testing.T) {
	r := testRunner(t, s3Server(t))
	ctx := ctxT(t)
	writeTree(t, r.Config.Root, "nextcloud")
	if res := r.BackupJob(ctx, job("nextcloud")); res.Err != nil {
		t.Fatal(res.Err)
	}
	var logs strings.Builder
	r.Log = slog.New(slog.NewTextHandler(&logs, nil))
	cmd, _ := holdLock(t, r)
	cmd.Process.Signal(syscall.SIGKILL)
	cmd.Wait()
	if err := r.Prune(ctx); err != nil {
		t.Fatalf("prune with a stale lock: %v", err)
	}
	if !strings.Contains(logs.String(), "removed stale restic locks") {
		t.Errorf("no stale lock was removed; log:\n%s", logs.String())
	}
	repo, _ := r.open(ctx)
	defer repo.Close()
	if locks, _ := repo.Locks(ctx); len(locks) != 0 {
		t.Errorf("locks left: %v", locks)
	}
}

// TestLiveLockUntouched: a running restic's lock is not removed; prune
// fails with a message naming the holder.
func TestLiveLockUntouched(t *testing.T) {
	r := testRunner(t, s3Server(t))
	ctx := ctxT(t)
	writeTree(t, r.Config.Root, "nextcloud")
	if res := r.BackupJob(ctx, job("nextcloud")); res.Err != nil {
		t.Fatal(res.Err)
	}
	cmd, release := holdLock(t, r)
	err := r.Prune(ctx)
	if !errors.Is(err, ErrKind(KindLocked)) || !strings.Contains(err.Error(), "live") {
		t.Fatalf("prune with a live lock: err = %v", err)
	}
	t.Log(err)
	repo, _ := r.open(ctx)
	defer repo.Close()
	locks, _ := repo.Locks(ctx)
	if !slices.ContainsFunc(locks, func(l Lock) bool { return l.PID == cmd.Process.Pid }) {
		t.Errorf("the live lock was removed: %v", locks)
	}
	release()
	if err := cmd.Wait(); err != nil {
		t.Errorf("the lock holder failed: %v", err)
	}
	if err := r.Prune(ctx); err != nil {
		t.Errorf("prune after the holder finished: %v", err)
	}
}
