package gitsynctest

import (
	"context"
	"crypto/subtle"
	"net"
	"net/http"
	"net/http/cgi"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
)

// HTTPServer serves a repo root with `git http-backend` (smart HTTP,
// read-only) behind basic auth on 127.0.0.1. It can be stopped and
// started again on the same address.
type HTTPServer struct {
	t          testing.TB
	addr       string
	handler    http.Handler
	mu         sync.Mutex
	srv        *http.Server
	User, Pass string
	// reqs counts requests served, by path suffix ("refs", "git-upload-pack").
	reqs      map[string]int
	failPacks bool
}

// FailPacks makes object transfers (POST git-upload-pack) fail with 500
// while ref listings still work.
func (s *HTTPServer) FailPacks(fail bool) {
	s.mu.Lock()
	s.failPacks = fail
	s.mu.Unlock()
}

// StartHTTP serves root (a folder of bare repos) and stops at cleanup.
func StartHTTP(t testing.TB, root, user, pass string) *HTTPServer {
	t.Helper()
	out, err := exec.Command("git", "--exec-path").Output()
	if err != nil {
		t.Fatalf("git --exec-path: %v", err)
	}
	backend := &cgi.Handler{
		Path: filepath.Join(strings.TrimSpace(string(out)), "git-http-backend"),
		Root: "/",
		Env:  []string{"GIT_PROJECT_ROOT=" + root, "GIT_HTTP_EXPORT_ALL=1"},
	}
	s := &HTTPServer{t: t, User: user, Pass: pass, reqs: map[string]int{}}
	s.handler = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		u, p, ok := r.BasicAuth()
		if !ok || subtle.ConstantTimeCompare([]byte(u+":"+p), []byte(s.User+":"+s.Pass)) != 1 {
			w.Header().Set("WWW-Authenticate", `Basic realm="git"`)
			http.Error(w, "unauthorized", http.StatusUnauthorized)
			return
		}
		s.mu.Lock()
		s.reqs[filepath.Base(r.URL.Path)]++
		fail := s.failPacks && strings.HasSuffix(r.URL.Path, "/git-upload-pack")
		s.mu.Unlock()
		if fail {
			http.Error(w, "upload-pack broken for the test", http.StatusInternalServerError)
			return
		}
		backend.ServeHTTP(w, r)
	})
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	s.addr = ln.Addr().String()
	s.serve(ln)
	t.Cleanup(s.Stop)
	return s
}

func (s *HTTPServer) serve(ln net.Listener) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.srv = &http.Server{Handler: s.handler, ReadHeaderTimeout: 10 * time.Second}
	go s.srv.Serve(ln)
}

// URL is the clone URL of a repo under the root, e.g. URL("lab.git").
func (s *HTTPServer) URL(repo string) string { return "http://" + s.addr + "/" + repo }

// Requests returns how many requests for a path's last element were served.
func (s *HTTPServer) Requests(name string) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.reqs[name]
}

// Stop closes the server; clients then get "connection refused".
func (s *HTTPServer) Stop() {
	s.mu.Lock()
	srv := s.srv
	s.srv = nil
	s.mu.Unlock()
	if srv != nil {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		srv.Shutdown(ctx)
	}
}

// Start serves again on the same address after Stop.
func (s *HTTPServer) Start() {
	s.t.Helper()
	var ln net.Listener
	var err error
	for deadline := time.Now().Add(5 * time.Second); time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
		if ln, err = net.Listen("tcp", s.addr); err == nil {
			break
		}
	}
	if err != nil {
		s.t.Fatalf("listening again on %s: %v", s.addr, err)
	}
	s.serve(ln)
}
