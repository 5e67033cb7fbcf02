package backup

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestBackupRestoreByteIdentical backs up a data folder, deletes and
// corrupts files, restores, and compares every file's content and mode.
func TestBackupRestoreByteIdentical(t *testing.T) {
	r := testRunner(t, s3Server(t))
	ctx := ctxT(t)
	dir := writeTree(t, r.Config.Root, "nextcloud")
	want := treeHash(t, dir)

	res := r.BackupJob(ctx, job("nextcloud"))
	if res.Err != nil {
		t.Fatalf("backup: %v", res.Err)
	}
	if res.SnapshotID == "" || res.BytesAdded == 0 {
		t.Errorf("result = %+v, want a snapshot ID and bytes added", res)
	}
	st, _ := r.Status()
	rec := st.Services["nextcloud"]
	if rec == nil || rec.SnapshotID != res.SnapshotID || rec.LastSuccess.IsZero() || rec.Failing() {
		t.Errorf("status = %+v", rec)
	}

	// Damage: delete one file, corrupt another, change a mode, add junk.
	os.Remove(filepath.Join(dir, "config/config.php"))
	os.WriteFile(filepath.Join(dir, "data/admin/files/b.bin"), []byte("corrupt"), 0o600)
	os.Chmod(filepath.Join(dir, "run.sh"), 0o600)
	os.WriteFile(filepath.Join(dir, "junk"), []byte("junk"), 0o644)
	if treeHash(t, dir) == want {
		t.Fatal("damage did not change the tree")
	}

	var asked *RestorePlan
	var progress strings.Builder
	rr, err := r.Restore(ctx, RestoreOptions{Job: job("nextcloud"), Snapshot: "latest", Progress: &progress, Terminal: true,
		Confirm: func(p *RestorePlan) bool { asked = p; return true }})
	if err != nil {
		t.Fatalf("restore: %v", err)
	}
	if asked == nil || asked.Snapshot.ID != res.SnapshotID || asked.DataEmpty {
		t.Errorf("plan = %+v", asked)
	}
	if got := treeHash(t, dir); got != want {
		t.Errorf("restored tree differs:\n got:\n%s\nwant:\n%s", got, want)
	}
	// The damaged data is kept aside, never deleted.
	pre := rr.Plan.PreRestore
	if b, err := os.ReadFile(filepath.Join(pre, "junk")); err != nil || string(b) != "junk" {
		t.Errorf("pre-restore copy %s lacks the old data: %v", pre, err)
	}
	if _, err := os.Stat(rr.Plan.Temp); !os.IsNotExist(err) {
		t.Errorf("temporary folder %s left behind: %v", rr.Plan.Temp, err)
	}
	if !strings.Contains(progress.String(), "restoring nextcloud") {
		t.Errorf("no progress shown: %q", progress.String())
	}
	t.Logf("backup %v (restic %v), restore %v (restic %v)", res.Duration, res.ResticTime, rr.Duration, rr.ResticTime)
}

// TestRestoreByID restores an older snapshot by ID prefix and cancels
// when the person says no.
func TestRestoreByID(t *testing.T) {
	r := testRunner(t, s3Server(t))
	ctx := ctxT(t)
	dir := writeTree(t, r.Config.Root, "traefik")
	first := r.BackupJob(ctx, job("traefik"))
	if first.Err != nil {
		t.Fatal(first.Err)
	}
	want := treeHash(t, dir)
	os.WriteFile(filepath.Join(dir, "acme.json"), []byte(`{"new":true}`), 0o600)
	r.Now = func() time.Time { return time.Now().Add(2 * time.Second) }
	if res := r.BackupJob(ctx, job("traefik")); res.Err != nil {
		t.Fatal(res.Err)
	}
	_, err := r.Restore(ctx, RestoreOptions{Job: job("traefik"), Snapshot: first.SnapshotID[:8], Confirm: func(*RestorePlan) bool { return false }})
	if !errors.Is(err, ErrCancelled) {
		t.Fatalf("cancelled restore: err = %v", err)
	}
	if _, err := os.Stat(filepath.Join(dir, "acme.json")); err != nil {
		t.Fatal("cancelled restore changed the data")
	}
	if _, err := r.Restore(ctx, RestoreOptions{Job: job("traefik"), Snapshot: first.SnapshotID[:8]}); err != nil {
		t.Fatal(err)
	}
	if got := treeHash(t, dir); got != want {
		t.Errorf("restored tree differs:\n%s\nwant\n%s", got, want)
	}
	_, err = r.Restore(ctx, RestoreOptions{Job: job("traefik"), Snapshot: "deadbeef"})
	if !errors.Is(err, ErrKind(KindNoSnapshot)) {
		t.Errorf("unknown snapshot: err = %v", err)
	}
}

// TestEmptyDataNotBackedUp: an empty data folder must never become the
// latest snapshot.
func TestEmptyDataNotBackedUp(t *testing.T) {
	r := testRunner(t, s3Server(t))
	os.MkdirAll(filepath.Join(r.Config.Root, DataDir("jellyfin")), 0o755)
	res := r.BackupJob(ctxT(t), job("jellyfin"))
	if res.Err == nil || !strings.Contains(res.Err.Error(), "is empty") {
		t.Fatalf("err = %v, want an empty-folder refusal", res.Err)
	}
}

// TestOwedDumpsNotBackedUp: while a self-restore still owes a service its
// database dumps, a backup would pair the restored files with an empty
// database and become the latest snapshot: it is refused, naming the
// snapshot, and nothing is written to the repository.
func TestOwedDumpsNotBackedUp(t *testing.T) {
	r := testRunner(t, s3Server(t))
	writeTree(t, r.Config.Root, "immich")
	if err := owe(r.Config.Root, "immich", "0123456789abcdef"); err != nil {
		t.Fatal(err)
	}
	res := r.BackupJob(ctxT(t), job("immich"))
	if res.Err == nil || !strings.Contains(res.Err.Error(), "still owes the database dumps of snapshot 01234567") || res.SnapshotID != "" {
		t.Fatalf("backup while dumps are owed: %+v", res)
	}
	if err := paid(r.Config.Root, "immich"); err != nil {
		t.Fatal(err)
	}
	if res := r.BackupJob(ctxT(t), job("immich")); res.Err != nil || res.SnapshotID == "" {
		t.Fatalf("backup once the dumps are loaded: %+v", res)
	}
}
