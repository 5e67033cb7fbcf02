package hold

import (
	"context"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/homelab-agent/homelab-agent/internal/testreq"
)

func TestTakeCheckRelease(t *testing.T) {
	root := t.TempDir()
	if _, held := Check(root, "jellyfin"); held {
		t.Fatal("held before Take")
	}
	h, err := Take(root, "jellyfin", "backup quiesce")
	if err != nil {
		t.Fatal(err)
	}
	r, held := Check(root, "jellyfin")
	if !held || !strings.HasPrefix(r, "backup quiesce by pid ") {
		t.Fatalf("check = %q %v", r, held)
	}
	if _, err := Take(root, "jellyfin", "restore"); err == nil || !strings.Contains(err.Error(), "already held (backup quiesce") {
		t.Fatalf("second take: %v", err)
	}
	if err := h.Release(); err != nil {
		t.Fatal(err)
	}
	if _, held := Check(root, "jellyfin"); held {
		t.Fatal("held after Release")
	}
	if _, err := os.Stat(filepath.Join(root, Dir, "jellyfin")); !os.IsNotExist(err) {
		t.Fatalf("marker left: %v", err)
	}
	if _, err := Take(root, "../etc", "x"); err == nil {
		t.Fatal("a service name with a slash was accepted")
	}
}

// TestDeadHolderIsNoHold: a marker left by a process that died (its lock
// went with it) does not hold the service.
func TestDeadHolderIsNoHold(t *testing.T) {
	root := t.TempDir()
	p := filepath.Join(root, Dir, "immich")
	os.MkdirAll(filepath.Dir(p), 0o755)
	// A child takes the lock and exits.
	cmd := exec.Command("flock", "-x", p, "-c", "echo restore by pid 1 > "+p)
	if out, err := cmd.CombinedOutput(); err != nil {
		testreq.Missing(t, "flock(1) (util-linux) not available: %v %s", err, out)
	}
	if _, err := os.Stat(p); err != nil {
		t.Fatal(err)
	}
	if r, held := Check(root, "immich"); held {
		t.Fatalf("a dead holder still holds: %q", r)
	}
	if _, err := os.Stat(p); !os.IsNotExist(err) {
		t.Fatal("stale marker not removed")
	}
}

// TestWaitTakesWhenTheHolderReleases: a backup's quiesce step waits for an
// image update's hold rather than failing, and gives up after its bound.
func TestWaitTakesWhenTheHolderReleases(t *testing.T) {
	root := t.TempDir()
	upd, err := Take(root, "jellyfin", "image update of jellyfin")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := Wait(context.Background(), root, "jellyfin", "backup quiesce", 150*time.Millisecond, 20*time.Millisecond); !errors.Is(err, ErrHeld) ||
		!strings.Contains(err.Error(), "image update of jellyfin") || !strings.Contains(err.Error(), "waited 150ms") {
		t.Fatalf("wait past its bound: %v", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := Wait(ctx, root, "jellyfin", "backup quiesce", time.Minute, 20*time.Millisecond); !errors.Is(err, context.Canceled) {
		t.Fatalf("wait with its context done: %v", err)
	}
	released := time.Now().Add(300 * time.Millisecond)
	time.AfterFunc(300*time.Millisecond, func() { upd.Release() })
	h, err := Wait(context.Background(), root, "jellyfin", "backup quiesce", 10*time.Second, 20*time.Millisecond)
	if err != nil {
		t.Fatal(err)
	}
	defer h.Release()
	if time.Now().Before(released) {
		t.Fatal("took the hold before its holder released it")
	}
	if r, held := Check(root, "jellyfin"); !held || !strings.HasPrefix(r, "backup quiesce by pid") {
		t.Fatalf("after the wait: %q %v", r, held)
	}
}

// TestOwned: only the holder's own context owns the hold, and only while
// it is taken.
func TestOwned(t *testing.T) {
	root := t.TempDir()
	h, err := Take(root, "jellyfin", "image update of jellyfin")
	if err != nil {
		t.Fatal(err)
	}
	ctx := h.Context(context.Background())
	if !Owned(ctx, "jellyfin") {
		t.Fatal("the holder's context does not own its hold")
	}
	if Owned(ctx, "immich") || Owned(context.Background(), "jellyfin") {
		t.Fatal("a hold is owned by another service or another context")
	}
	h.Release()
	if Owned(ctx, "jellyfin") {
		t.Fatal("owned after Release")
	}
}
