package docker

import (
	"context"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// TestComposeFeaturesReachTheEngine applies one service using each
// supported compose feature and reads them back from the engine.
func TestComposeFeaturesReachTheEngine(t *testing.T) {
	h := newHarness(t)
	dir := t.TempDir()
	os.WriteFile(filepath.Join(dir, ".env"), []byte("TAG=v2\nGREETING=hello\n"), 0o644)
	os.WriteFile(filepath.Join(dir, "app.env"), []byte("FROM_FILE=${GREETING}-file\nOVERRIDDEN=file\nPW=${secret:DB_PASS}\n"), 0o644)
	p := h.project(`
services:
  app:
    image: IMAGE:${TAG}
    command: ["serve"]
    user: "1000:1000"
    working_dir: /
    env_file: [app.env]
    environment: {OVERRIDDEN: env}
    group_add: ["100"]
    shm_size: 64m
    devices: ["/dev/null:/dev/mynull:rw"]
    tmpfs: ["/run/x"]
    cap_drop: [NET_RAW]
    extra_hosts: ["db.example:127.0.0.2"]
    stop_grace_period: 3s
    labels: {app.role: demo}
    restart: on-failure:3
    networks:
      back: {aliases: [api]}
      front: {}
    volumes:
      - type: bind
        source: ./conf
        target: /conf
        read_only: true
networks:
  back: {}
  front: {internal: true}
`)
	p.Dir = dir
	h.apply(p)
	c := h.inspect(h.name + "-app-1")
	hc := c.HostConfig
	checks := map[string]bool{
		"image from .env":     c.Config.Image == h.image+":v2",
		"command":             slices.Equal(c.Config.Cmd, []string{"serve"}),
		"user":                c.Config.User == "1000:1000",
		"env_file":            slices.Contains(c.Config.Env, "FROM_FILE=hello-file"),
		"environment wins":    slices.Contains(c.Config.Env, "OVERRIDDEN=env"),
		"secret in env_file":  slices.Contains(c.Config.Env, "PW=s3cr3t-value-xyz"),
		"group_add":           slices.Equal(hc.GroupAdd, []string{"100"}),
		"shm_size":            hc.ShmSize == 64<<20,
		"devices":             len(hc.Devices) == 1 && hc.Devices[0].PathInContainer == "/dev/mynull",
		"tmpfs":               hc.Tmpfs["/run/x"] == "",
		"cap_drop":            slices.ContainsFunc(hc.CapDrop, func(c string) bool { return strings.HasSuffix(c, "NET_RAW") }),
		"extra_hosts":         slices.Contains(hc.ExtraHosts, "db.example:127.0.0.2"),
		"stop_grace_period":   c.Config.StopTimeout != nil && *c.Config.StopTimeout == 3,
		"labels":              c.Config.Labels["app.role"] == "demo" && c.Config.Labels[LabelProject] == h.name,
		"restart":             hc.RestartPolicy.Name == "on-failure" && hc.RestartPolicy.MaximumRetryCount == 3,
		"bind under data dir": slices.Contains(hc.Binds, filepath.Join(h.dataDir(), "conf")+":/conf:ro"),
		"two networks":        len(c.NetworkSettings.Networks) == 2,
		"alias":               c.NetworkSettings.Networks[h.name+"_back"] != nil && slices.Contains(c.NetworkSettings.Networks[h.name+"_back"].Aliases, "api"),
		"running":             c.State.Running,
	}
	for what, ok := range checks {
		if !ok {
			t.Errorf("%s: not as the compose file says", what)
		}
	}
	n, err := h.cli.NetworkInspect(context.Background(), h.name+"_front", networkInspectOptions())
	if err != nil || !n.Internal || n.Labels[LabelProject] != h.name {
		t.Errorf("network front: %+v %v", n.Labels, err)
	}
	if ch := h.apply(p); ch != nil {
		t.Fatalf("second apply: %+v", ch)
	}
	// An env file change is a change of the env, named in the plan.
	os.WriteFile(filepath.Join(dir, "app.env"), []byte("FROM_FILE=${GREETING}-file2\nOVERRIDDEN=file\nPW=${secret:DB_PASS}\n"), 0o644)
	if ch := h.plan(p); ch == nil || !strings.Contains(ch.Diff, "env FROM_FILE changed") {
		t.Fatalf("plan after env file change: %+v", ch)
	}
}
