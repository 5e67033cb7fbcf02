package backup

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestRestoreFailsWhenTheDumpDoesNotLoad: a dump whose restore command
// fails fails the restore, with the command's message, and the service
// is not started on a half-loaded database.
func TestRestoreFailsWhenTheDumpDoesNotLoad(t *testing.T) {
	r, ctl, svc, _, app := dumpService(t)
	ctx := ctxT(t)
	if err := ctl.Start(ctx, svc); err != nil {
		t.Fatal(err)
	}
	j := job(svc)
	j.Dumps = []Dump{{Name: "db", Command: []string{"printf", "CREATE TABLE t;\nTHIS IS NOT SQL;\n"}, Container: "database", Restore: []string{"/app", "load-fail"}}}
	if res := r.BackupJob(ctx, j); res.Err != nil {
		t.Fatal(res.Err)
	}
	_, err := r.Restore(ctx, RestoreOptions{Job: j, HealthTimeout: 30 * time.Second})
	if err == nil {
		t.Fatal("a restore whose dump failed to load succeeded")
	}
	for _, want := range []string{"loading database dump db", `syntax error at or near "THIS"`, "exited with code 3", "not started"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error lacks %q: %v", want, err)
		}
	}
	if running(t, ctl, app) {
		t.Error("the service was started on a database whose dump failed to load")
	}
}

// dumpService is a service with a database and an app container (the
// test image) over its data folder dir, holding a marker, and a runner
// with the Docker Engine as its control.
func dumpService(t *testing.T) (r *Runner, ctl *DockerControl, svc, dir, app string) {
	t.Helper()
	ctl, img := dockerControl(t)
	r = testRunner(t, s3Server(t))
	r.Control = ctl
	svc = uniqueService()
	dir = writeTree(t, r.Config.Root, svc)
	os.WriteFile(filepath.Join(dir, "marker"), []byte("v1"), 0o644)
	testContainer(t, ctl, img, r.Config.Root, svc, "database")
	app = testContainer(t, ctl, img, r.Config.Root, svc, "app")
	return r, ctl, svc, dir, app
}
