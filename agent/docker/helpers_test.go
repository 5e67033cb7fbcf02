package docker

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/docker/docker/api/types/container"
	"github.com/docker/docker/api/types/filters"
	"github.com/docker/docker/api/types/image"
	"github.com/docker/docker/api/types/network"
	"github.com/docker/docker/client"

	"github.com/homelab-agent/homelab-agent/agent/docker/dockertest"
	"github.com/homelab-agent/homelab-agent/agent/resource"
	"github.com/homelab-agent/homelab-agent/agent/secrets"
)

// harness is one test's project on the real engine.
type harness struct {
	t     *testing.T
	name  string
	image string // the test's stand-in tag, "<image>:v1"
	cli   *client.Client
	count *dockertest.Counter
	env   *resource.Env
}

func newHarness(t *testing.T) *harness {
	t.Helper()
	h := &harness{t: t, name: dockertest.Name(t)}
	h.cli, h.count = dockertest.CountingClient(t)
	h.image = "homelab-test-" + h.name
	dockertest.Tag(t, h.image+":v1", h.image+":v2")
	t.Cleanup(func() {
		for _, tag := range []string{h.image + ":v1", h.image + ":v2"} {
			h.cli.ImageRemove(context.Background(), tag, imageRemoveOptions())
		}
	})
	dockertest.CleanupProject(t, LabelProject, h.name)
	h.env = &resource.Env{Root: t.TempDir(), Secrets: secrets.FromMap(map[string]string{"DB_PASS": "s3cr3t-value-xyz"})}
	return h
}

// project builds the resource from a compose file; IMAGE stands for the
// test's stand-in image name.
func (h *harness) project(compose string) *Project {
	compose = strings.ReplaceAll(compose, "IMAGE", h.image)
	return &Project{
		Source: Source{Name: h.name, Files: []File{{Name: "compose.yaml", Content: []byte(compose)}},
			DataDir: "/srv/data/" + h.name},
		Connect:       func() (*client.Client, error) { return h.cli, nil },
		HealthTimeout: 30e9,
		Environ:       []string{},
	}
}

func (h *harness) apply(p *Project) *resource.Change {
	h.t.Helper()
	ch, err := p.CheckApply(context.Background(), h.env, true)
	if err != nil {
		h.t.Fatalf("apply: %v", err)
	}
	return ch
}

func (h *harness) plan(p *Project) *resource.Change {
	h.t.Helper()
	ch, err := p.CheckApply(context.Background(), h.env, false)
	if err != nil {
		h.t.Fatalf("plan: %v", err)
	}
	return ch
}

// containers maps service -> container of the project.
func (h *harness) containers() map[string]container.Summary {
	h.t.Helper()
	cs, err := h.cli.ContainerList(context.Background(), container.ListOptions{All: true,
		Filters: filters.NewArgs(filters.Arg("label", LabelProject+"="+h.name))})
	if err != nil {
		h.t.Fatal(err)
	}
	out := map[string]container.Summary{}
	for _, c := range cs {
		svc := c.Labels[LabelService]
		if _, dup := out[svc]; dup {
			h.t.Fatalf("two containers for service %s", svc)
		}
		out[svc] = c
	}
	return out
}

func (h *harness) inspect(name string) container.InspectResponse {
	h.t.Helper()
	info, err := h.cli.ContainerInspect(context.Background(), name)
	if err != nil {
		h.t.Fatal(err)
	}
	return info
}

// dataDir is the project's data dir on disk.
func (h *harness) dataDir() string { return filepath.Join(h.env.Root, "srv/data", h.name) }

func (h *harness) writeData(rel, content string) string {
	h.t.Helper()
	p := filepath.Join(h.dataDir(), rel)
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		h.t.Fatal(err)
	}
	if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
		h.t.Fatal(err)
	}
	return p
}

func imageRemoveOptions() image.RemoveOptions { return image.RemoveOptions{} }

func networkInspectOptions() network.InspectOptions { return network.InspectOptions{} }

func fmtSscan(s string, v any) { fmt.Sscan(s, v) }
