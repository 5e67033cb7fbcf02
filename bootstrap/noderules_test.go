package bootstrap_test

import (
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"

	"golang.org/x/net/icmp"
	"golang.org/x/net/ipv4"
	"golang.org/x/sys/unix"

	"github.com/homelab-agent/homelab-agent/bootstrap"
	"github.com/homelab-agent/homelab-agent/internal/testreq"
)

func run(t *testing.T, args ...string) {
	t.Helper()
	if out, err := exec.Command(args[0], args[1:]...).CombinedOutput(); err != nil {
		t.Fatalf("%s: %v\n%s", strings.Join(args, " "), err, out)
	}
}

func netns(t *testing.T, name string) string {
	t.Helper()
	return testreq.Netns(t, "bs", name)
}

// within runs fn on a thread that entered the namespace (and then dies).
func within(ns string, fn func() error) error {
	errc := make(chan error, 1)
	go func() {
		runtime.LockOSThread()
		f, err := os.Open("/run/netns/" + ns)
		if err != nil {
			errc <- err
			return
		}
		defer f.Close()
		if err := unix.Setns(int(f.Fd()), unix.CLONE_NEWNET); err != nil {
			errc <- err
			return
		}
		errc <- fn()
	}()
	return <-errc
}

func listen(t *testing.T, ns string, ports ...int) {
	t.Helper()
	for _, p := range ports {
		var ln net.Listener
		if err := within(ns, func() (err error) { ln, err = net.Listen("tcp4", fmt.Sprintf("0.0.0.0:%d", p)); return err }); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { ln.Close() })
		go func() {
			for {
				c, err := ln.Accept()
				if err != nil {
					return
				}
				c.Close()
			}
		}()
	}
}

func connects(ns, addr string) bool {
	return within(ns, func() error {
		c, err := net.DialTimeout("tcp4", addr, 700*time.Millisecond)
		if err == nil {
			c.Close()
		}
		return err
	}) == nil
}

func echoed(ns, ip string) bool {
	return within(ns, func() error {
		c, err := icmp.ListenPacket("ip4:icmp", "0.0.0.0")
		if err != nil {
			return err
		}
		defer c.Close()
		b, _ := (&icmp.Message{Type: ipv4.ICMPTypeEcho, Body: &icmp.Echo{ID: 7, Seq: 1, Data: []byte("x")}}).Marshal(nil)
		if _, err := c.WriteTo(b, &net.IPAddr{IP: net.ParseIP(ip)}); err != nil {
			return err
		}
		c.SetReadDeadline(time.Now().Add(700 * time.Millisecond))
		buf := make([]byte, 1500)
		for {
			n, _, err := c.ReadFrom(buf)
			if err != nil {
				return err
			}
			if m, err := icmp.ParseMessage(1, buf[:n]); err == nil && m.Type == ipv4.ICMPTypeEchoReply {
				return nil
			}
		}
	}) == nil
}

// TestNodeRulesInNamespaces: the node's rules for the lab bridge, loaded
// with nft -f in a node namespace, leave a guest only forwarding, ICMP
// errors and pings: the web UI (8006) and SSH (22) on the gateway address,
// and on the node's uplink address, are dropped; the uplink side still
// reaches SSH; forwarding through the node works.
func TestNodeRulesInNamespaces(t *testing.T) {
	testreq.Root(t)
	testreq.Tool(t, "ip")
	testreq.Tool(t, "nft")
	node, guest, out := netns(t, "node"), netns(t, "guest"), netns(t, "out")
	run(t, "ip", "-n", node, "link", "add", "vmbr1", "type", "bridge")
	run(t, "ip", "-n", node, "addr", "add", "10.232.0.1/24", "dev", "vmbr1")
	run(t, "ip", "-n", node, "link", "set", "vmbr1", "up")
	run(t, "ip", "link", "add", "tap100", "netns", node, "type", "veth", "peer", "name", "eth0", "netns", guest)
	run(t, "ip", "-n", node, "link", "set", "tap100", "master", "vmbr1", "up")
	run(t, "ip", "-n", guest, "addr", "add", "10.232.0.2/24", "dev", "eth0")
	run(t, "ip", "-n", guest, "link", "set", "eth0", "up")
	run(t, "ip", "-n", guest, "route", "add", "default", "via", "10.232.0.1")
	run(t, "ip", "link", "add", "vmbr0", "netns", node, "type", "veth", "peer", "name", "eth0", "netns", out)
	run(t, "ip", "-n", node, "addr", "add", "10.233.0.1/24", "dev", "vmbr0")
	run(t, "ip", "-n", node, "link", "set", "vmbr0", "up")
	run(t, "ip", "-n", out, "addr", "add", "10.233.0.2/24", "dev", "eth0")
	run(t, "ip", "-n", out, "link", "set", "eth0", "up")
	run(t, "ip", "-n", out, "route", "add", "10.232.0.0/24", "via", "10.233.0.1")
	run(t, "ip", "netns", "exec", node, "sysctl", "-qw", "net.ipv4.ip_forward=1")
	listen(t, node, 8006, 22)
	listen(t, out, 80)
	if !connects(guest, "10.232.0.1:8006") {
		t.Fatal("without the rules the guest cannot reach the node's 8006: the test network is broken")
	}

	file := filepath.Join(t.TempDir(), "homelab-node.nft")
	os.WriteFile(file, bootstrap.NodeRules(bootstrap.Settings{Bridge: "vmbr1"}), 0o644)
	for range 2 { // the post-up line runs on every ifreload
		run(t, "ip", "netns", "exec", node, "nft", "-f", file)
	}
	for _, c := range []struct {
		from, to string
		want     bool
	}{
		{guest, "10.232.0.1:8006", false}, // the web UI on the gateway address
		{guest, "10.232.0.1:22", false},   // SSH on the gateway address
		{guest, "10.233.0.1:22", false},   // the node's uplink address, from the lab
		{guest, "10.233.0.2:80", true},    // forwarded through the node
		{out, "10.233.0.1:22", true},      // the admin side is not touched
		{out, "10.233.0.1:8006", true},
	} {
		if got := connects(c.from, c.to); got != c.want {
			t.Errorf("%s -> %s: connected %v, want %v", c.from[strings.Index(c.from, "-")+1:], c.to, got, c.want)
		}
	}
	if !echoed(guest, "10.232.0.1") {
		t.Error("the guest's ping of the gateway (its lock-out probe) is not answered")
	}
}
