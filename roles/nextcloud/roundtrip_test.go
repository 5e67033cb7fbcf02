package nextcloud_test

import (
	"os"
	"path/filepath"
	"regexp"
	"testing"

	"github.com/homelab-agent/homelab-agent/roles/nextcloud"
	"github.com/homelab-agent/homelab-agent/roles/rolestest"
)

func TestMain(m *testing.M) { rolestest.Main(m) }

const dbContainer = "nextcloud-db-1"

var maintenanceLine = regexp.MustCompile(`'maintenance' => (true|false),`)

// maintenance returns the 'maintenance' value in config.php.
func maintenance(t testing.TB, html string) string {
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

// TestBackupRestoreRoundTrip: rows in Nextcloud's database survive a
// backup through the agent (maintenance mode on for it, the database as a
// pg_dumpall stream, its live folder excluded), the loss of the data
// folder and the database, and both ways back: `restore` and
// self-restore (rolestest.DumpRoundTrip, which also refuses a dump into a
// database that holds data unless forced, and fails on a broken dump with
// psql's message). After each, Nextcloud is out of maintenance mode: the
// snapshot was taken with config.php saying 'maintenance' => true (occ
// wrote it there), and the role's FixRestored turns it off before the
// service starts.
func TestBackupRestoreRoundTrip(t *testing.T) {
	rolestest.DumpRoundTrip{
		Host: hosts, Name: "cloud", Images: images,
		Project: nextcloud.Project, Database: nextcloud.Database, Container: dbContainer, User: "nextcloud", DB: "nextcloud",
		Prepare: func(t testing.TB, data string) { writableHTML(t, data) },
		Check: func(t testing.TB, data, after string) {
			if got := maintenance(t, filepath.Join(data, "html")); got != "false" {
				t.Errorf("after %s Nextcloud stays in maintenance mode ('maintenance' => %s)", after, got)
			}
		},
	}.Run(t)
}
