package gitsync_test

import (
	"encoding/pem"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/homelab-agent/homelab-agent/agent/gitsync"
	"github.com/homelab-agent/homelab-agent/agent/gitsync/gitsynctest"
)

// countingProxy forwards TCP connections from a loopback port to addr and
// counts them: each one is an SSH handshake.
type countingProxy struct {
	ln    net.Listener
	mu    sync.Mutex
	n     int
	conns []net.Conn
}

func startCountingProxy(t testing.TB, addr string) *countingProxy {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p := &countingProxy{ln: ln}
	t.Cleanup(func() { ln.Close(); p.dropAll() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			s, err := net.Dial("tcp", addr)
			if err != nil {
				c.Close()
				continue
			}
			p.mu.Lock()
			p.n++
			p.conns = append(p.conns, c, s)
			p.mu.Unlock()
			go func() { io.Copy(s, c); s.Close() }()
			go func() { io.Copy(c, s); c.Close() }()
		}
	}()
	return p
}

func (p *countingProxy) count() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.n
}

// dropAll cuts every connection, as a server restart would.
func (p *countingProxy) dropAll() {
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, c := range p.conns {
		c.Close()
	}
	p.conns = nil
}

// sshViaProxy returns the SSH server's config reached through a counting
// proxy, with the host key pinned for the proxy's port.
func sshViaProxy(t testing.TB, srv *gitsynctest.SSHServer) (gitsync.Config, *countingProxy) {
	t.Helper()
	addr := strings.TrimPrefix(srv.URL, "ssh://")
	user, rest, _ := strings.Cut(addr, "@")
	hostPort, path, _ := strings.Cut(rest, "/")
	p := startCountingProxy(t, hostPort)
	proxyPort := p.ln.Addr().(*net.TCPAddr).Port
	kh, err := os.ReadFile(srv.KnownHosts)
	if err != nil {
		t.Fatal(err)
	}
	_, port, _ := net.SplitHostPort(hostPort)
	pinned := strings.Replace(string(kh), "]:"+port+" ", "]:"+strconv.Itoa(proxyPort)+" ", 1)
	khFile := filepath.Join(t.TempDir(), "known_hosts")
	if err := os.WriteFile(khFile, []byte(pinned), 0o600); err != nil {
		t.Fatal(err)
	}
	url := "ssh://" + user + "@" + p.ln.Addr().String() + "/" + path
	return gitsync.Config{URL: url, Auth: gitsync.Auth{SSHKey: srv.Key, KnownHosts: khFile}}, p
}

// TestSSHPollsKeepOneConnection: no-change polls over SSH reuse one
// connection (no handshake per poll) and transfer no objects; a push is
// still seen and fetched; a dropped connection is redialled.
func TestSSHPollsKeepOneConnection(t *testing.T) {
	r := gitsynctest.NewRepo(t, lab)
	srv := gitsynctest.StartSSH(t, r.Bare)
	cfg, proxy := sshViaProxy(t, srv)
	s := newSyncer(t, cfg)
	t.Cleanup(func() { s.Close() })
	if res := mustSync(t, s); !res.Cloned {
		t.Fatalf("first sync: %+v, want a clone", res)
	}
	after := proxy.count()
	for i := range 5 {
		if res := mustSync(t, s); res.Fetched || res.Cloned {
			t.Fatalf("no-change poll %d: %+v", i, res)
		}
	}
	if got := proxy.count(); got != after {
		t.Fatalf("5 no-change polls made %d new SSH connections, want 0", got-after)
	}

	h := r.CommitAndPush("moved")
	if res := mustSync(t, s); !res.Fetched || res.Head != h {
		t.Fatalf("after a push: %+v, want head %s fetched", res, h)
	}

	proxy.dropAll()
	before := proxy.count()
	if res := mustSync(t, s); res.Fetched || res.Head != h {
		t.Fatalf("poll after the connection dropped: %+v", res)
	}
	if got := proxy.count(); got != before+1 {
		t.Fatalf("poll after the connection dropped made %d connections, want 1", got-before)
	}
}

// TestSSHKeptConnectionChecksHostKey: the kept connection pins the host
// key like go-git does; with another key in known_hosts the poll of an
// existing clone (the kept connection's first dial) fails.
func TestSSHKeptConnectionChecksHostKey(t *testing.T) {
	r := gitsynctest.NewRepo(t, lab)
	srv := gitsynctest.StartSSH(t, r.Bare)
	cfg, _ := sshViaProxy(t, srv)
	cfg.Dir = filepath.Join(t.TempDir(), "repo")
	s := newSyncer(t, cfg)
	t.Cleanup(func() { s.Close() })
	mustSync(t, s)
	s.Close()
	_, other := gitsynctest.SSHKeygen(t, t.TempDir(), "other")
	line, _ := os.ReadFile(cfg.Auth.KnownHosts)
	host, _, _ := strings.Cut(string(line), " ")
	if err := os.WriteFile(cfg.Auth.KnownHosts, []byte(host+" "+other+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	s2 := newSyncer(t, cfg)
	t.Cleanup(func() { s2.Close() })
	if _, err := s2.Sync(t.Context()); err == nil {
		t.Fatal("a poll against a server whose host key is not pinned succeeded")
	}
}

// TestHTTPPollsKeepTheConnection: no-change polls over HTTP reuse one
// kept-alive connection.
func TestHTTPPollsKeepTheConnection(t *testing.T) {
	r := gitsynctest.NewRepo(t, lab)
	srv := gitsynctest.StartHTTP(t, r.Root, "agent", "s3cret")
	u := srv.URL("lab.git")
	hostPort := strings.TrimPrefix(u, "http://")
	hostPort, _, _ = strings.Cut(hostPort, "/")
	proxy := startCountingProxy(t, hostPort)
	s := newSyncer(t, gitsync.Config{URL: strings.Replace(u, hostPort, proxy.ln.Addr().String(), 1), Auth: gitsync.Auth{Token: "agent:s3cret"}})
	mustSync(t, s)
	mustSync(t, s)
	after := proxy.count()
	for i := range 5 {
		if res := mustSync(t, s); res.Fetched || res.Cloned {
			t.Fatalf("no-change poll %d: %+v", i, res)
		}
	}
	if got := proxy.count(); got != after {
		t.Fatalf("5 no-change polls made %d new connections, want 0", got-after)
	}
}

// BenchmarkPollNoChangeHTTPS is BenchmarkPollNoChange over HTTPS: a TLS
// reverse proxy on loopback in front of git http-backend, its certificate
// trusted through SSL_CERT_FILE. The benchmark fails if a poll opens a
// new connection (a TLS handshake) or fetches.
func BenchmarkPollNoChangeHTTPS(b *testing.B) {
	r := gitsynctest.NewRepo(b, lab)
	srv := gitsynctest.StartHTTP(b, r.Root, "agent", "s3cret")
	backend, err := url.Parse(srv.URL(""))
	if err != nil {
		b.Fatal(err)
	}
	tlsSrv := httptest.NewUnstartedServer(httputil.NewSingleHostReverseProxy(backend))
	var conns atomic.Int64
	tlsSrv.Config.ConnState = func(_ net.Conn, s http.ConnState) {
		if s == http.StateNew {
			conns.Add(1)
		}
	}
	tlsSrv.StartTLS()
	b.Cleanup(tlsSrv.Close)
	ca := filepath.Join(b.TempDir(), "ca.pem")
	pemData := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: tlsSrv.Certificate().Raw})
	if err := os.WriteFile(ca, pemData, 0o600); err != nil {
		b.Fatal(err)
	}
	b.Setenv("SSL_CERT_FILE", ca) // read once, at the process's first TLS handshake
	s := newSyncer(b, gitsync.Config{URL: tlsSrv.URL + "/lab.git", Auth: gitsync.Auth{Token: "agent:s3cret"}})
	mustSync(b, s)
	mustSync(b, s)
	before := conns.Load()
	b.ResetTimer()
	for b.Loop() {
		if res := mustSync(b, s); res.Fetched {
			b.Fatal("a no-change poll fetched")
		}
	}
	b.StopTimer()
	if n := conns.Load() - before; n != 0 {
		b.Fatalf("no-change polls opened %d new TLS connections, want 0", n)
	}
}
