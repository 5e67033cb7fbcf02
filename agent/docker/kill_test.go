package docker_test

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
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
	bin := buildAgent(t)
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
	// Kill once a runs (its create and start are complete; a kill inside
	// the create call is TestKillAtAnyPointConverges's business).
	deadline := time.Now().Add(20 * time.Second)
	for {
		if ids := list()["a"]; len(ids) == 1 {
			if info, err := cli.ContainerInspect(context.Background(), ids[0]); err == nil && info.State.Running {
				break
			}
		}
		if time.Now().After(deadline) {
			cmd.Process.Kill()
			t.Fatal("a was never started")
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

// TestKillAtAnyPointConverges kills the agent at several moments of a
// pass that recreates every service (remove, create, start), then checks
// that the next pass converges: one container per service, then no change.
func TestKillAtAnyPointConverges(t *testing.T) {
	cli := dockertest.Client(t)
	name := dockertest.Name(t)
	image := "homelab-test-" + name + ":v1"
	dockertest.Tag(t, image)
	dockertest.CleanupProject(t, docker.LabelProject, name)
	compose := func(gen int) string {
		return strings.NewReplacer("IMAGE", image, "GEN", strconv.Itoa(gen)).Replace(`services:
  a: {image: IMAGE, environment: {G: "GEN"}}
  b: {image: IMAGE, environment: {G: "GEN"}, depends_on: [a]}
  c: {image: IMAGE, environment: {G: "GEN"}, depends_on: [b]}
  d: {image: IMAGE, environment: {G: "GEN"}}
`)
	}
	bin := buildAgent(t)
	root := t.TempDir()
	for gen, delay := range []time.Duration{0, 30 * time.Millisecond, 120 * time.Millisecond, 250 * time.Millisecond, 500 * time.Millisecond} {
		l := rolestest.Lab(t, "  box: {ip: 192.168.100.20, role: dns}\napps:\n  - {host: box, name: "+name+", compose: app/compose.yaml}\n",
			map[string]string{"app/compose.yaml": compose(gen)})
		args := []string{"apply", "--host", "box", "--repo", l.Dir, "--root", root, "--only", "containers"}
		cmd := exec.Command(bin, args...)
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		time.Sleep(delay) // the point of the kill; the check after it polls nothing
		cmd.Process.Signal(syscall.SIGKILL)
		cmd.Wait()
		if out, err := exec.Command(bin, args...).CombinedOutput(); err != nil {
			t.Fatalf("gen %d: apply after kill at %s: %v\n%s", gen, delay, err, out)
		}
		cs, err := cli.ContainerList(context.Background(), container.ListOptions{All: true,
			Filters: filters.NewArgs(filters.Arg("label", docker.LabelProject+"="+name))})
		if err != nil {
			t.Fatal(err)
		}
		per := map[string]int{}
		for _, c := range cs {
			per[c.Labels[docker.LabelService]]++
			if c.State != "running" {
				t.Errorf("gen %d: %s is %s", gen, c.Names, c.State)
			}
		}
		if len(per) != 4 || per["a"] != 1 || per["b"] != 1 || per["c"] != 1 || per["d"] != 1 {
			t.Fatalf("gen %d (kill at %s): containers per service %v", gen, delay, per)
		}
		out, err := exec.Command(bin, args...).CombinedOutput()
		if err != nil || !strings.Contains(string(out), "no changes") {
			t.Fatalf("gen %d: third apply: %v\n%s", gen, err, out)
		}
	}
}

var agentBin struct {
	once sync.Once
	path string
	err  error
	out  []byte
}

// buildAgent builds the homelab-agent binary once per test process.
func buildAgent(t *testing.T) string {
	t.Helper()
	agentBin.once.Do(func() {
		dir, err := os.MkdirTemp("", "hl-agent-bin")
		if err != nil {
			agentBin.err = err
			return
		}
		agentBin.path = filepath.Join(dir, "homelab-agent")
		agentBin.out, agentBin.err = exec.Command("go", "build", "-o", agentBin.path, "github.com/homelab-agent/homelab-agent/cmd/homelab-agent").CombinedOutput()
	})
	if agentBin.err != nil {
		t.Fatalf("building the agent: %v\n%s", agentBin.err, agentBin.out)
	}
	return agentBin.path
}
