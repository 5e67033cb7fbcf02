package daemon_test

import (
	"bytes"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/homelab-agent/homelab-agent/agent"
	"github.com/homelab-agent/homelab-agent/agent/daemon"
	"github.com/homelab-agent/homelab-agent/agent/gitsync"
	labpkg "github.com/homelab-agent/homelab-agent/agent/lab"
)

// syncBuffer is a log sink the daemon's goroutines may write concurrently.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// TestEmptyAppItemRefused pushes `apps: [~]`, which used to panic the
// parser (a crash loop on every host at once): it is an invalid commit
// with its position, and the host stays on the last good commit.
func TestEmptyAppItemRefused(t *testing.T) {
	h := newHarness(t, nil)
	c0 := h.repo.Git("rev-parse", "HEAD")
	h.converge()
	h.repo.Edit("homelab.yaml", "apps:\n", "apps:\n  - ~\n")
	c1 := h.repo.CommitAndPush("an empty app")
	s := h.converge()
	if s.BadCommit != c1 || s.LastGoodCommit != c0 || s.AppliedCommit != c0 {
		t.Fatalf("bad %s good %s applied %s, want bad %s good %s", s.BadCommit, s.LastGoodCommit, s.AppliedCommit, c1, c0)
	}
	if !strings.Contains(s.BadReason, "homelab.yaml:26:5: apps: empty list item") {
		t.Fatalf("bad_reason %q", s.BadReason)
	}
}

// TestPanickingCommitMarkedBad makes loading one commit panic: the daemon
// marks it bad with the panic's message (the stack only in the log),
// keeps the last good state, keeps serving, and applies the next commit.
func TestPanickingCommitMarkedBad(t *testing.T) {
	daemon.SetLoadLab(t, func(dir string) (*labpkg.Lab, error) {
		if b, _ := os.ReadFile(filepath.Join(dir, labpkg.LabFile)); bytes.Contains(b, []byte("lab.example")) {
			var hosts []*labpkg.Host
			_ = hosts[3] // index out of range
		}
		return agent.LoadLab(dir)
	})
	var log syncBuffer
	h := newHarness(t, nil)
	r := h.run(daemon.Options{Log: slog.New(slog.NewTextHandler(&log, nil))})
	c0 := h.repo.Git("rev-parse", "HEAD")
	r.waitFor(func(s daemon.Status) bool { return s.AppliedCommit == c0 }, "first commit applied")

	h.repo.Edit("homelab.yaml", "domain: home.example", "domain: lab.example")
	c1 := h.repo.CommitAndPush("a commit the loader panics on")
	h.d.Trigger()
	s := r.waitFor(func(s daemon.Status) bool { return s.BadCommit == c1 }, "the panicking commit marked bad")
	if s.LastGoodCommit != c0 || s.AppliedCommit != c0 {
		t.Fatalf("good %s applied %s, want %s", s.LastGoodCommit, s.AppliedCommit, c0)
	}
	if !strings.Contains(s.BadReason, "panic: runtime error: index out of range [3] with length 0") {
		t.Fatalf("bad_reason %q lacks the panic's message", s.BadReason)
	}
	// Over HTTP: still serving, and no stack in /status.
	hs := getStatus(t, strings.TrimPrefix(r.url, "http://"))
	if hs.BadCommit != c1 {
		t.Fatalf("/status bad_commit %s, want %s", hs.BadCommit, c1)
	}
	resp, err := http.Get(r.url + "/status")
	if err != nil {
		t.Fatal(err)
	}
	var body bytes.Buffer
	body.ReadFrom(resp.Body)
	resp.Body.Close()
	if strings.Contains(body.String(), "goroutine") || strings.Contains(body.String(), ".go:") {
		t.Fatalf("/status holds a stack: %s", body.String())
	}
	if st := h.state(); strings.Contains(st.BadReason, "goroutine") {
		t.Fatalf("state.json holds a stack: %q", st.BadReason)
	}
	if !strings.Contains(log.String(), "panic while loading or applying commit") || !strings.Contains(log.String(), "goroutine") {
		t.Fatalf("the log lacks the panic and its stack:\n%s", log.String())
	}
	if n := metric(t, h.d, `homelab_agent_refused_commits_total{reason="panic"}`); n != "1" {
		t.Fatalf("refused_commits_total{panic} = %q", n)
	}
	if !strings.Contains(h.file(namedConf), `zone "home.example"`) {
		t.Fatal("the last good state was not kept")
	}

	// The next commit is applied as usual.
	h.repo.Edit("homelab.yaml", "domain: lab.example", "domain: other.example")
	c2 := h.repo.CommitAndPush("a good commit")
	h.d.Trigger()
	r.waitFor(func(s daemon.Status) bool { return s.AppliedCommit == c2 && s.BadCommit == "" }, "the next commit applied")
}

// TestWatchdogStopsWhileStuck runs the daemon with NOTIFY_SOCKET on a
// real unixgram socket and its git server behind a proxy that can be made
// to hang: while a pass is stuck in the hung sync, WATCHDOG=1 stops (so
// systemd would restart the agent); when it moves again, it resumes.
func TestWatchdogStopsWhileStuck(t *testing.T) {
	messages := listenNotify(t)
	t.Setenv("WATCHDOG_USEC", "40000") // a ping every 20ms

	h := newHarness(t, nil)
	target, _ := url.Parse(h.srv.URL(""))
	var hang atomic.Bool
	release := make(chan struct{})
	proxy := httputil.NewSingleHostReverseProxy(target)
	front := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		if hang.Load() {
			<-release // accepts, never answers
			http.Error(w, "gone", http.StatusBadGateway)
			return
		}
		proxy.ServeHTTP(w, req)
	}))
	t.Cleanup(front.Close)
	var releaseOnce sync.Once
	t.Cleanup(func() { releaseOnce.Do(func() { close(release) }) })
	h.cfg.Repo = front.URL + "/lab.git"

	var log syncBuffer
	r := h.run(daemon.Options{Notify: daemon.SdNotify, StuckAfter: 300 * time.Millisecond, SyncTimeout: time.Minute,
		Log: slog.New(slog.NewTextHandler(&log, nil))})
	pings := func(ms []string) int {
		return len(slices.DeleteFunc(ms, func(m string) bool { return m != "WATCHDOG=1" }))
	}
	count := func() int { return pings(messages.All()) }
	waitGrow := func(what string) {
		t.Helper()
		n := count()
		messages.WaitFor(t, "WATCHDOG=1 "+what, func(ms []string) bool { return pings(ms) > n })
	}
	waitGrow("while idle")

	hang.Store(true)
	h.d.Trigger()
	// After StuckAfter without a heartbeat the pings stop: the log says so
	// at the first silent period; then 15 more periods pass without one.
	// (systemd's watchdog is wall-clock time, and so are these periods.)
	for deadline := time.Now().Add(5 * time.Second); !strings.Contains(log.String(), "no longer feeding the systemd watchdog"); time.Sleep(5 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("the stuck pass was not noticed; log:\n%s", log.String())
		}
	}
	n := count()
	time.Sleep(300 * time.Millisecond) // 15 periods: the pings must not come
	if got := count(); got != n {
		t.Fatalf("WATCHDOG=1 sent %d times while the pass was stuck", got-n)
	}

	// The server answers again: the pass ends and the pings resume.
	hang.Store(false)
	releaseOnce.Do(func() { close(release) })
	waitGrow("after the pass moved again")
	r.stop()
}

// listenNotify listens on a unixgram socket as systemd does, points
// NOTIFY_SOCKET at it and returns what was received so far.
func listenNotify(t *testing.T) *notifyLog {
	t.Helper()
	dir, err := os.MkdirTemp("", "notify")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	sock := filepath.Join(dir, "notify.sock")
	conn, err := net.ListenUnixgram("unixgram", &net.UnixAddr{Name: sock, Net: "unixgram"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	n := &notifyLog{changed: make(chan struct{})}
	go func() {
		buf := make([]byte, 4096)
		for {
			k, err := conn.Read(buf)
			if err != nil {
				return
			}
			n.mu.Lock()
			n.got = append(n.got, string(buf[:k]))
			close(n.changed)
			n.changed = make(chan struct{})
			n.mu.Unlock()
		}
	}()
	t.Setenv("NOTIFY_SOCKET", sock)
	return n
}

// notifyLog holds the sd_notify messages the daemon sent.
type notifyLog struct {
	mu      sync.Mutex
	got     []string
	changed chan struct{} // closed at the next message
}

// All returns the messages so far.
func (n *notifyLog) All() []string {
	n.mu.Lock()
	defer n.mu.Unlock()
	return slices.Clone(n.got)
}

// WaitFor waits for messages until cond holds (5 s at most, a safety
// net: it returns as soon as a message makes cond true).
func (n *notifyLog) WaitFor(t *testing.T, what string, cond func([]string) bool) []string {
	t.Helper()
	deadline := time.NewTimer(5 * time.Second)
	defer deadline.Stop()
	for {
		n.mu.Lock()
		got, ch := slices.Clone(n.got), n.changed
		n.mu.Unlock()
		if cond(got) {
			return got
		}
		select {
		case <-ch:
		case <-deadline.C:
			t.Fatalf("no %s; messages: %q", what, got)
		}
	}
}

// TestOversizedFileRefused: a commit with a file over the blob limit is
// refused as invalid, naming the file; the host stays on the last good
// commit and the refusal is not retried on the next poll.
func TestOversizedFileRefused(t *testing.T) {
	h := newHarness(t, nil)
	c0 := h.repo.Git("rev-parse", "HEAD")
	h.converge()
	h.repo.Edit("homelab.yaml", "domain: home.example", "domain: lab.example")
	h.repo.Write("media/disk.img", strings.Repeat("\x00", gitsync.DefaultMaxBlob+1))
	c1 := h.repo.CommitAndPush("a disk image in the lab repo")
	s := h.converge()
	if s.BadCommit != c1 || s.LastGoodCommit != c0 || s.AppliedCommit != c0 {
		t.Fatalf("bad %s good %s applied %s, want bad %s good %s", s.BadCommit, s.LastGoodCommit, s.AppliedCommit, c1, c0)
	}
	if !strings.Contains(s.BadReason, "media/disk.img: file of 16777217 bytes is larger than the limit of 16 MiB") {
		t.Fatalf("bad_reason %q", s.BadReason)
	}
	if !strings.Contains(h.file(namedConf), `zone "home.example"`) {
		t.Fatal("the last good state was not kept")
	}
	h.converge()
	if n := metric(t, h.d, `homelab_agent_refused_commits_total{reason="invalid"}`); n != "1" {
		t.Fatalf("refused_commits_total{invalid} = %q, want 1 (not retried)", n)
	}
}
