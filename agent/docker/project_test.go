package docker

import (
	"context"
	"os"
	"slices"
	"strings"
	"testing"
	"time"
)

const twoServices = `
services:
  db:
    image: IMAGE:v1
    environment: {SERVICE: db, PORT: "8080"}
    healthcheck:
      test: ["CMD", "/standin", "health"]
      interval: 200ms
      timeout: 2s
      retries: 50
    volumes:
      - ./db:/data
      - cache:/cache
    restart: unless-stopped
  web:
    image: IMAGE:v1
    environment:
      SERVICE: web
      FOO: bar
      DB_PASSWORD: ${secret:DB_PASS}
    ports: ["127.0.0.1::8080"]
    depends_on:
      db: {condition: service_healthy}
    restart: unless-stopped
volumes:
  cache: {}
`

func TestFirstApplyCreatesSecondIsNoop(t *testing.T) {
	h := newHarness(t)
	p := h.project(twoServices)
	ch := h.apply(p)
	if ch == nil || ch.Action != "create" || !strings.Contains(ch.Diff, "+ db") || !strings.Contains(ch.Diff, "+ web") {
		t.Fatalf("first apply: %+v", ch)
	}
	before := h.containers()
	if len(before) != 2 {
		t.Fatalf("want 2 containers, got %v", before)
	}
	for svc, c := range before {
		if c.State != "running" {
			t.Errorf("%s is %s", svc, c.State)
		}
	}
	env := h.inspect(before["web"].ID).Config.Env
	if !slices.Contains(env, "DB_PASSWORD=s3cr3t-value-xyz") {
		t.Errorf("secret not in the container's env: %v", env)
	}

	h.count.Calls()
	if ch := h.apply(h.project(twoServices)); ch != nil {
		t.Fatalf("second apply changed: %+v", ch)
	}
	calls := h.count.Calls()
	if len(calls) != 1 || !strings.HasPrefix(calls[0], "GET /containers/json") {
		t.Errorf("second apply made calls %v, want one list call", calls)
	}
	after := h.containers()
	for svc := range before {
		if before[svc].ID != after[svc].ID {
			t.Errorf("%s was recreated", svc)
		}
	}
}

func TestChangeRecreatesOnlyThatService(t *testing.T) {
	h := newHarness(t)
	h.apply(h.project(twoServices))
	first := h.containers()
	for _, tc := range []struct{ name, from, to, reason string }{
		{"env", "FOO: bar", "FOO: baz", "env FOO changed"},
		{"image", "image: IMAGE:v1\n    environment:\n      SERVICE: web", "image: IMAGE:v2\n    environment:\n      SERVICE: web", "image changed"},
		{"ports", `ports: ["127.0.0.1::8080"]`, `ports: ["127.0.0.1::8080", "127.0.0.1::8081"]`, "ports changed"},
		{"secret", "DB_PASSWORD: ${secret:DB_PASS}", "DB_PASSWORD: x${secret:DB_PASS}", "env DB_PASSWORD changed"},
	} {
		compose := strings.Replace(twoServices, tc.from, tc.to, 1)
		if compose == twoServices {
			t.Fatalf("%s: replacement did not apply", tc.name)
		}
		ch := h.plan(h.project(compose))
		if ch == nil || !strings.Contains(ch.Diff, "~ web (") || !strings.Contains(ch.Diff, tc.reason) || strings.Contains(ch.Diff, "db (") {
			t.Fatalf("%s: plan %+v, want only web with %q", tc.name, ch, tc.reason)
		}
		if strings.Contains(ch.Diff+ch.Summary, "s3cr3t") {
			t.Fatalf("%s: plan shows a secret value: %s", tc.name, ch.Diff)
		}
		h.apply(h.project(compose))
		now := h.containers()
		if now["db"].ID != first["db"].ID {
			t.Fatalf("%s: db was recreated", tc.name)
		}
		if now["web"].ID == first["web"].ID {
			t.Fatalf("%s: web was not recreated", tc.name)
		}
		first = now
		h.apply(h.project(twoServices)) // back
		first = h.containers()
	}
}

func TestDependencyOrderAndHealthWait(t *testing.T) {
	h := newHarness(t)
	compose := strings.NewReplacer(
		"SERVICE: db,", "SERVICE: db, HEALTHY_AFTER: 1500ms, LOG_FILE: /data/start.log,",
		"SERVICE: web", "SERVICE: web\n      LOG_FILE: /log/start.log",
		`ports: ["127.0.0.1::8080"]`, "volumes: [\"./db:/log\"]",
	).Replace(twoServices)
	start := time.Now()
	h.apply(h.project(compose))
	if d := time.Since(start); d < 1500*time.Millisecond {
		t.Errorf("apply took %s; it cannot have waited for db to be healthy", d)
	}
	// web writes its line just after its start call returns: poll.
	var data []byte
	for deadline := time.Now().Add(5 * time.Second); time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
		data, _ = os.ReadFile(h.dataDir() + "/db/start.log")
		if strings.Count(string(data), "\n") >= 2 {
			break
		}
	}
	lines := strings.Split(strings.TrimSpace(string(data)), "\n")
	if len(lines) != 2 || !strings.HasPrefix(lines[0], "db started") || !strings.HasPrefix(lines[1], "web started") {
		t.Fatalf("start order:\n%s", data)
	}
	var dbAt, webAt int64
	parse := func(l string) int64 { var n int64; f := strings.Fields(l); fmtSscan(f[2], &n); return n }
	dbAt, webAt = parse(lines[0]), parse(lines[1])
	if time.Duration(webAt-dbAt) < 1500*time.Millisecond {
		t.Errorf("web started %s after db, before db could be healthy", time.Duration(webAt-dbAt))
	}
	if st := h.inspect(h.name + "-db-1").State.Health.Status; st != "healthy" {
		t.Errorf("db health %s", st)
	}
}

func TestHealthWaitFailsClearly(t *testing.T) {
	h := newHarness(t)
	compose := strings.Replace(twoServices, "SERVICE: db,", "SERVICE: db, HEALTHY_AFTER: 1h,", 1)
	p := h.project(compose)
	p.HealthTimeout = 1500 * time.Millisecond
	_, err := p.CheckApply(context.Background(), h.env, true)
	if err == nil || !strings.Contains(err.Error(), "waiting for db to be healthy") {
		t.Fatalf("err = %v", err)
	}
	if _, ok := h.containers()["web"]; ok {
		t.Errorf("web was created although db never became healthy")
	}
}

func TestRemovedFromRepoAndDataSurvives(t *testing.T) {
	h := newHarness(t)
	keep := h.writeData("db/keep.txt", "precious")
	h.apply(h.project(twoServices))
	// Recreate db (env change), then remove web, then remove everything.
	h.apply(h.project(strings.Replace(twoServices, "SERVICE: db,", "SERVICE: db, X: y,", 1)))
	onlyDB := twoServices[:strings.Index(twoServices, "  web:")] + "volumes:\n  cache: {}\n"
	ch := h.plan(h.project(onlyDB))
	if ch == nil || !strings.Contains(ch.Diff, "- web (") || !strings.Contains(ch.Diff, "removed from repo") {
		t.Fatalf("plan: %+v", ch)
	}
	h.apply(h.project(onlyDB))
	cs := h.containers()
	if _, ok := cs["web"]; ok || len(cs) != 1 {
		t.Fatalf("containers after removal: %v", cs)
	}
	h.apply(h.project("services:\n  other:\n    image: IMAGE:v1\n"))
	if cs := h.containers(); len(cs) != 1 {
		t.Fatalf("containers: %v", cs)
	}
	if b, err := os.ReadFile(keep); err != nil || string(b) != "precious" {
		t.Fatalf("data did not survive: %q %v", b, err)
	}
	if _, err := h.cli.VolumeInspect(context.Background(), h.name+"_cache"); err != nil {
		t.Fatalf("named volume did not survive: %v", err)
	}
}
