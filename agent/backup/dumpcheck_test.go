package backup

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestRestoreRefusesDumpIntoDatabaseWithData: when the dump's check says
// the database holds data (here the restored files carry it, as a
// snapshot of a live database folder does), the restore loads nothing,
// leaves the service stopped and says what it found and how to force it;
// with Force the dump is loaded and the service started.
func TestRestoreRefusesDumpIntoDatabaseWithData(t *testing.T) {
	r, ctl, svc, dir, app := dumpService(t)
	ctx := ctxT(t)
	os.WriteFile(filepath.Join(dir, "tables"), []byte("app: 3 tables\n"), 0o644)
	j := job(svc)
	j.Dumps = []Dump{{Name: "db", Command: []string{"printf", "CREATE TABLE t;\n"}, Container: "database",
		Restore: []string{"/app", "load"}, Check: []string{"/app", "check"}}}
	if res := r.BackupJob(ctx, j); res.Err != nil {
		t.Fatal(res.Err)
	}
	_, err := r.Restore(ctx, RestoreOptions{Job: j, HealthTimeout: 30 * time.Second})
	if !errors.Is(err, ErrKind(KindNotEmpty)) {
		t.Fatalf("restore into a database with data: %v", err)
	}
	for _, want := range []string{"already holds data (app: 3 tables)", "--force", "not started"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error lacks %q: %v", want, err)
		}
	}
	if _, err := os.Stat(filepath.Join(dir, "loaded.sql")); err == nil {
		t.Error("the dump was loaded into a database that holds data")
	}
	if running(t, ctl, app) {
		t.Error("the service was started after the dump was refused")
	}
	if _, err := r.Restore(ctx, RestoreOptions{Job: j, Force: true, HealthTimeout: 30 * time.Second}); err != nil {
		t.Fatalf("forced restore: %v", err)
	}
	if b, _ := os.ReadFile(filepath.Join(dir, "loaded.sql")); string(b) != "CREATE TABLE t;\n" {
		t.Errorf("loaded dump = %q", b)
	}
	if !running(t, ctl, app) {
		t.Error("the service was not started after the forced restore")
	}
}

// TestOwedDumpsLoadOnALaterPass: a self-restore (Owed) whose dump fails
// to load leaves it owed; LoadOwed tries again (and fails again while the
// load fails), then loads it once it can and clears the record.
func TestOwedDumpsLoadOnALaterPass(t *testing.T) {
	r, _, svc, dir, _ := dumpService(t)
	ctx := ctxT(t)
	good := job(svc)
	good.Dumps = []Dump{{Name: "db", Command: []string{"printf", "CREATE TABLE t;\n"}, Container: "database",
		Restore: []string{"/app", "load"}, Check: []string{"/app", "check"}}}
	bad := good
	bad.Dumps = []Dump{good.Dumps[0]}
	bad.Dumps[0].Restore = []string{"/app", "load-fail"}
	res := r.BackupJob(ctx, good)
	if res.Err != nil {
		t.Fatal(res.Err)
	}
	if _, err := r.Restore(ctx, RestoreOptions{Job: bad, NoStart: true, Owed: true}); err == nil {
		t.Fatal("a restore whose dump failed to load succeeded")
	}
	if id, err := owed(r.Config.Root, svc); err != nil || id != res.SnapshotID {
		t.Fatalf("owed %q %v, want the files snapshot %s", id, err, res.SnapshotID)
	}
	if was, _, err := r.LoadOwed(ctx, bad); !was || err == nil || !strings.Contains(err.Error(), "stays stopped until its dumps load") {
		t.Fatalf("owed load that fails: owed=%v %v", was, err)
	}
	if was, _, err := r.LoadOwed(ctx, good); !was || err != nil {
		t.Fatalf("owed load: owed=%v %v", was, err)
	}
	if b, _ := os.ReadFile(filepath.Join(dir, "loaded.sql")); string(b) != "CREATE TABLE t;\n" {
		t.Errorf("loaded dump = %q", b)
	}
	if was, _, err := r.LoadOwed(ctx, good); was || err != nil {
		t.Errorf("after the load: owed=%v %v", was, err)
	}
}
