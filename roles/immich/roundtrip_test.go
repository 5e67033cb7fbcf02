package immich_test

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/docker/docker/client"

	"github.com/homelab-agent/homelab-agent/agent/backup"
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

// TestBackupRestoreRoundTrip: rows written to Immich's database and a
// file of its library survive a backup through the agent (the database as
// a pg_dumpall stream, its live folder excluded), the loss of the data
// folder and the database, and both ways back: `restore` and
// self-restore (rolestest.DumpRoundTrip, which also refuses a dump into a
// database that holds data unless forced, and fails on a broken dump with
// psql's message).
func TestBackupRestoreRoundTrip(t *testing.T) {
	rolestest.DumpRoundTrip{
		Host: "  photos: {ip: 192.168.100.11, role: immich, expose: {port: 22283}}\n", Name: "photos", Images: images,
		Project: immich.Project, Database: immich.Database, Container: dbContainer, User: "postgres", DB: "immich",
		Prepare: func(t testing.TB, data string) {
			if err := os.MkdirAll(filepath.Join(data, "library"), 0o755); err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(filepath.Join(data, "library", "beach.jpg"), []byte("jpeg"), 0o644); err != nil {
				t.Fatal(err)
			}
		},
		Check: func(t testing.TB, data, after string) {
			if b, err := os.ReadFile(filepath.Join(data, "library", "beach.jpg")); err != nil || string(b) != "jpeg" {
				t.Errorf("library after %s: %q %v", after, b, err)
			}
		},
	}.Run(t)
}
