package dns_test

import (
	"bytes"
	"fmt"
	"net"
	"os"
	"os/exec"
	"runtime"
	"sync"
	"testing"
	"time"

	mdns "github.com/miekg/dns"
	"golang.org/x/sys/unix"

	"github.com/homelab-agent/homelab-agent/agent"
	"github.com/homelab-agent/homelab-agent/internal/testreq"
)

// netns is a network namespace with only a loopback interface, so that
// named can run for real without any packet leaving the machine.
type netns struct {
	name string
	fd   int
}

func newNetns(t *testing.T, name string) *netns {
	t.Helper()
	n := &netns{name: testreq.Netns(t, "dns", name)}
	fd, err := unix.Open("/run/netns/"+n.name, unix.O_RDONLY|unix.O_CLOEXEC, 0)
	if err != nil {
		t.Fatal(err)
	}
	n.fd = fd
	t.Cleanup(func() { unix.Close(fd) })
	return n
}

func (n *netns) ip(t *testing.T, args ...string) {
	t.Helper()
	if out, err := exec.Command("ip", append([]string{"-n", n.name}, args...)...).CombinedOutput(); err != nil {
		t.Fatalf("ip -n %s %v: %v %s", n.name, args, err, out)
	}
}

// link joins two namespaces with a veth pair and gives each side addresses.
func link(t *testing.T, a, b *netns, aAddrs, bAddrs []string) {
	t.Helper()
	va, vb := fmt.Sprintf("hv%da", os.Getpid()%100000), fmt.Sprintf("hv%db", os.Getpid()%100000)
	a.ip(t, "link", "add", va, "type", "veth", "peer", "name", vb, "netns", b.name)
	for _, x := range []struct {
		n     *netns
		dev   string
		addrs []string
	}{{a, va, aAddrs}, {b, vb, bAddrs}} {
		for _, addr := range x.addrs {
			x.n.ip(t, "addr", "add", addr, "dev", x.dev)
		}
		x.n.ip(t, "link", "set", x.dev, "up")
	}
}

// exchange sends a query from inside the namespace: the socket is created
// on a thread that has joined it.
func (n *netns) exchange(t *testing.T, q *mdns.Msg, server, source string) *mdns.Msg {
	t.Helper()
	r, err := n.try(q, server, source)
	if err != nil {
		t.Fatalf("query %s: %v", q.Question[0].Name, err)
	}
	return r
}

func (n *netns) try(q *mdns.Msg, server, source string) (*mdns.Msg, error) {
	var r *mdns.Msg
	var err error
	done := make(chan struct{})
	go func() {
		defer close(done)
		runtime.LockOSThread() // never unlocked: the thread dies with the goroutine
		if err = unix.Setns(n.fd, unix.CLONE_NEWNET); err != nil {
			return
		}
		c := &mdns.Client{Net: "udp", Timeout: 2 * time.Second}
		if source != "" {
			c.Dialer = &net.Dialer{LocalAddr: &net.UDPAddr{IP: net.ParseIP(source)}, Timeout: 2 * time.Second}
		}
		r, _, err = c.Exchange(q, server)
	}()
	<-done
	return r, err
}

// lockedBuffer collects a process's output while the test reads it.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// TestNamedAnswersLabNames runs named 9.20 with the rendered config in a
// namespace (its /etc/bind replaced by the rendered one through a bind
// mount private to that namespace) and asks it real questions.
func TestNamedAnswersLabNames(t *testing.T) {
	named := testreq.Tool(t, "named")
	ns := newNetns(t, "dns")
	client := newNetns(t, "client")
	// The client has a lab address and one outside the lab and VPN subnets.
	link(t, ns, client, []string{"192.168.100.2/24", "10.99.0.1/24"}, []string{"192.168.100.50/24", "10.99.0.2/24"})
	l, err := agent.LoadLab("../../fixtures/lab")
	if err != nil {
		t.Fatal(err)
	}
	root := t.TempDir()
	applyDNS(t, l, root, time.Now())
	run := t.TempDir()
	var logs lockedBuffer
	script := `set -e
mount --bind "$1/etc/bind" /etc/bind
mkdir -p "$2/cache" "$2/run"
mount --bind "$2/cache" /var/cache/bind
mkdir -p /run/named && mount --bind "$2/run" /run/named
exec "$3" -g -p 5353 -c /etc/bind/named.conf`
	cmd := exec.Command("ip", "netns", "exec", ns.name, "unshare", "--mount", "--propagation", "private", "sh", "-c", script, "sh", root, run, named)
	cmd.Stdout, cmd.Stderr = &logs, &logs
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })

	server := "127.0.0.1:5353"
	query := func(name string, qtype uint16, source string) *mdns.Msg {
		q := new(mdns.Msg)
		q.SetQuestion(mdns.Fqdn(name), qtype)
		return ns.exchange(t, q, server, source)
	}
	// Wait until named answers for its zone.
	probe := new(mdns.Msg)
	probe.SetQuestion("home.example.", mdns.TypeSOA)
	for deadline := time.Now().Add(20 * time.Second); ; {
		if r, err := ns.try(probe, server, ""); err == nil && r.Rcode == mdns.RcodeSuccess {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("named did not start answering:\n%s", logs.String())
		}
		time.Sleep(100 * time.Millisecond)
	}
	for name, want := range map[string]string{
		"dns1.home.example":      "192.168.100.2",
		"cloud.home.example":     "192.168.100.10",
		"media.home.example":     "192.168.100.12",
		"nextcloud.home.example": "192.168.100.3", // services point at the traefik host
		"whoami.home.example":    "192.168.100.3",
	} {
		r := query(name, mdns.TypeA, "")
		if r.Rcode != mdns.RcodeSuccess || len(r.Answer) != 1 || r.Answer[0].(*mdns.A).A.String() != want || !r.Authoritative {
			t.Errorf("%s A: %v", name, r)
		}
	}
	r := query("10.100.168.192.in-addr.arpa", mdns.TypePTR, "")
	if len(r.Answer) != 1 || r.Answer[0].(*mdns.PTR).Ptr != "cloud.home.example." {
		t.Errorf("PTR 192.168.100.10: %v", r)
	}
	r = query("nope.home.example", mdns.TypeA, "")
	if r.Rcode != mdns.RcodeNameError {
		t.Errorf("unknown name: rcode %s, want NXDOMAIN", mdns.RcodeToString[r.Rcode])
	}
	// Another lab guest is answered; a client outside the lab and VPN
	// subnets is refused.
	q := new(mdns.Msg)
	q.SetQuestion("photos.home.example.", mdns.TypeA)
	if r := client.exchange(t, q, "192.168.100.2:5353", "192.168.100.50"); r.Rcode != mdns.RcodeSuccess || len(r.Answer) != 1 {
		t.Errorf("query from a lab guest: %v", r)
	}
	if r := client.exchange(t, q, "10.99.0.1:5353", "10.99.0.2"); r.Rcode != mdns.RcodeRefused {
		t.Errorf("query from outside the ACL: rcode %s, want REFUSED", mdns.RcodeToString[r.Rcode])
	}
	if t.Failed() {
		t.Logf("named's log:\n%s", logs.String())
	}
}
