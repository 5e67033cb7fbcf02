package daemon_test

import (
	"context"
	"encoding/json"
	"io"
	"strings"
	"testing"
	"time"

	"github.com/docker/docker/api/types/container"
	"github.com/docker/docker/api/types/image"

	"github.com/homelab-agent/homelab-agent/agent/daemon"
	"github.com/homelab-agent/homelab-agent/agent/docker"
	"github.com/homelab-agent/homelab-agent/agent/docker/dockertest"
	"github.com/homelab-agent/homelab-agent/agent/images"
	"github.com/homelab-agent/homelab-agent/agent/images/imagestest"
)

// TestImageUpdatesThroughTheDaemon: an app on dns1 runs an image from a
// registry on loopback; the lab's window is always open. A new image whose
// healthcheck fails is rolled back and the status and metrics name the
// failed update; a good one is kept.
func TestImageUpdatesThroughTheDaemon(t *testing.T) {
	cli := dockertest.Client(t)
	reg := imagestest.Start(t)
	name := dockertest.Name(t)
	repo := reg.Host + "/" + name
	ctx := context.Background()
	if err := cli.ImageTag(ctx, dockertest.Standin(t), repo+":1.0"); err != nil {
		t.Fatal(err)
	}
	rc, err := cli.ImagePush(ctx, repo+":1.0", image.PushOptions{RegistryAuth: "e30="})
	if err != nil {
		t.Fatal(err)
	}
	io.Copy(io.Discard, rc)
	rc.Close()
	cli.ImageRemove(ctx, repo+":1.0", image.RemoveOptions{})
	t.Cleanup(func() {
		imgs, _ := cli.ImageList(context.Background(), image.ListOptions{All: true})
		for _, im := range imgs {
			for _, ref := range append(im.RepoTags, im.RepoDigests...) {
				if strings.HasPrefix(ref, repo) {
					cli.ImageRemove(context.Background(), ref, image.RemoveOptions{Force: true})
				}
			}
		}
	})
	dockertest.CleanupProject(t, docker.LabelProject, name)
	orig := reg.Pull(t, name+":1.0")
	push := func(env string) string { return reg.Derive(t, orig, name+":1.0", env) }

	h := newHarness(t, nil)
	h.repo.Write("apps/"+name+"/compose.yaml", "services:\n  web:\n    image: "+repo+":1.0\n"+
		"    healthcheck: {test: [\"CMD\", \"/standin\", \"health\"], interval: 300ms, timeout: 2s, retries: 3}\n")
	h.repo.Edit("homelab.yaml", "apps:\n", "updates: {policy: track, window: \"* * * * *\"}\napps:\n  - {host: dns1, name: "+name+", compose: apps/"+name+"/compose.yaml}\n")
	h.repo.CommitAndPush("an app that follows its registry")
	h.d = h.newDaemon(daemon.Options{Only: []string{"files", "containers"}, ImageTTL: time.Nanosecond})
	if s := h.converge(); s.LastError != "" {
		t.Fatalf("first pass: %s", s.LastError)
	}
	h.d.ImageUpdates(ctx)
	s := h.d.Status()
	if len(s.Images) != 1 || s.Images[0].Service != "web" || s.Images[0].Digest == "" || s.Images[0].Available != "" {
		t.Fatalf("status after the first check: %+v", s.Images)
	}
	first := s.Images[0].Digest

	bad := push("HEALTHY_AFTER=1000h")
	h.d.ImageUpdates(ctx)
	s = h.d.Status()
	last := s.Images[0].Last
	if last == nil || last.Result != images.ResultRolledBack || !strings.Contains(last.To, bad) || !strings.Contains(last.Error, "unhealthy") {
		t.Fatalf("the bad image: %+v", s.Images[0])
	}
	if js := decodeStatus(t, get(t, h.d.Handler(), "/status")); s.Images[0].Digest != first || len(js.Images) != 1 ||
		js.Images[0].Last == nil || js.Images[0].Last.Result != images.ResultRolledBack {
		t.Fatalf("the status does not name the failed update: %+v", s.Images[0])
	}
	if v := metric(t, h.d, `homelab_image_last_update_failed{project="`+name+`",service="web"}`); v != "1" {
		t.Errorf("homelab_image_last_update_failed = %q", v)
	}
	running := func() string {
		cs, err := cli.ContainerList(ctx, container.ListOptions{All: true})
		if err != nil {
			t.Fatal(err)
		}
		for _, c := range cs {
			if c.Labels[docker.LabelProject] == name {
				img, err := cli.ImageInspect(ctx, c.ImageID)
				if err != nil {
					t.Fatal(err)
				}
				b, _ := json.Marshal(img.RepoDigests)
				return c.State + " " + string(b)
			}
		}
		return "none"
	}
	if r := running(); !strings.HasPrefix(r, "running") || !strings.Contains(r, first) {
		t.Fatalf("after the rollback the app runs %s, want %s", r, first)
	}

	good := push("VERSION=2")
	h.d.ImageUpdates(ctx)
	s = h.d.Status()
	if last := s.Images[0].Last; last == nil || last.Result != images.ResultUpdated || s.Images[0].Digest != good {
		t.Fatalf("the good image: %+v %+v", s.Images[0], last)
	}
	if r := running(); !strings.Contains(r, good) {
		t.Fatalf("after the update the app runs %s, want %s", r, good)
	}
	if v := metric(t, h.d, `homelab_agent_image_updates_total{result="updated"}`); v != "1" {
		t.Errorf("updates counted: %q", v)
	}
}
