package immich_test

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/homelab-agent/homelab-agent/agent/backup"
	"github.com/homelab-agent/homelab-agent/agent/docker"
	"github.com/homelab-agent/homelab-agent/agent/docker/dockertest"
	"github.com/homelab-agent/homelab-agent/internal/testreq"
	"github.com/homelab-agent/homelab-agent/roles/immich"
	"github.com/homelab-agent/homelab-agent/roles/rolestest"
)

// The image names upstream's compose file and the role's use.
var images = []string{
	"ghcr.io/immich-app/immich-server:release",
	"ghcr.io/immich-app/immich-machine-learning:release",
	"docker.io/valkey/valkey:8-bookworm",
	"ghcr.io/immich-app/postgres:14-vectorchord0.4.3-pgvectors0.2.0",
}

// TestUpstreamComposeAppliesUnchanged drops upstream's docker-compose.yml
// and example.env (as .env, as upstream's guide says) into a lab repo.
// Two of its images are pinned by digest, which no local image can carry
// without a registry: dockertest.DigestProxy hands the engine the tag.
func TestUpstreamComposeAppliesUnchanged(t *testing.T) {
	compose, err := os.ReadFile(testreq.SharedFile(t, "compat/immich/docker-compose.yml"))
	if err != nil {
		t.Fatal(err)
	}
	envFile, err := os.ReadFile(testreq.SharedFile(t, "compat/immich/example.env"))
	if err != nil {
		t.Fatal(err)
	}
	rolestest.Standins(t, []string{immich.Project}, images...)
	t.Setenv("DOCKER_HOST", dockertest.DigestProxy(t))
	l := rolestest.Lab(t, "  photos: {ip: 192.168.100.11, role: immich, compose: immich/docker-compose.yml}\n",
		map[string]string{"immich/docker-compose.yml": string(compose), "immich/.env": string(envFile)})
	root := t.TempDir()

	plan := rolestest.Pass(t, l, "photos", root, false)
	text := rolestest.Text(plan)
	for _, want := range []string{"+ database (immich_postgres): new", "+ immich-server (immich_server): new", "+ redis (immich_redis): new", "+ immich-machine-learning (immich_machine_learning): new"} {
		if !strings.Contains(text, want) {
			t.Errorf("plan lacks %q:\n%s", want, text)
		}
	}
	rolestest.Pass(t, l, "photos", root, true)
	if rep := rolestest.Pass(t, l, "photos", root, true); rep.Changed {
		t.Fatalf("second apply changed:\n%s", rolestest.Text(rep))
	}

	cli := dockertest.Client(t)
	ctx := context.Background()
	server, err := cli.ContainerInspect(ctx, "immich_server")
	if err != nil {
		t.Fatal(err)
	}
	if !server.State.Running || !slices.Contains(server.Config.Env, "DB_PASSWORD=postgres") {
		t.Errorf("immich_server: running=%v env=%v", server.State.Running, server.Config.Env)
	}
	lib := filepath.Join(root, "srv/data/immich/library") + ":/data"
	if !slices.Contains(server.HostConfig.Binds, lib) {
		t.Errorf("binds %v, want %s (./library under the data dir)", server.HostConfig.Binds, lib)
	}
	db, err := cli.ContainerInspect(ctx, "immich_postgres")
	if err != nil {
		t.Fatal(err)
	}
	if db.HostConfig.ShmSize != 128<<20 {
		t.Errorf("shm_size %d", db.HostConfig.ShmSize)
	}
	if db.Config.Image != "ghcr.io/immich-app/postgres:14-vectorchord0.4.3-pgvectors0.2.0" {
		t.Errorf("database image %s", db.Config.Image)
	}
}

func TestRoleRunsAndDumps(t *testing.T) {
	rolestest.Standins(t, []string{immich.Project}, images...)
	l := rolestest.Lab(t, "  photos: {ip: 192.168.100.11, role: immich, expose: {port: 22283}}\n", nil)
	root := t.TempDir()
	rep := rolestest.Pass(t, l, "photos", root, true)
	if !rep.Changed {
		t.Fatal("first apply changed nothing")
	}
	if rep := rolestest.Pass(t, l, "photos", root, true); rep.Changed {
		t.Fatalf("second apply changed:\n%s", rolestest.Text(rep))
	}
	cli := dockertest.Client(t)
	ctx := context.Background()
	server, err := cli.ContainerInspect(ctx, "immich_server")
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Contains(server.Config.Env, "DB_PASSWORD="+rolestest.Secrets["IMMICH_DB_PASSWORD"]) {
		t.Errorf("env %v", server.Config.Env)
	}
	if b := server.HostConfig.PortBindings["2283/tcp"]; len(b) != 1 || b[0].HostPort != "22283" {
		t.Errorf("port bindings %v", server.HostConfig.PortBindings)
	}
	var dump bytes.Buffer
	waitReady(t, cli)
	if err := rolestest.Service(t, l, "photos").Dump.Dump(ctx, backup.Env{Lab: l, Host: l.Hosts.Get("photos"), Docker: cli}, &dump); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"PostgreSQL database cluster dump", "DROP DATABASE IF EXISTS immich;", "CREATE DATABASE immich"} {
		if !strings.Contains(dump.String(), want) {
			t.Fatalf("dump lacks %q:\n%s", want, dump.String())
		}
	}
	// A failing dump is an error (the database service is gone).
	if err := docker.Stop(ctx, cli, immich.Project, immich.Database); err != nil {
		t.Fatal(err)
	}
	if err := rolestest.Service(t, l, "photos").Dump.Dump(ctx, backup.Env{Docker: cli}, &dump); err == nil {
		t.Fatal("dump of a stopped database succeeded")
	}
}
