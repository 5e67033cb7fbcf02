package daemon_test

import (
	"bytes"
	"io"
	"net/http"
	"net/http/httptest"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/homelab-agent/homelab-agent/agent/daemon"
)

// countingBody is a request body of n bytes that counts what is read
// from it and, when gate is set, blocks its first read until gate closes.
type countingBody struct {
	n, read int64
	gate    chan struct{}
	once    sync.Once
	started chan struct{}
}

func (b *countingBody) Read(p []byte) (int, error) {
	if b.gate != nil {
		b.once.Do(func() { close(b.started) })
		<-b.gate
	}
	left := b.n - atomic.LoadInt64(&b.read)
	if left <= 0 {
		return 0, io.EOF
	}
	k := min(int64(len(p)), left)
	clear(p[:k])
	atomic.AddInt64(&b.read, k)
	return int(k), nil
}

func (b *countingBody) Close() error { return nil }

func hookRequest(body *countingBody, hdr map[string]string) *http.Request {
	r := httptest.NewRequest(http.MethodPost, "/hooks/git", nil)
	r.Body = body
	r.ContentLength = -1 // chunked: the server cannot trust a length
	for k, v := range hdr {
		r.Header.Set(k, v)
	}
	return r
}

// Unauthenticated or oversized webhook requests are refused without
// reading their body: memory does not grow with what is posted.
func TestWebhookRefusesBeforeReadingTheBody(t *testing.T) {
	const big = 26 << 20
	off := newHarness(t, nil)
	on := newHarness(t, func(c *daemon.Config) { c.WebhookSecret = "hook-secret" })
	for _, tc := range []struct {
		name string
		h    *harness
		hdr  map[string]string
		code int
	}{
		{"webhooks off", off, map[string]string{"X-Hub-Signature-256": "sha256=00"}, http.StatusForbidden},
		{"no signature", on, nil, http.StatusUnauthorized},
		{"wrong gitlab token", on, map[string]string{"X-Gitlab-Token": "wrong"}, http.StatusUnauthorized},
	} {
		body := &countingBody{n: big}
		w := httptest.NewRecorder()
		tc.h.d.Handler().ServeHTTP(w, hookRequest(body, tc.hdr))
		if w.Code != tc.code || body.read != 0 {
			t.Errorf("%s: status %d (want %d), %d body bytes read (want 0)", tc.name, w.Code, tc.code, body.read)
		}
	}
	// A declared length over the limit: 413 unread.
	body := &countingBody{n: big}
	r := hookRequest(body, map[string]string{"X-Hub-Signature-256": "sha256=00"})
	r.ContentLength = big
	w := httptest.NewRecorder()
	on.d.Handler().ServeHTTP(w, r)
	if w.Code != http.StatusRequestEntityTooLarge || body.read != 0 {
		t.Errorf("declared 26 MB: status %d, %d bytes read", w.Code, body.read)
	}
	// A signature header and an undeclared length: read up to the limit only.
	body = &countingBody{n: big}
	w = httptest.NewRecorder()
	on.d.Handler().ServeHTTP(w, hookRequest(body, map[string]string{"X-Hub-Signature-256": "sha256=00"}))
	if w.Code != http.StatusRequestEntityTooLarge || body.read > daemon.MaxHookBody+64<<10 {
		t.Errorf("chunked 26 MB: status %d, %d bytes read (limit %d)", w.Code, body.read, daemon.MaxHookBody)
	}
}

// At most a few webhook requests are served at once; the rest get 503
// without their body being read.
func TestWebhookConcurrencyIsBounded(t *testing.T) {
	h := newHarness(t, func(c *daemon.Config) { c.WebhookSecret = "hook-secret" })
	handler := h.d.Handler()
	gate := make(chan struct{})
	var wg sync.WaitGroup
	var held []*countingBody
	for range 4 {
		b := &countingBody{n: 10, gate: gate, started: make(chan struct{})}
		held = append(held, b)
		wg.Add(1)
		go func() {
			defer wg.Done()
			handler.ServeHTTP(httptest.NewRecorder(), hookRequest(b, map[string]string{"X-Hub-Signature-256": "sha256=00"}))
		}()
		select {
		case <-b.started:
		case <-time.After(5 * time.Second):
			t.Fatal("a webhook request did not start reading")
		}
	}
	extra := &countingBody{n: 10}
	w := httptest.NewRecorder()
	handler.ServeHTTP(w, hookRequest(extra, map[string]string{"X-Hub-Signature-256": "sha256=00"}))
	close(gate)
	wg.Wait()
	if w.Code != http.StatusServiceUnavailable || extra.read != 0 {
		t.Fatalf("fifth concurrent webhook: status %d, %d bytes read; want 503, 0", w.Code, extra.read)
	}
	// Slots are given back.
	w = httptest.NewRecorder()
	handler.ServeHTTP(w, hookRequest(&countingBody{n: 10}, map[string]string{"X-Hub-Signature-256": "sha256=00"}))
	if w.Code != http.StatusUnauthorized {
		t.Fatalf("after the others ended: status %d, want 401", w.Code)
	}
}

// A delivery id seen before is refused, per forge header.
func TestWebhookReplayRefused(t *testing.T) {
	const secret = "hook-secret"
	h := newHarness(t, func(c *daemon.Config) { c.WebhookSecret = secret })
	body := []byte(`{"ref":"refs/heads/main"}`)
	post := func(hdr map[string]string) int {
		r := httptest.NewRequest(http.MethodPost, "/hooks/git", nil)
		r.Body = io.NopCloser(bytes.NewReader(body))
		r.ContentLength = int64(len(body))
		for k, v := range hdr {
			r.Header.Set(k, v)
		}
		w := httptest.NewRecorder()
		h.d.Handler().ServeHTTP(w, r)
		return w.Code
	}
	for i, hdr := range []map[string]string{
		{"X-Hub-Signature-256": "sha256=" + sign(secret, body), "X-GitHub-Delivery": "72d3162e-cc78-11e3-81ab-4c9367dc0958"},
		{"X-Gitea-Signature": sign(secret, body), "X-Gitea-Delivery": "d1"},
		{"X-Gitlab-Token": secret, "X-Gitlab-Event-UUID": "13792a34-cac6-4fda-95a8-c58e00a3954e"},
	} {
		if code := post(hdr); code != http.StatusAccepted {
			t.Fatalf("delivery %d: status %d, want 202", i, code)
		}
		if code := post(hdr); code != http.StatusConflict {
			t.Fatalf("delivery %d replayed: status %d, want 409", i, code)
		}
	}
	// Another id is a new delivery.
	if code := post(map[string]string{"X-Gitea-Signature": sign(secret, body), "X-Gitea-Delivery": "d" + strconv.Itoa(2)}); code != http.StatusAccepted {
		t.Fatalf("new delivery: %d", code)
	}
}

func TestServerTimeouts(t *testing.T) {
	s := daemon.NewServer(http.NotFoundHandler())
	if s.ReadHeaderTimeout <= 0 || s.ReadTimeout <= 0 || s.IdleTimeout <= 0 || s.MaxHeaderBytes <= 0 {
		t.Fatalf("server without timeouts: %+v", s)
	}
}

// BenchmarkWebhookUnsignedBigPost: an unsigned 26 MB POST costs what the
// refusal costs, whatever the body's size (B/op stays in kilobytes).
func BenchmarkWebhookUnsignedBigPost(b *testing.B) {
	h := newHarness(b, func(c *daemon.Config) { c.WebhookSecret = "hook-secret" })
	handler := h.d.Handler()
	b.ReportAllocs()
	for b.Loop() {
		body := &countingBody{n: 26 << 20}
		w := httptest.NewRecorder()
		handler.ServeHTTP(w, hookRequest(body, nil))
		if w.Code != http.StatusUnauthorized || body.read != 0 {
			b.Fatalf("status %d, %d bytes read", w.Code, body.read)
		}
	}
}
