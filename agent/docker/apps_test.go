package docker_test

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/docker/docker/api/types/container"
	"github.com/docker/docker/api/types/filters"

	"github.com/homelab-agent/homelab-agent/agent"
	"github.com/homelab-agent/homelab-agent/agent/docker"
	"github.com/homelab-agent/homelab-agent/agent/docker/dockertest"
	"github.com/homelab-agent/homelab-agent/agent/secrets"
	"github.com/homelab-agent/homelab-agent/roles/rolestest"
)

// TestAppRemovedFromRepo runs two apps from homelab.yaml, then takes one
// out: its containers go, the other app's stay, and its data stays.
func TestAppRemovedFromRepo(t *testing.T) {
	cli := dockertest.Client(t)
	name := dockertest.Name(t)
	keep, gone := name+"-keep", name+"-gone"
	image := "homelab-test-" + name + ":v1"
	dockertest.Tag(t, image)
	dockertest.CleanupProject(t, docker.LabelProject, keep)
	dockertest.CleanupProject(t, docker.LabelProject, gone)
	compose := "services:\n  web:\n    image: " + image + "\n    volumes: [\"./data:/data\"]\n"
	files := map[string]string{"app/compose.yaml": compose}
	apps := func(names ...string) string {
		s := "  box: {ip: 192.168.100.20, role: dns}\napps:\n"
		for _, n := range names {
			s += "  - {host: box, name: " + n + ", compose: app/compose.yaml}\n"
		}
		return s
	}
	root := t.TempDir()
	opts := agent.Options{Root: root, Only: []string{"containers"}, Secrets: secrets.FromMap(nil)}
	ctx := context.Background()
	if _, err := agent.Apply(ctx, rolestest.Lab(t, apps(keep, gone), files), "box", opts); err != nil {
		t.Fatal(err)
	}
	data := filepath.Join(root, "srv/data", gone, "data", "file")
	os.WriteFile(data, []byte("keep me"), 0o644)
	count := func(project string) int {
		cs, err := cli.ContainerList(ctx, container.ListOptions{All: true, Filters: filters.NewArgs(filters.Arg("label", docker.LabelProject+"="+project))})
		if err != nil {
			t.Fatal(err)
		}
		return len(cs)
	}
	if count(keep) != 1 || count(gone) != 1 {
		t.Fatalf("containers: keep %d, gone %d", count(keep), count(gone))
	}
	l := rolestest.Lab(t, apps(keep), files)
	rep, err := agent.Plan(ctx, l, "box", opts)
	if err != nil || !strings.Contains(rolestest.Text(rep), "project removed from repo") {
		t.Fatalf("plan: %v\n%s", err, rolestest.Text(rep))
	}
	if _, err := agent.Apply(ctx, l, "box", opts); err != nil {
		t.Fatal(err)
	}
	if count(keep) != 1 || count(gone) != 0 {
		t.Fatalf("containers: keep %d, gone %d", count(keep), count(gone))
	}
	if b, err := os.ReadFile(data); err != nil || string(b) != "keep me" {
		t.Fatalf("data of the removed app: %q %v", b, err)
	}
	if rep, err := agent.Apply(ctx, l, "box", opts); err != nil || rep.Changed {
		t.Fatalf("third apply: %v\n%s", err, rolestest.Text(rep))
	}
}
