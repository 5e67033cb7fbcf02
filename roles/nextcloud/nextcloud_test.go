package nextcloud_test

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"syscall"
	"testing"

	"github.com/homelab-agent/homelab-agent/agent/backup"
	"github.com/homelab-agent/homelab-agent/agent/docker/dockertest"
	"github.com/homelab-agent/homelab-agent/roles/nextcloud"
	"github.com/homelab-agent/homelab-agent/roles/rolestest"
)

var images = []string{
	"docker.io/library/postgres:16-alpine",
	"docker.io/library/redis:7-alpine",
	"docker.io/library/nextcloud:apache",
}

const hosts = "  cloud: {ip: 192.168.100.10, role: nextcloud, expose: {port: 28080}}\n"

func TestRoleRunsBehindTraefik(t *testing.T) {
	rolestest.Standins(t, []string{nextcloud.Project}, images...)
	l := rolestest.Lab(t, hosts, nil)
	root := t.TempDir()
	rep := rolestest.Pass(t, l, "cloud", root, true)
	text := rolestest.Text(rep)
	for _, svc := range []string{"db", "redis", "app", "cron"} {
		if !strings.Contains(text, "+ "+svc+" (nextcloud-"+svc+"-1): new") {
			t.Errorf("apply lacks %s:\n%s", svc, text)
		}
	}
	if strings.Contains(text, rolestest.Secrets["NEXTCLOUD_DB_PASSWORD"]) {
		t.Fatalf("report shows a secret:\n%s", text)
	}
	if rep := rolestest.Pass(t, l, "cloud", root, true); rep.Changed {
		t.Fatalf("second apply changed:\n%s", rolestest.Text(rep))
	}
	cli := dockertest.Client(t)
	app, err := cli.ContainerInspect(context.Background(), "nextcloud-app-1")
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"TRUSTED_PROXIES=192.168.100.3", "OVERWRITEHOST=nextcloud.home.example",
		"OVERWRITEPROTOCOL=https", "NEXTCLOUD_TRUSTED_DOMAINS=nextcloud.home.example",
		"POSTGRES_PASSWORD=" + rolestest.Secrets["NEXTCLOUD_DB_PASSWORD"]} {
		if !slices.Contains(app.Config.Env, want) {
			t.Errorf("app env lacks %s: %v", want, app.Config.Env)
		}
	}
	if b := app.HostConfig.PortBindings["80/tcp"]; len(b) != 1 || b[0].HostPort != "28080" {
		t.Errorf("ports %v", app.HostConfig.PortBindings)
	}
	cron, err := cli.ContainerInspect(context.Background(), "nextcloud-cron-1")
	if err != nil || len(cron.Config.Entrypoint) != 1 || cron.Config.Entrypoint[0] != "/cron.sh" {
		t.Errorf("cron entrypoint %v %v", cron.Config.Entrypoint, err)
	}
}

func TestQuiesceMaintenanceModeAlwaysTurnsOff(t *testing.T) {
	rolestest.Standins(t, []string{nextcloud.Project}, images...)
	l := rolestest.Lab(t, hosts, nil)
	root := t.TempDir()
	html := writableHTML(t, filepath.Join(root, "srv/data/nextcloud"))
	rolestest.Pass(t, l, "cloud", root, true)
	env := backup.Env{Docker: dockertest.Client(t)}
	config := filepath.Join(html, "config", "config.php")
	// mode is what config.php says and who wrote it (occ runs as www-data).
	mode := func() string {
		b, err := os.ReadFile(config)
		if err != nil {
			return err.Error()
		}
		m := regexp.MustCompile(`'maintenance' => (true|false),`).FindSubmatch(b)
		if m == nil {
			return "no maintenance key in " + string(b)
		}
		fi, _ := os.Stat(config)
		return fmt.Sprintf("%s uid=%d", m[1], fi.Sys().(*syscall.Stat_t).Uid)
	}

	var during string
	err := rolestest.Quiesced(context.Background(), t, l, "cloud", env, func(context.Context) error {
		during = mode()
		return nil
	})
	if err != nil || during != "true uid=33" || mode() != "false uid=33" {
		t.Fatalf("err %v, during %q, after %q", err, during, mode())
	}
	// The backup fails: maintenance mode is still turned off.
	boom := errors.New("backup failed")
	err = rolestest.Quiesced(context.Background(), t, l, "cloud", env, func(context.Context) error {
		during = mode()
		return boom
	})
	if !errors.Is(err, boom) || during != "true uid=33" || mode() != "false uid=33" {
		t.Fatalf("err %v, during %q, after %q", err, during, mode())
	}
	// The context is cancelled during the backup: resume still runs.
	ctx, cancel := context.WithCancel(context.Background())
	err = rolestest.Quiesced(ctx, t, l, "cloud", env, func(context.Context) error { during = mode(); cancel(); return ctx.Err() })
	if !errors.Is(err, context.Canceled) || during != "true uid=33" || mode() != "false uid=33" {
		t.Fatalf("err %v, during %q, after %q", err, during, mode())
	}
}

// writableHTML makes the html folder of the data folder data, writable for
// occ, which runs as www-data (33), and returns it.
func writableHTML(t testing.TB, data string) string {
	t.Helper()
	html := filepath.Join(data, "html")
	if err := os.MkdirAll(html, 0o777); err != nil {
		t.Fatal(err)
	}
	os.Chmod(html, 0o777)
	return html
}
