package nextcloud_test

import (
	"context"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/homelab-agent/homelab-agent/agent/backup"
	"github.com/homelab-agent/homelab-agent/agent/backup/backuptest"
	"github.com/homelab-agent/homelab-agent/agent/docker"
	"github.com/homelab-agent/homelab-agent/agent/docker/dockertest"
	"github.com/homelab-agent/homelab-agent/roles/nextcloud"
	"github.com/homelab-agent/homelab-agent/roles/rolestest"
)

func TestMain(m *testing.M) { rolestest.Main(m) }

const (
	dbContainer = "nextcloud-db-1"
	rows        = "1|report.pdf\n2|holiday.jpg"
	readRows    = "SELECT fileid, name FROM oc_filecache ORDER BY fileid"
)

var maintenanceLine = regexp.MustCompile(`'maintenance' => (true|false),`)

// maintenance returns the 'maintenance' value in config.php.
func maintenance(t *testing.T, html string) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(html, "config", "config.php"))
	if err != nil {
		t.Fatal(err)
	}
	m := maintenanceLine.FindSubmatch(b)
	if m == nil {
		t.Fatalf("config.php has no maintenance key:\n%s", b)
	}
	return string(m[1])
}

// TestBackupRestoreRoundTrip: rows in Nextcloud's database and its
// config.php survive a backup through the agent (maintenance mode on for
// it), the loss of the data folder (files and database), and both ways
// back: `restore` and self-restore. After either, Nextcloud is out of
// maintenance mode: the snapshot was taken with config.php saying
// 'maintenance' => true (occ wrote it there), and the role's
// FixRestored turns it off before the service starts.
func TestBackupRestoreRoundTrip(t *testing.T) {
	rolestest.Standins(t, []string{nextcloud.Project}, images...)
	l := rolestest.Lab(t, hosts+rolestest.BackupKey(backuptest.S3Server(t)), nil)
	root := t.TempDir()
	data := filepath.Join(root, "srv/data/nextcloud")
	html := filepath.Join(data, "html")
	if err := os.MkdirAll(html, 0o777); err != nil {
		t.Fatal(err)
	}
	os.Chmod(html, 0o777) // occ runs as www-data (33)
	rolestest.Pass(t, l, "cloud", root, true)
	rolestest.Query(t, dbContainer, "nextcloud", "nextcloud",
		"CREATE TABLE oc_filecache (fileid int PRIMARY KEY, name text); INSERT INTO oc_filecache VALUES (1, 'report.pdf'), (2, 'holiday.jpg')")

	r, jobs := rolestest.Runner(t, l, "cloud", root)
	if len(jobs) != 1 || jobs[0].Quiesce == nil {
		t.Fatalf("jobs %+v, want nextcloud's with its quiesce step", jobs)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	// Wait for the database's health check: occ needs the app, which
	// waits for a healthy database.
	if err := r.Control.WaitHealthy(ctx, nextcloud.Project); err != nil {
		t.Fatal(err)
	}
	if res := r.BackupJob(ctx, jobs[0]); res.Err != nil {
		t.Fatalf("backup: %v", res.Err)
	}
	if got := maintenance(t, html); got != "false" {
		t.Fatalf("after the backup maintenance is %s", got)
	}

	// restore: the service is stopped, the folder and database lost.
	if err := r.Control.Stop(ctx, nextcloud.Project); err != nil {
		t.Fatal(err)
	}
	if err := os.RemoveAll(data); err != nil {
		t.Fatal(err)
	}
	if _, err := r.Restore(ctx, backup.RestoreOptions{Job: jobs[0], HealthTimeout: 2 * time.Minute}); err != nil {
		t.Fatalf("restore: %v", err)
	}
	if got := rolestest.Query(t, dbContainer, "nextcloud", "nextcloud", readRows); got != rows {
		t.Fatalf("rows after restore: %q, want %q", got, rows)
	}
	if got := maintenance(t, html); got != "false" {
		t.Errorf("after restore Nextcloud stays in maintenance mode ('maintenance' => %s)", got)
	}

	// self-restore: a new VM, no containers and an empty data disk.
	dockertest.RemoveProject(dockertest.Client(t), docker.LabelProject, nextcloud.Project)
	if err := os.RemoveAll(data); err != nil {
		t.Fatal(err)
	}
	os.MkdirAll(data, 0o755)
	rep := rolestest.Pass(t, l, "cloud", root, true)
	if !strings.Contains(rolestest.Text(rep), "restore:nextcloud") {
		t.Errorf("apply did not self-restore:\n%s", rolestest.Text(rep))
	}
	if got := rolestest.Query(t, dbContainer, "nextcloud", "nextcloud", readRows); got != rows {
		t.Fatalf("rows after self-restore: %q, want %q", got, rows)
	}
	if got := maintenance(t, html); got != "false" {
		t.Errorf("after self-restore Nextcloud stays in maintenance mode ('maintenance' => %s)", got)
	}
}
