package immich_test

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/docker/docker/client"

	"github.com/homelab-agent/homelab-agent/agent/backup"
	"github.com/homelab-agent/homelab-agent/agent/backup/backuptest"
	"github.com/homelab-agent/homelab-agent/agent/docker"
	"github.com/homelab-agent/homelab-agent/agent/docker/dockertest"
	"github.com/homelab-agent/homelab-agent/roles/immich"
	"github.com/homelab-agent/homelab-agent/roles/rolestest"
)

func TestMain(m *testing.M) { rolestest.Main(m) }

const (
	dbContainer = "immich_postgres"
	rows        = "1|beach.jpg\n2|snow.jpg"
	readRows    = "SELECT id, name FROM assets ORDER BY id"
)

// waitReady returns once the database answers a query.
func waitReady(t *testing.T, _ *client.Client) {
	t.Helper()
	rolestest.Query(t, dbContainer, "postgres", "immich", "SELECT 1")
}

// TestDumpRestoreLoadsTheDump: the role's dump, loaded by its DumpRestore
// command into a database that lost the table, brings the rows back; a
// dump that fails half-way fails the load with psql's message.
func TestDumpRestoreLoadsTheDump(t *testing.T) {
	rolestest.Standins(t, []string{immich.Project}, images...)
	l := rolestest.Lab(t, "  photos: {ip: 192.168.100.11, role: immich, expose: {port: 22283}}\n", nil)
	root := t.TempDir()
	rolestest.Pass(t, l, "photos", root, true)
	cli := dockertest.Client(t)
	ctx := context.Background()
	rolestest.Query(t, dbContainer, "postgres", "immich", "CREATE TABLE assets (id int PRIMARY KEY, name text); INSERT INTO assets VALUES (1, 'beach.jpg'), (2, 'snow.jpg')")
	var dump bytes.Buffer
	dumper := rolestest.Service(t, l, "photos").Dump
	if err := dumper.Dump(ctx, backup.Env{Docker: cli}, &dump); err != nil {
		t.Fatal(err)
	}
	if _, err := rolestest.Psql(t, dbContainer, "postgres", "immich", "DROP TABLE assets"); err != nil {
		t.Fatal(err)
	}
	ctl := &backup.DockerControl{Client: cli}
	svc, argv := dumper.DumpRestore()
	d := backup.Dump{Name: "immich-database", Container: svc, Restore: argv}
	if err := ctl.LoadDump(ctx, immich.Project, d, bytes.NewReader(dump.Bytes())); err != nil {
		t.Fatalf("loading the dump: %v", err)
	}
	if got := rolestest.Query(t, dbContainer, "postgres", "immich", readRows); got != rows {
		t.Fatalf("rows after loading the dump: %q, want %q", got, rows)
	}
	// A script that fails stops there and the load fails with psql's words.
	bad := "CREATE TABLE later (id int);\nTHIS IS NOT SQL;\nDROP TABLE assets;\n"
	err := ctl.LoadDump(ctx, immich.Project, d, strings.NewReader(bad))
	if err == nil || !strings.Contains(err.Error(), `syntax error at or near "THIS"`) {
		t.Fatalf("loading a broken dump: %v", err)
	}
	if got := rolestest.Query(t, dbContainer, "postgres", "immich", readRows); got != rows {
		t.Errorf("psql went on after the error: rows %q", got)
	}
}

// TestBackupRestoreRoundTrip: rows written to Immich's database survive a
// backup through the agent (restic, the database as pg_dumpall through
// the dump command), the loss of the data folder and the database, and
// both ways back: `restore` (the dump loaded into the database container)
// and self-restore (an empty data folder on apply, before the first start).
func TestBackupRestoreRoundTrip(t *testing.T) {
	rolestest.Standins(t, []string{immich.Project}, images...)
	l := rolestest.Lab(t, "  photos: {ip: 192.168.100.11, role: immich, expose: {port: 22283}}\n"+rolestest.BackupKey(backuptest.S3Server(t)), nil)
	root := t.TempDir()
	rolestest.Pass(t, l, "photos", root, true)
	rolestest.Query(t, dbContainer, "postgres", "immich", "CREATE TABLE assets (id int PRIMARY KEY, name text); INSERT INTO assets VALUES (1, 'beach.jpg'), (2, 'snow.jpg')")
	data := filepath.Join(root, immich.DataDir)
	os.WriteFile(filepath.Join(data, "library", "beach.jpg"), []byte("jpeg"), 0o644)

	r, jobs := rolestest.Runner(t, l, "photos", root)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	if len(jobs) != 1 || len(jobs[0].Dumps) != 1 {
		t.Fatalf("jobs %+v, want immich's with its dump", jobs)
	}
	if res := r.BackupJob(ctx, jobs[0]); res.Err != nil {
		t.Fatalf("backup: %v", res.Err)
	}

	// restore: the service is stopped, the folder and database lost.
	if err := r.Control.Stop(ctx, immich.Project); err != nil {
		t.Fatal(err)
	}
	if err := os.RemoveAll(data); err != nil {
		t.Fatal(err)
	}
	res, err := r.Restore(ctx, backup.RestoreOptions{Job: jobs[0], HealthTimeout: 2 * time.Minute})
	if err != nil {
		t.Fatalf("restore: %v", err)
	}
	if len(res.Plan.Dumps) != 1 || len(res.Warnings) > 0 {
		t.Errorf("restore loaded dumps %v, warnings %q", res.Plan.Dumps, res.Warnings)
	}
	if got := rolestest.Query(t, dbContainer, "postgres", "immich", readRows); got != rows {
		t.Fatalf("rows after restore: %q, want %q", got, rows)
	}
	if b, err := os.ReadFile(filepath.Join(data, "library", "beach.jpg")); err != nil || string(b) != "jpeg" {
		t.Errorf("library after restore: %q %v", b, err)
	}

	// self-restore: a new VM, no containers and an empty data disk.
	dockertest.RemoveProject(dockertest.Client(t), docker.LabelProject, immich.Project)
	if err := os.RemoveAll(data); err != nil {
		t.Fatal(err)
	}
	os.MkdirAll(data, 0o755)
	rep := rolestest.Pass(t, l, "photos", root, true)
	if !strings.Contains(rolestest.Text(rep), "restore:immich") {
		t.Errorf("apply did not self-restore:\n%s", rolestest.Text(rep))
	}
	if got := rolestest.Query(t, dbContainer, "postgres", "immich", readRows); got != rows {
		t.Fatalf("rows after self-restore: %q, want %q", got, rows)
	}
}
