package rolestest

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/docker/docker/api/types/container"
	"github.com/docker/docker/api/types/filters"

	"github.com/homelab-agent/homelab-agent/agent/backup"
	"github.com/homelab-agent/homelab-agent/agent/backup/backuptest"
	"github.com/homelab-agent/homelab-agent/agent/docker"
	"github.com/homelab-agent/homelab-agent/agent/docker/dockertest"
	"github.com/homelab-agent/homelab-agent/agent/lab"
)

// DumpRoundTrip is a stateful role whose database is backed up as a dump
// (roles.PostgresDump), run through the agent's backup and both ways
// back on a real PostgreSQL (Run).
type DumpRoundTrip struct {
	// Host is the lab's host line (Header's hosts part), Name its name,
	// Images the images the role's compose file names (Standins).
	Host, Name string
	Images     []string
	// Project is the compose project (the service backed up); Database
	// its database service, Container that service's container name, and
	// User and DB what psql connects as and to.
	Project, Database, Container, User, DB string
	// Prepare runs on the data folder (a host path) before the first
	// start (permissions the app needs, files); nil for none.
	Prepare func(t testing.TB, data string)
	// Check runs after each restore with the data folder (what else must
	// hold: the app's files, its maintenance flag); nil for none.
	Check func(t testing.TB, data, after string)
}

const (
	tripRows  = "1|report.pdf\n2|holiday.jpg"
	tripWrite = "CREATE TABLE homelab_trip (id int PRIMARY KEY, name text); INSERT INTO homelab_trip VALUES (1, 'report.pdf'), (2, 'holiday.jpg')"
	tripRead  = "SELECT id, name FROM homelab_trip ORDER BY id"
)

// Run writes rows into the database, backs the service up through the
// agent (its dump and its files, the live database folder excluded),
// loses the data folder and the database, and reads the rows back
// through psql after `restore` and after a self-restore (an empty data
// disk and no containers). A backup that did carry the live database
// folder (as before the exclusion) restores a database that holds data:
// the dump is refused and the service left stopped, and --force (Force)
// loads it. A dump that does not load fails the restore with psql's
// message and leaves the service stopped; on a self-restore it stays owed
// and the project skipped, pass after pass.
func (c DumpRoundTrip) Run(t *testing.T) {
	Standins(t, []string{c.Project}, c.Images...)
	l := Lab(t, c.Host+BackupKey(backuptest.S3Server(t)), nil)
	root := t.TempDir()
	data := filepath.Join(root, lab.DataDir(c.Project))
	check := func(after string) {
		t.Helper()
		if got := Query(t, c.Container, c.User, c.DB, tripRead); got != tripRows {
			t.Fatalf("rows after %s: %q, want %q", after, got, tripRows)
		}
		if c.Check != nil {
			c.Check(t, data, after)
		}
	}
	if c.Prepare != nil {
		c.Prepare(t, data)
	}
	Pass(t, l, c.Name, root, true)
	Query(t, c.Container, c.User, c.DB, tripWrite)

	r, jobs := Runner(t, l, c.Name, root)
	if len(jobs) != 1 || len(jobs[0].Dumps) != 1 || len(jobs[0].Excludes) != 1 {
		t.Fatalf("jobs %+v, want %s's with its dump and its database folder excluded", jobs, c.Project)
	}
	job := jobs[0]
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	// The app's quiesce step (occ) needs it running: it waits for a
	// healthy database.
	if err := r.Control.WaitHealthy(ctx, c.Project); err != nil {
		t.Fatal(err)
	}
	if res := r.BackupJob(ctx, job); res.Err != nil {
		t.Fatalf("backup: %v", res.Err)
	}

	// restore: the service is stopped, the folder and the database lost,
	// the database's container removed too (restore creates it from the
	// project). The restored files hold no database folder, so the
	// database starts empty (were it not, the dump would be refused) and
	// the dump fills it.
	lose := func() {
		t.Helper()
		if err := r.Control.Stop(ctx, c.Project); err != nil {
			t.Fatal(err)
		}
		if err := os.RemoveAll(data); err != nil {
			t.Fatal(err)
		}
	}
	lose()
	if err := dockertest.Client(t).ContainerRemove(ctx, c.Container, container.RemoveOptions{Force: true}); err != nil {
		t.Fatal(err)
	}
	res, err := r.Restore(ctx, backup.RestoreOptions{Job: job, HealthTimeout: 2 * time.Minute})
	if err != nil {
		t.Fatalf("restore: %v", err)
	}
	if len(res.Plan.Dumps) != 1 || len(res.Warnings) > 0 {
		t.Errorf("restore loaded dumps %v, warnings %q", res.Plan.Dumps, res.Warnings)
	}
	check("restore")

	// self-restore: a new VM, no containers and an empty data disk.
	dockertest.RemoveProject(dockertest.Client(t), docker.LabelProject, c.Project)
	if err := os.RemoveAll(data); err != nil {
		t.Fatal(err)
	}
	os.MkdirAll(data, 0o755)
	rep := Pass(t, l, c.Name, root, true)
	if !strings.Contains(Text(rep), "restore:"+c.Project) || !strings.Contains(Text(rep), "and loaded its database dump "+job.Dumps[0].Name) {
		t.Errorf("apply did not self-restore with the dump:\n%s", Text(rep))
	}
	check("self-restore")

	// A snapshot that carries the live database folder: the restored
	// database holds data, and the dump is refused unless forced.
	withDB := job
	withDB.Excludes = nil
	if res := r.BackupJob(ctx, withDB); res.Err != nil {
		t.Fatalf("backup with the database folder: %v", res.Err)
	}
	_, err = r.Restore(ctx, backup.RestoreOptions{Job: job, HealthTimeout: 2 * time.Minute})
	if !errors.Is(err, backup.ErrKind(backup.KindNotEmpty)) || !strings.Contains(err.Error(), "already holds data ("+c.DB+": ") || !strings.Contains(err.Error(), "--force") {
		t.Fatalf("restore into a database that holds data: %v", err)
	}
	if running := c.running(t); running != "" {
		t.Errorf("the service was started after the dump was refused: %s runs", running)
	}
	if _, err := r.Restore(ctx, backup.RestoreOptions{Job: job, Force: true, HealthTimeout: 2 * time.Minute}); err != nil {
		t.Fatalf("restore --force: %v", err)
	}
	check("restore --force")

	// A dump that does not load: the restore fails with psql's words.
	broken := job
	broken.Dumps = []backup.Dump{job.Dumps[0]}
	broken.Dumps[0].Command = []string{"printf", "CREATE TABLE later (id int);\nTHIS IS NOT SQL;\n"}
	if res := r.BackupJob(ctx, broken); res.Err != nil {
		t.Fatalf("backup of a broken dump: %v", res.Err)
	}
	lose()
	_, err = r.Restore(ctx, backup.RestoreOptions{Job: job, HealthTimeout: 2 * time.Minute})
	if err == nil || !strings.Contains(err.Error(), `syntax error at or near "THIS"`) || !strings.Contains(err.Error(), "not started") {
		t.Fatalf("restore of a broken dump: %v", err)
	}
	if running := c.running(t); running != "" {
		t.Errorf("the service was started on a dump that failed to load: %s runs", running)
	}
	// On a self-restore the broken dump stays owed: the project is skipped
	// this pass and the next.
	dockertest.RemoveProject(dockertest.Client(t), docker.LabelProject, c.Project)
	if err := os.RemoveAll(data); err != nil {
		t.Fatal(err)
	}
	os.MkdirAll(data, 0o755)
	// The first pass fails with psql's words; the next finds the table the
	// broken dump created before its error (psql cannot run pg_dumpall's
	// script in one transaction) and refuses to load over it.
	for i, want := range []string{`syntax error at or near "THIS"`, "already holds data (postgres: 1 tables)"} {
		rep, err := PassSecrets(t, l, c.Name, root, true, Secrets)
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Fatalf("self-restore pass %d of a broken dump: %v, want %q\n%s", i+1, err, want, Text(rep))
		}
		if running := c.running(t); running != "" {
			t.Fatalf("pass %d started the service on a dump that failed to load: %s runs\n%s", i+1, running, Text(rep))
		}
	}
	if _, err := os.Stat(filepath.Join(root, backup.OwedDir, c.Project)); err != nil {
		t.Errorf("the failed dump is not recorded as owed: %v", err)
	}
}

// running names a container of the project other than the database's
// that runs, "" when none does.
func (c DumpRoundTrip) running(t testing.TB) string {
	t.Helper()
	cs, err := dockertest.Client(t).ContainerList(context.Background(), container.ListOptions{All: true,
		Filters: filters.NewArgs(filters.Arg("label", docker.LabelProject+"="+c.Project))})
	if err != nil {
		t.Fatal(err)
	}
	for _, ctr := range cs {
		if ctr.Labels[docker.LabelService] != c.Database && ctr.State == "running" {
			return ctr.Labels[docker.LabelService]
		}
	}
	return ""
}
