package docker

import (
	"context"
	"testing"

	"github.com/homelab-agent/homelab-agent/agent/docker/dockertest"
	"github.com/homelab-agent/homelab-agent/agent/resource"
	"github.com/homelab-agent/homelab-agent/agent/secrets"
)

const fourServices = `
services:
  app:
    image: IMAGE:v1
    environment: {SERVICE: app, PASSWORD: "${secret:DB_PASS}"}
    ports: ["127.0.0.1::8080"]
    depends_on: [db, cache]
    volumes: ["./app:/data"]
    restart: unless-stopped
  db:
    image: IMAGE:v1
    environment: {SERVICE: db}
    volumes: ["./db:/data"]
    restart: unless-stopped
  cache:
    image: IMAGE:v1
    restart: unless-stopped
  cron:
    image: IMAGE:v1
    depends_on: [app]
    restart: unless-stopped
`

// BenchmarkContainersNoop is a pass over a converged 4-service project:
// the target is one list call and no write.
func BenchmarkContainersNoop(b *testing.B) {
	h := &harness{name: dockertest.Name(b)}
	h.cli, h.count = dockertest.CountingClient(b)
	h.image = "homelab-test-" + h.name
	dockertest.Tag(b, h.image+":v1")
	b.Cleanup(func() { h.cli.ImageRemove(context.Background(), h.image+":v1", imageRemoveOptions()) })
	dockertest.CleanupProject(b, LabelProject, h.name)
	h.env = &resource.Env{Root: b.TempDir(), Secrets: secrets.FromMap(map[string]string{"DB_PASS": "pw"})}
	p := h.project(fourServices)
	ctx := context.Background()
	if _, err := p.CheckApply(ctx, h.env, true); err != nil {
		b.Fatal(err)
	}
	h.count.Calls()
	b.ResetTimer()
	for b.Loop() {
		ch, err := p.CheckApply(ctx, h.env, true)
		if err != nil || ch != nil {
			b.Fatalf("not a no-op: %+v %v", ch, err)
		}
	}
	b.StopTimer()
	calls := h.count.Calls()
	b.ReportMetric(float64(len(calls))/float64(b.N), "calls/op")
	b.ReportMetric(float64(len(dockertest.Writes(calls)))/float64(b.N), "writes/op")
}

// BenchmarkLoadProject is the compose-go part of a pass: parsing and
// interpolating the 4-service file, without the engine.
func BenchmarkLoadProject(b *testing.B) {
	src := &Source{Name: "bench", Files: []File{{Name: "compose.yaml", Content: []byte(fourServices)}}, DataDir: "/srv/data/bench"}
	ctx := context.Background()
	for b.Loop() {
		if _, err := loadProject(ctx, src, func(s string) string { return s }, nil); err != nil {
			b.Fatal(err)
		}
	}
}
