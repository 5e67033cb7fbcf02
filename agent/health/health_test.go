package health

import (
	"context"
	"errors"
	"net"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/miekg/dns"

	"github.com/homelab-agent/homelab-agent/agent/clock"
)

func TestHTTPProbe(t *testing.T) {
	var status atomic.Int32
	status.Store(200)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/health" {
			http.NotFound(w, r)
			return
		}
		w.WriteHeader(int(status.Load()))
	}))
	defer srv.Close()
	p := HTTP{Name: "app /health", URL: srv.URL + "/health"}
	if err := p.Check(context.Background()); err != nil {
		t.Fatal(err)
	}
	status.Store(503)
	if err := p.Check(context.Background()); err == nil || err.Error() != "status 503" {
		t.Fatalf("503: %v", err)
	}
	if err := (HTTP{URL: srv.URL + "/nope", Want: 404}).Check(context.Background()); err != nil {
		t.Fatalf("want 404: %v", err)
	}
	// Through a connect address, as through the proxy: the URL's host is
	// only the name asked for.
	if err := (HTTP{URL: "http://jellyfin.home.example/nope", Connect: srv.Listener.Addr().String(), Want: 404}).Check(context.Background()); err != nil {
		t.Fatalf("connect: %v", err)
	}
}

func TestHTTPProbeChecksTheServedCertificateName(t *testing.T) {
	srv := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {}))
	defer srv.Close()
	addr := srv.Listener.Addr().String()
	// httptest's certificate names example.com (and 127.0.0.1).
	if err := (HTTP{URL: "https://example.com/", Connect: addr, ServerName: "example.com"}).Check(context.Background()); err != nil {
		t.Fatal(err)
	}
	err := (HTTP{URL: "https://photos.home.example/", Connect: addr, ServerName: "photos.home.example"}).Check(context.Background())
	if err == nil || !strings.Contains(err.Error(), "does not name photos.home.example") {
		t.Fatalf("wrong name: %v", err)
	}
}

func TestDNSProbe(t *testing.T) {
	pc, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := &dns.Server{PacketConn: pc, Handler: dns.HandlerFunc(func(w dns.ResponseWriter, m *dns.Msg) {
		r := new(dns.Msg)
		r.SetReply(m)
		if m.Question[0].Name == "dns1.home.example." {
			rr, _ := dns.NewRR("dns1.home.example. 60 IN A 192.168.100.2")
			r.Answer = append(r.Answer, rr)
		} else {
			r.Rcode = dns.RcodeNameError
		}
		w.WriteMsg(r)
	})}
	go srv.ActivateAndServe()
	defer srv.Shutdown()
	want := netip.MustParseAddr("192.168.100.2")
	if err := (DNS{Server: pc.LocalAddr().String(), Name: "dns1.home.example", Want: want}).Check(context.Background()); err != nil {
		t.Fatal(err)
	}
	if err := (DNS{Server: pc.LocalAddr().String(), Name: "dns1.home.example", Want: netip.MustParseAddr("192.168.100.9")}).Check(context.Background()); err == nil || !strings.Contains(err.Error(), "answered [192.168.100.2]") {
		t.Fatalf("wrong address: %v", err)
	}
	if err := (DNS{Server: pc.LocalAddr().String(), Name: "nope.home.example", Want: want}).Check(context.Background()); err == nil || !strings.Contains(err.Error(), "NXDOMAIN") {
		t.Fatalf("nxdomain: %v", err)
	}
}

func TestCommandProbe(t *testing.T) {
	if err := (Command{Argv: []string{"sh", "-c", "echo routes ok"}, Verify: func(b []byte) error {
		if !strings.Contains(string(b), "routes") {
			return errors.New("no routes")
		}
		return nil
	}}).Check(context.Background()); err != nil {
		t.Fatal(err)
	}
	if err := (Command{Argv: []string{"sh", "-c", "echo down >&2; exit 3"}}).Check(context.Background()); err == nil || !strings.Contains(err.Error(), "down") {
		t.Fatalf("failing command: %v", err)
	}
}

// TestWaitUntilHealthyOrDeadline: Wait retries until every probe passes,
// and gives up at the deadline with the failing probe named.
func TestWaitUntilHealthyOrDeadline(t *testing.T) {
	clk := clock.NewFake(time.Date(2026, 11, 29, 4, 0, 0, 0, time.UTC))
	var calls atomic.Int32
	flaky := Func{Name: "app", F: func(context.Context) error {
		if calls.Add(1) < 3 {
			return errors.New("status 503")
		}
		return nil
	}}
	go func() {
		for clk.WaitForWaiters(1, 10*time.Second) {
			clk.Step()
		}
	}()
	rep := Wait(context.Background(), clk, Spec{Probes: []Probe{flaky}, Deadline: time.Minute}, 5*time.Second)
	if !rep.OK() || calls.Load() != 3 || rep.Waited != 10*time.Second {
		t.Fatalf("ok %v after %d calls, waited %s", rep.OK(), calls.Load(), rep.Waited)
	}
	broken := Func{Name: "jellyfin /health", F: func(context.Context) error { return errors.New("status 503") }}
	rep = Wait(context.Background(), clk, Spec{Probes: []Probe{broken}, Deadline: 90 * time.Second}, 10*time.Second)
	if rep.OK() || rep.Failure() != "jellyfin /health: status 503 after 1m30s" {
		t.Fatalf("failure %q", rep.Failure())
	}
}
