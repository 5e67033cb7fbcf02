package backup

import (
	"context"
	"strings"
	"testing"
	"time"

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

// TestQuiesceWaitsForAnImageUpdate: a scheduled backup whose service is
// held by an image update under its health check waits for it, instead
// of stopping the service under the check (which would roll the update
// back); past HoldWait it fails, naming the holder, with nothing stopped.
func TestQuiesceWaitsForAnImageUpdate(t *testing.T) {
	r := testRunner(t, s3Server(t))
	writeTree(t, r.Config.Root, "jellyfin")
	var quiesced []time.Time
	j := job("jellyfin")
	j.Quiesce = &Quiesce{
		Before: func(context.Context) error { quiesced = append(quiesced, time.Now()); return nil },
		After:  func(context.Context) error { return nil },
	}
	upd, err := hold.Take(r.Config.Root, "jellyfin", "image update of jellyfin")
	if err != nil {
		t.Fatal(err)
	}
	r.HoldWait = 300 * time.Millisecond
	res := r.BackupJob(context.Background(), j)
	if res.Err == nil || !strings.Contains(res.Err.Error(), "image update of jellyfin") || len(quiesced) != 0 {
		t.Fatalf("backup under a hold it outwaited: %v (quiesced %d times)", res.Err, len(quiesced))
	}
	r.HoldWait = time.Minute
	released := time.Now().Add(1500 * time.Millisecond)
	time.AfterFunc(1500*time.Millisecond, func() { upd.Release() })
	if res := r.BackupJob(context.Background(), j); res.Err != nil || res.SnapshotID == "" {
		t.Fatalf("backup after the update released its hold: %+v", res)
	}
	if len(quiesced) != 1 || quiesced[0].Before(released) {
		t.Fatalf("quiesced at %v, the update released at %v", quiesced, released)
	}
}
