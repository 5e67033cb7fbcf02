package hold

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

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
