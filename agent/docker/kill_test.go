package docker_test

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/docker/docker/api/types/container"
	"github.com/docker/docker/api/types/filters"

	"github.com/homelab-agent/homelab-agent/agent/docker"
	"github.com/homelab-agent/homelab-agent/agent/docker/dockertest"
	"github.com/homelab-agent/homelab-agent/roles/rolestest"
)

// TestKillMidApplyConverges kills the agent (SIGKILL) while it waits for a
// dependency to become healthy, after it created some containers and
// before the rest; the next apply converges with one container per service.
func TestKillMidApplyConverges(t *testing.T) {
	cli := dockertest.Client(t)
	name := dockertest.Name(t)
	image := "homelab-test-" + name + ":v1"
	dockertest.Tag(t, image)
	dockertest.CleanupProject(t, docker.LabelProject, name)
	compose := strings.ReplaceAll(`services:
  a:
    image: IMAGE
    environment: {HEALTHY_AFTER: 2s}
    healthcheck: {test: ["CMD", "/standin", "health"], interval: 200ms, retries: 100}
  b:
    image: IMAGE
    depends_on: {a: {condition: service_healthy}}
  c:
    image: IMAGE
    depends_on: [b]
`, "IMAGE", image)
	l := rolestest.Lab(t, "  box: {ip: 192.168.100.20, role: dns}\napps:\n  - {host: box, name: "+name+", compose: app/compose.yaml}\n",
		map[string]string{"app/compose.yaml": compose})
	bin := filepath.Join(t.TempDir(), "homelab-agent")
	build := exec.Command("go", "build", "-o", bin, "github.com/homelab-agent/homelab-agent/cmd/homelab-agent")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("building the agent: %v\n%s", err, out)
	}
	root := t.TempDir()
	apply := func() *exec.Cmd {
		return exec.Command(bin, "apply", "--host", "box", "--repo", l.Dir, "--root", root, "--only", "containers")
	}
	list := func() map[string][]string {
		cs, err := cli.ContainerList(context.Background(), container.ListOptions{All: true,
			Filters: filters.NewArgs(filters.Arg("label", docker.LabelProject+"="+name))})
		if err != nil {
			t.Fatal(err)
		}
		out := map[string][]string{}
		for _, c := range cs {
			out[c.Labels[docker.LabelService]] = append(out[c.Labels[docker.LabelService]], c.ID)
		}
		return out
	}

	cmd := apply()
	cmd.Stdout, cmd.Stderr = os.Stderr, os.Stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(20 * time.Second)
	for len(list()["a"]) == 0 {
		if time.Now().After(deadline) {
			cmd.Process.Kill()
			t.Fatal("a was never created")
		}
		time.Sleep(20 * time.Millisecond)
	}
	if err := cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	cmd.Wait()
	mid := list()
	if len(mid["b"]) != 0 || len(mid["c"]) != 0 {
		t.Fatalf("the kill came too late to test anything: %v", mid)
	}

	if out, err := apply().CombinedOutput(); err != nil {
		t.Fatalf("apply after the kill: %v\n%s", err, out)
	}
	after := list()
	for _, svc := range []string{"a", "b", "c"} {
		if len(after[svc]) != 1 {
			t.Fatalf("service %s has %d containers: %v", svc, len(after[svc]), after)
		}
	}
	if after["a"][0] != mid["a"][0] {
		t.Errorf("a was recreated although it was complete")
	}
	out, err := apply().CombinedOutput()
	if err != nil || !strings.Contains(string(out), "no changes") {
		t.Fatalf("third apply: %v\n%s", err, out)
	}
}
