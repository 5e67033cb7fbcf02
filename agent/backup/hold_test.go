package backup

import (
	"context"
	"testing"

	"github.com/homelab-agent/homelab-agent/agent/hold"
)

// holdSeen records whether the service was held at each step.
type holdSeen struct {
	root, svc string
	seen      []string
}

func (h *holdSeen) check(step string) {
	if r, held := hold.Check(h.root, h.svc); held {
		h.seen = append(h.seen, step+": "+r)
	} else {
		h.seen = append(h.seen, step+": free")
	}
}

func (h *holdSeen) Stop(context.Context, string) error        { h.check("stop"); return nil }
func (h *holdSeen) Start(context.Context, string) error       { h.check("start"); return nil }
func (h *holdSeen) WaitHealthy(context.Context, string) error { return nil }

// TestQuiesceAndRestoreHoldTheService: while a backup's quiesce step is in
// effect and while a restore runs, the service is held against the
// converger (agent/hold), and the hold ends with them.
func TestQuiesceAndRestoreHoldTheService(t *testing.T) {
	r := testRunner(t, s3Server(t))
	writeTree(t, r.Config.Root, "jellyfin")
	seen := &holdSeen{root: r.Config.Root, svc: "jellyfin"}
	j := job("jellyfin")
	j.Quiesce = &Quiesce{
		Before: func(context.Context) error { seen.check("quiesce"); return nil },
		After:  func(context.Context) error { seen.check("resume"); return nil },
	}
	if res := r.BackupJob(context.Background(), j); res.Err != nil {
		t.Fatal(res.Err)
	}
	if _, held := hold.Check(r.Config.Root, "jellyfin"); held {
		t.Fatal("still held after the backup")
	}
	r.Control = seen
	if _, err := r.Restore(context.Background(), RestoreOptions{Job: j, Snapshot: "latest"}); err != nil {
		t.Fatal(err)
	}
	if _, held := hold.Check(r.Config.Root, "jellyfin"); held {
		t.Fatal("still held after the restore")
	}
	want := []string{"quiesce: backup quiesce by pid", "resume: backup quiesce by pid", "stop: restore by pid", "start: restore by pid"}
	if len(seen.seen) != len(want) {
		t.Fatalf("seen %q", seen.seen)
	}
	for i, w := range want {
		if len(seen.seen[i]) < len(w) || seen.seen[i][:len(w)] != w {
			t.Errorf("step %d: %q, want %q...", i, seen.seen[i], w)
		}
	}
}
