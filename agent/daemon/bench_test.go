package daemon_test

import (
	"net/http"
	"slices"
	"testing"
	"time"

	"github.com/homelab-agent/homelab-agent/agent/daemon"
)

// BenchmarkWebhookPushToApplied measures the time from a finished `git
// push` of a one-file change (the DNS upstream, which changes named.conf)
// to the daemon having applied it, when the push's webhook triggers the
// sync. The git server is git http-backend on loopback.
func BenchmarkWebhookPushToApplied(b *testing.B) {
	h := newHarness(b, func(c *daemon.Config) { c.WebhookSecret = "bench" })
	r := h.run(daemon.Options{})
	benchWebhook(b, h, r)
}

func benchWebhook(b *testing.B, h *harness, r *running) {
	body := []byte(`{"ref":"refs/heads/main"}`)
	hdr := map[string]string{"X-Gitlab-Token": "bench"}
	upstreams := []string{"mullvad-family", "mullvad-base"}
	var lat []time.Duration
	b.ResetTimer()
	for i := 0; b.Loop(); i++ {
		b.StopTimer()
		h.repo.Edit("homelab.yaml", "{upstream: "+h.currentUpstream()+"}", "{upstream: "+upstreams[i%2]+"}")
		want := h.repo.CommitAndPush("bench")
		b.StartTimer()
		start := time.Now()
		if code := r.post("/hooks/git", body, hdr); code != http.StatusAccepted {
			b.Fatalf("webhook: %d", code)
		}
		r.waitFor(func(s daemon.Status) bool { return s.AppliedCommit == want }, "applied")
		lat = append(lat, time.Since(start))
	}
	slices.Sort(lat)
	b.ReportMetric(float64(lat[len(lat)/2].Microseconds())/1000, "p50-ms")
	b.ReportMetric(float64(lat[len(lat)*9/10].Microseconds())/1000, "p90-ms")
}

// BenchmarkIdlePass measures a whole poll when nothing changed: the ref
// listing, then the re-apply of the current commit (checkout, load,
// a no-op apply), which corrects local drift.
func BenchmarkIdlePass(b *testing.B) {
	h := newHarness(b, nil)
	h.converge()
	for b.Loop() {
		h.d.Converge(b.Context())
	}
	if s := h.d.Status(); s.LastError != "" {
		b.Fatal(s.LastError)
	}
}
