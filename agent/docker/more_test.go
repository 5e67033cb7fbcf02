package docker

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/docker/docker/api/types/container"
	"github.com/docker/docker/client"

	"github.com/homelab-agent/homelab-agent/agent/docker/dockertest"
	"github.com/homelab-agent/homelab-agent/agent/resource"
	"github.com/homelab-agent/homelab-agent/agent/secrets"
)

func TestUnmanagedContainerLeftAlone(t *testing.T) {
	h := newHarness(t)
	ctx := context.Background()
	// Same compose project label as docker compose would set, but not ours.
	other, err := h.cli.ContainerCreate(ctx, &container.Config{Image: h.image + ":v1",
		Labels: map[string]string{"com.docker.compose.project": h.name, "com.docker.compose.service": "web"}},
		nil, nil, nil, h.name+"-unmanaged")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { h.cli.ContainerRemove(ctx, other.ID, container.RemoveOptions{Force: true}) })
	h.apply(h.project(twoServices))
	h.apply(h.project("services:\n  other:\n    image: IMAGE:v1\n"))
	if _, err := h.cli.ContainerInspect(ctx, other.ID); err != nil {
		t.Fatalf("unmanaged container is gone: %v", err)
	}
	// A name taken by an unmanaged container is a clear error, not a takeover.
	p := h.project("services:\n  x:\n    image: IMAGE:v1\n    container_name: " + h.name + "-unmanaged\n")
	_, err = p.CheckApply(ctx, h.env, true)
	if err == nil || !strings.Contains(err.Error(), "does not manage") {
		t.Fatalf("err = %v", err)
	}
	if info, err := h.cli.ContainerInspect(ctx, other.ID); err != nil || info.Config.Labels[LabelProject] != "" {
		t.Fatalf("unmanaged container touched: %v", err)
	}
}

func TestDaemonUnreachable(t *testing.T) {
	p := &Project{Source: Source{Name: "x", Files: []File{{Name: "compose.yaml", Content: []byte("services:\n  a:\n    image: busybox\n")}}},
		Connect: func() (*client.Client, error) {
			return client.NewClientWithOpts(client.WithHost("unix:///nonexistent/docker.sock"), client.WithAPIVersionNegotiation())
		}, Environ: []string{}}
	env := &resource.Env{Root: t.TempDir(), Secrets: secrets.FromMap(nil)}
	_, err := p.CheckApply(context.Background(), env, false)
	var ue *UnreachableError
	if !errors.As(err, &ue) || !strings.Contains(err.Error(), "cannot reach the Docker Engine at unix:///nonexistent/docker.sock") {
		t.Fatalf("err = %v", err)
	}
}

func TestUnsupportedKeyNamesFileAndKey(t *testing.T) {
	for _, tc := range []struct{ compose, want string }{
		{"services:\n  web:\n    image: x\n    build: .\n", "compose.yaml:4:5: services.web.build: not supported by homelab-agent (build the image elsewhere"},
		{"services:\n  web:\n    image: x\n    healthcheck:\n      start_interval: 1s\n", "compose.yaml:5:7: services.web.healthcheck.start_interval: not supported"},
		{"services:\n  web:\n    image: x\nsecrets:\n  a: {file: x}\n", "compose.yaml:4:1: secrets: not supported"},
		{"services:\n  web:\n    image: x\n    volumes:\n      - type: bind\n        source: /a\n        target: /b\n        consistency: cached\n", "compose.yaml:8:9: services.web.volumes.consistency"},
	} {
		p := &Project{Source: Source{Name: "x", Files: []File{{Name: "compose.yaml", Content: []byte(tc.compose)}}}, Environ: []string{}}
		_, err := p.CheckApply(context.Background(), &resource.Env{Root: "/", Secrets: secrets.FromMap(nil)}, false)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("err = %v, want %q", err, tc.want)
		}
	}
}

func TestSecretsStayPlaceholders(t *testing.T) {
	src := &Source{Name: "p", Vars: map[string]string{"PW": "${secret:DB_PASS}"}, Files: []File{{Name: "c.yaml", Content: []byte(
		"services:\n  a:\n    image: x\n    command: [\"--pw\", \"${PW}\"]\n    environment:\n      A: ${secret:DB_PASS}\n      B: pre-${PW:-none}\n")}}}
	proj, err := loadProject(context.Background(), src, func(s string) string { return s }, []string{"HOMELAB_SECRET_DB_PASS=leak"})
	if err != nil {
		t.Fatal(err)
	}
	s := proj.Services[0]
	if s.Env["A"] != "«secret:DB_PASS»" || s.Env["B"] != "pre-«secret:DB_PASS»" || s.Command[1] != "«secret:DB_PASS»" {
		t.Fatalf("spec: %+v", s)
	}
	if strings.Join(proj.Secrets, ",") != "DB_PASS" {
		t.Fatalf("secrets %v", proj.Secrets)
	}
	store := secrets.FromMap(map[string]string{"DB_PASS": `va"l\ue`})
	cc, err := s.build(store, "h", "f")
	if err != nil {
		t.Fatal(err)
	}
	if cc.Config.Cmd[1] != `va"l\ue` || !strings.Contains(strings.Join(cc.Config.Env, " "), `B=pre-va"l\ue`) {
		t.Fatalf("create config: %v %v", cc.Config.Cmd, cc.Config.Env)
	}
	if _, err := s.build(secrets.FromMap(nil), "h", "f"); err == nil || !strings.Contains(err.Error(), "missing secret DB_PASS") {
		t.Fatalf("missing secret: %v", err)
	}
}

func TestStoppedContainerIsStarted(t *testing.T) {
	h := newHarness(t)
	h.apply(h.project(twoServices))
	web := h.containers()["web"]
	if err := h.cli.ContainerStop(context.Background(), web.ID, container.StopOptions{}); err != nil {
		t.Fatal(err)
	}
	ch := h.apply(h.project(twoServices))
	if ch == nil || !strings.Contains(ch.Diff, "~ web (") || !strings.Contains(ch.Diff, "stopped") {
		t.Fatalf("change %+v", ch)
	}
	if c := h.containers()["web"]; c.ID != web.ID || c.State != "running" {
		t.Fatalf("web %s %s", c.ID, c.State)
	}
}

var _ = dockertest.Name

// The agent's configuration variables never feed a compose file's
// interpolation: ${HOMELAB_AGENT_AUTH_TOKEN} would put the repo token in
// a container's environment.
func TestAgentVariablesNotInterpolated(t *testing.T) {
	src := &Source{Name: "p", Files: []File{{Name: "c.yaml", Content: []byte(
		"services:\n  a:\n    image: x\n    environment:\n      T: ${HOMELAB_AGENT_AUTH_TOKEN:-none}\n      H: ${HOME:-unset}\n")}}}
	proj, err := loadProject(context.Background(), src, func(s string) string { return s },
		[]string{"HOMELAB_AGENT_AUTH_TOKEN=tok-123", "HOME=/root"})
	if err != nil {
		t.Fatal(err)
	}
	if env := proj.Services[0].Env; env["T"] != "none" || env["H"] != "/root" {
		t.Fatalf("environment = %v", env)
	}
}

// A compose folder's .env or env_file that links out of the lab repo is
// refused, its content never read.
func TestRepoEnvFileLinkOutsideRefused(t *testing.T) {
	top := t.TempDir()
	repo := filepath.Join(top, "repo")
	dir := filepath.Join(repo, "apps", "x")
	os.MkdirAll(dir, 0o755)
	os.WriteFile(filepath.Join(top, "secret"), []byte("LEAK=TOPSECRET-1\n"), 0o600)
	compose := []byte("services:\n  a:\n    image: x\n    environment:\n      L: ${LEAK:-none}\n")
	src := func() *Source {
		return &Source{Name: "p", Dir: dir, Repo: repo, Files: []File{{Name: "apps/x/compose.yaml", Content: compose}}}
	}
	os.Symlink("../../../secret", filepath.Join(dir, ".env"))
	_, err := loadProject(context.Background(), src(), func(s string) string { return s }, nil)
	if err == nil || !strings.Contains(err.Error(), "leads out of the lab repo") || strings.Contains(err.Error(), "TOPSECRET") {
		t.Fatalf(".env linking out: %v", err)
	}
	os.Remove(filepath.Join(dir, ".env"))
	os.Symlink("../../../secret", filepath.Join(dir, "app.env"))
	ef := &Source{Name: "p", Dir: dir, Repo: repo, Files: []File{{Name: "apps/x/compose.yaml", Content: []byte(
		"services:\n  a:\n    image: x\n    env_file: app.env\n")}}}
	_, err = loadProject(context.Background(), ef, func(s string) string { return s }, nil)
	if err == nil || !strings.Contains(err.Error(), "leads out of the lab repo") || strings.Contains(err.Error(), "TOPSECRET") {
		t.Fatalf("env_file linking out: %v", err)
	}
}
