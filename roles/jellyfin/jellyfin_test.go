package jellyfin_test

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/homelab-agent/homelab-agent/agent/backup"
	"github.com/homelab-agent/homelab-agent/agent/docker/dockertest"
	"github.com/homelab-agent/homelab-agent/agent/role"
	"github.com/homelab-agent/homelab-agent/roles/jellyfin"
	"github.com/homelab-agent/homelab-agent/roles/rolestest"
)

const image = "docker.io/jellyfin/jellyfin:10.10"

func TestRoleRunsAndStopsForBackup(t *testing.T) {
	rolestest.Standins(t, []string{jellyfin.Project}, image)
	l := rolestest.Lab(t, "  media: {ip: 192.168.100.12, role: jellyfin, expose: {port: 28096}}\n", nil)
	root := t.TempDir()
	media := filepath.Join(root, "srv/data/jellyfin/media/film.mkv")
	os.MkdirAll(filepath.Dir(media), 0o755)
	os.WriteFile(media, []byte("film"), 0o644)
	rolestest.Pass(t, l, "media", root, true)
	if rep := rolestest.Pass(t, l, "media", root, true); rep.Changed {
		t.Fatalf("second apply changed:\n%s", rolestest.Text(rep))
	}
	cli := dockertest.Client(t)
	ctx := context.Background()
	c, err := cli.ContainerInspect(ctx, "jellyfin-jellyfin-1")
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"/config", "/cache", "/media:ro"} {
		if !slices.ContainsFunc(c.HostConfig.Binds, func(b string) bool { return strings.HasSuffix(b, ":"+want) }) {
			t.Errorf("binds %v lack %s", c.HostConfig.Binds, want)
		}
	}
	if !slices.Contains(c.Config.Env, "JELLYFIN_PublishedServerUrl=https://jellyfin.home.example") {
		t.Errorf("env %v", c.Config.Env)
	}
	boom := errors.New("backup failed")
	err = rolestest.Quiesced(ctx, t, l, "media", backup.Env{Docker: cli}, func(context.Context) error {
		c, _ := cli.ContainerInspect(ctx, "jellyfin-jellyfin-1")
		if c.State.Running {
			t.Error("jellyfin runs during the backup")
		}
		return boom
	})
	if !errors.Is(err, boom) {
		t.Fatalf("err %v", err)
	}
	if c, _ := cli.ContainerInspect(ctx, "jellyfin-jellyfin-1"); !c.State.Running {
		t.Fatal("jellyfin was not started again after a failed backup")
	}
	if b, _ := os.ReadFile(media); string(b) != "film" {
		t.Fatal("media changed")
	}
}

func TestGPUPassesDevDri(t *testing.T) {
	l := rolestest.Lab(t, "  media: {ip: 192.168.100.12, role: jellyfin, gpu: true}\n", nil)
	out, err := jellyfin.Role{}.Build(role.Input{Lab: l, Host: l.Hosts.Get("media")})
	if err != nil {
		t.Fatal(err)
	}
	p := out.Resources[0]
	if !strings.Contains(p.ID(), "containers:jellyfin") {
		t.Fatalf("resources %v", out.Resources)
	}
	files := rolestest.ComposeFiles(p)
	if len(files) != 2 || !strings.Contains(files[1], "/dev/dri:/dev/dri") {
		t.Fatalf("compose files %v", files)
	}
}
