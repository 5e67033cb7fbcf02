package daemon_test

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/homelab-agent/homelab-agent/agent/daemon"
)

// running is a daemon served by Run on a loopback port.
type running struct {
	*harness
	url    string
	cancel context.CancelFunc
	done   chan error
}

func (h *harness) run(opts daemon.Options) *running {
	h.t.Helper()
	h.d = h.newDaemon(opts)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		h.t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	r := &running{harness: h, url: "http://" + ln.Addr().String(), cancel: cancel, done: make(chan error, 1)}
	go func() { r.done <- h.d.Run(ctx, ln) }()
	h.t.Cleanup(r.stop)
	r.waitFor(func(s daemon.Status) bool { return s.Ready }, "ready")
	return r
}

func (r *running) stop() {
	if r.cancel != nil {
		r.cancel()
		<-r.done
		r.cancel = nil
	}
}

// waitFor waits for status updates until cond holds (10 s at most, a
// safety net: nothing here waits for time to pass).
func (r *running) waitFor(cond func(daemon.Status) bool, what string) daemon.Status {
	r.t.Helper()
	deadline := time.NewTimer(10 * time.Second)
	defer deadline.Stop()
	for {
		changed := r.d.StatusChanged()
		s := r.d.Status()
		if cond(s) {
			return s
		}
		select {
		case <-changed:
		case <-deadline.C:
			r.t.Fatalf("timed out waiting for %s: %+v", what, s)
		}
	}
}

func (r *running) post(path string, body []byte, hdr map[string]string) int {
	r.t.Helper()
	req, _ := http.NewRequest("POST", r.url+path, bytes.NewReader(body))
	for k, v := range hdr {
		req.Header.Set(k, v)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		r.t.Fatal(err)
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	return resp.StatusCode
}

func sign(secret string, body []byte) string {
	m := hmac.New(sha256.New, []byte(secret))
	m.Write(body)
	return hex.EncodeToString(m.Sum(nil))
}

func TestWebhook(t *testing.T) {
	const secret = "hook-secret"
	h := newHarness(t, func(c *daemon.Config) { c.WebhookSecret = secret })
	r := h.run(daemon.Options{})
	c0 := h.repo.Git("rev-parse", "HEAD")
	r.waitFor(func(s daemon.Status) bool { return s.AppliedCommit == c0 }, "first commit applied")

	body := []byte(`{"ref":"refs/heads/main"}`)
	push := func(upstream string) string {
		h.repo.Edit("homelab.yaml", "dns:     {upstream: "+h.currentUpstream()+"}", "dns:     {upstream: "+upstream+"}")
		return h.repo.CommitAndPush("upstream " + upstream)
	}
	c1 := push("mullvad-family")
	syncs := metric(t, h.d, `homelab_agent_syncs_total{result="ok"}`)
	for name, hdr := range map[string]map[string]string{
		"none":         {},
		"github wrong": {"X-Hub-Signature-256": "sha256=" + sign("wrong", body)},
		"github bare":  {"X-Hub-Signature-256": sign(secret, body)},
		"gitea wrong":  {"X-Gitea-Signature": sign("wrong", body)},
		"gitlab wrong": {"X-Gitlab-Token": "wrong"},
		"one of two":   {"X-Gitea-Signature": sign(secret, body), "X-Hub-Signature-256": "sha256=" + sign("wrong", body)},
	} {
		if code := r.post("/hooks/git", body, hdr); code != http.StatusUnauthorized {
			t.Errorf("%s: status %d, want 401", name, code)
		}
	}
	// Only an accepted webhook triggers a sync, and the handler counts it
	// before it answers: nothing was accepted, so nothing was triggered
	// (the poll interval is an hour). No waiting needed to know it.
	if v := metric(t, h.d, `homelab_agent_webhooks_total{result="accepted"}`); v != "" && v != "0" {
		t.Fatalf("a webhook with a bad signature was accepted (%s)", v)
	}
	if v := metric(t, h.d, `homelab_agent_webhooks_total{result="unauthorized"}`); v != "6" {
		t.Fatalf("unauthorized webhooks counted %q, want 6", v)
	}
	if s := h.d.Status(); s.AppliedCommit != c0 || metric(t, h.d, `homelab_agent_syncs_total{result="ok"}`) != syncs {
		t.Fatalf("a webhook with a bad signature did something: applied %s", s.AppliedCommit)
	}

	for i, hdr := range []map[string]string{
		{"X-Hub-Signature-256": "sha256=" + sign(secret, body), "X-GitHub-Event": "push"},
		{"X-Gitea-Signature": sign(secret, body)},
		{"X-Forgejo-Signature": sign(secret, body)},
		{"X-Gitlab-Token": secret},
	} {
		want := c1
		if i > 0 {
			want = push([]string{"mullvad-all", "mullvad-extended", "mullvad-adblock"}[i-1])
		}
		if code := r.post("/hooks/git", body, hdr); code != http.StatusAccepted {
			t.Fatalf("good webhook %v: status %d", hdr, code)
		}
		r.waitFor(func(s daemon.Status) bool { return s.AppliedCommit == want }, "applied after webhook")
	}

	// A push to another branch is acknowledged and ignored.
	other := []byte(`{"ref":"refs/heads/feature"}`)
	if code := r.post("/hooks/git", other, map[string]string{"X-Gitlab-Token": secret}); code != http.StatusAccepted {
		t.Fatalf("other branch: %d", code)
	}
	if v := metric(t, h.d, `homelab_agent_webhooks_total{result="ignored"}`); v != "1" {
		t.Fatalf("webhooks ignored = %q", v)
	}

	// The read-only endpoints.
	if b := httpGet(t, r.url+"/healthz"); b != "ok\n" {
		t.Fatalf("healthz: %q", b)
	}
	s := decodeStatus(t, httpGet(t, r.url+"/status"))
	if s.Host != "dns1" || s.Role != "dns" || s.HeadCommit == "" || s.LastReport == nil {
		t.Fatalf("status: %+v", s)
	}
	ids := map[string]bool{}
	for _, r := range s.Resources {
		ids[r.ID] = true
	}
	for _, id := range []string{"file:/etc/bind/named.conf", "file:/etc/bind/homelab/db.home.example", "nftables:inet homelab"} {
		if !ids[id] {
			t.Errorf("status lacks resource %s: %v", id, ids)
		}
	}
	m := httpGet(t, r.url+"/metrics")
	for _, want := range []string{"homelab_agent_syncs_total", "homelab_agent_applies_total", "homelab_agent_apply_duration_seconds_bucket",
		"homelab_agent_sync_duration_seconds_bucket", "homelab_agent_applied_commit_info{commit=\"" + s.AppliedCommit,
		"homelab_agent_seconds_since_last_sync", "homelab_agent_refused_commits_total"} {
		if !strings.Contains(m, want) {
			t.Errorf("metrics lack %s", want)
		}
	}
}

func (h *harness) currentUpstream() string {
	s := h.repo.Read("homelab.yaml")
	i := strings.Index(s, "{upstream: ")
	rest := s[i+len("{upstream: "):]
	return rest[:strings.Index(rest, "}")]
}

func httpGet(t *testing.T, url string) string {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return string(b)
}

func TestWebhookDisabledWithoutSecret(t *testing.T) {
	h := newHarness(t, nil)
	r := h.run(daemon.Options{})
	if code := r.post("/hooks/git", []byte("{}"), map[string]string{"X-Gitlab-Token": ""}); code != http.StatusForbidden {
		t.Fatalf("webhook without a configured secret: %d, want 403", code)
	}
}

// TestSdNotify runs the daemon with NOTIFY_SOCKET on a real unixgram
// socket and WATCHDOG_USEC set, and reads what it says.
func TestSdNotify(t *testing.T) {
	messages := listenNotify(t)
	t.Setenv("WATCHDOG_USEC", "50000")
	h := newHarness(t, nil)
	r := h.run(daemon.Options{Notify: daemon.SdNotify})
	waitMsg := func(prefix string) string {
		t.Helper()
		var found string
		messages.WaitFor(t, prefix+" message", func(ms []string) bool {
			for _, m := range ms {
				if strings.HasPrefix(m, prefix) {
					found = m
					return true
				}
			}
			return false
		})
		return found
	}
	ready := waitMsg("READY=1")
	if !strings.Contains(ready, "\nSTATUS=applied "+h.repo.Git("rev-parse", "HEAD")[:12]) {
		t.Fatalf("READY without the applied commit in STATUS: %q", ready)
	}
	waitMsg("WATCHDOG=1")
	r.stop()
	waitMsg("STOPPING=1")
}
