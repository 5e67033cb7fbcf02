package firewall_test

import (
	"context"
	"encoding/binary"
	"fmt"
	"net"
	"os"
	"os/exec"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/mdlayher/netlink"
	"golang.org/x/sys/unix"

	"github.com/homelab-agent/homelab-agent/internal/testreq"
)

// needKernel skips (or fails under CI) unless the test can make
// namespaces and program nftables in them.
func needKernel(t testing.TB) {
	t.Helper()
	testreq.Root(t)
	testreq.Tool(t, "ip")
	testreq.Tool(t, "nft")
}

// sh runs a command and fails the test on error.
func sh(t testing.TB, args ...string) string {
	t.Helper()
	out, err := exec.Command(args[0], args[1:]...).CombinedOutput()
	if err != nil {
		t.Fatalf("%s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return string(out)
}

// newNS creates a network namespace with lo up, removed when the test ends.
func newNS(t testing.TB, name string) string {
	t.Helper()
	return testreq.Netns(t, "fw", name)
}

func nsPath(ns string) string { return "/run/netns/" + ns }

// inNS runs fn on a thread that has entered the namespace; the thread is
// thrown away afterwards, so no other goroutine ever runs in it.
func inNS(ns string, fn func() error) error {
	errc := make(chan error, 1)
	go func() {
		runtime.LockOSThread() // never unlocked: the thread exits with the goroutine
		f, err := os.Open(nsPath(ns))
		if err != nil {
			errc <- err
			return
		}
		defer f.Close()
		if err := unix.Setns(int(f.Fd()), unix.CLONE_NEWNET); err != nil {
			errc <- fmt.Errorf("entering %s: %w", ns, err)
			return
		}
		errc <- fn()
	}()
	return <-errc
}

// serve listens on TCP and UDP port in the namespace: TCP accepts and
// closes, UDP echoes. It stops when the test ends.
func serve(t testing.TB, ns string, ports ...int) {
	t.Helper()
	for _, port := range ports {
		var ln net.Listener
		var pc net.PacketConn
		err := inNS(ns, func() error {
			var err error
			if ln, err = net.Listen("tcp4", fmt.Sprintf("0.0.0.0:%d", port)); err != nil {
				return err
			}
			pc, err = net.ListenPacket("udp4", fmt.Sprintf("0.0.0.0:%d", port))
			return err
		})
		if err != nil {
			t.Fatalf("serving port %d in %s: %v", port, ns, err)
		}
		t.Cleanup(func() { ln.Close(); pc.Close() })
		go func() {
			for {
				c, err := ln.Accept()
				if err != nil {
					return
				}
				c.Close()
			}
		}()
		go func() {
			buf := make([]byte, 64)
			for {
				n, addr, err := pc.ReadFrom(buf)
				if err != nil {
					return
				}
				pc.WriteTo(buf[:n], addr)
			}
		}()
	}
}

// reach reports whether a TCP connection (or a UDP echo) from the
// namespace to addr gets through within the timeout.
func reach(ns, proto, addr string, timeout time.Duration) bool {
	err := inNS(ns, func() error {
		c, err := net.DialTimeout(proto, addr, timeout)
		if err != nil {
			return err
		}
		defer c.Close()
		if proto == "tcp" {
			return nil
		}
		c.SetDeadline(time.Now().Add(timeout))
		if _, err := c.Write([]byte("ping")); err != nil {
			return err
		}
		buf := make([]byte, 16)
		_, err = c.Read(buf)
		return err
	})
	return err == nil
}

// flow is one cell of an allow/deny matrix.
type flow struct {
	from, proto, to string
	allowed         bool
}

// checkMatrix tries every flow at once and reports those that differ.
func checkMatrix(t *testing.T, flows []flow) {
	t.Helper()
	var wg sync.WaitGroup
	got := make([]bool, len(flows))
	for i, f := range flows {
		wg.Add(1)
		go func() {
			defer wg.Done()
			got[i] = reach(f.from, f.proto, f.to, 700*time.Millisecond)
		}()
	}
	wg.Wait()
	for i, f := range flows {
		if got[i] != f.allowed {
			want := map[bool]string{true: "allowed", false: "denied"}
			t.Errorf("%s -> %s/%s: got %s, want %s", nsName(f.from), f.to, f.proto,
				want[got[i]], want[f.allowed])
		}
	}
}

// nft runs nft in the namespace.
func nft(t testing.TB, ns string, args ...string) string {
	t.Helper()
	return sh(t, append([]string{"ip", "netns", "exec", ns, "nft"}, args...)...)
}

func okProbe(context.Context) error { return nil }

// genID reads the namespace's nftables ruleset generation, which every
// committed batch increments.
func genID(t testing.TB, ns string) uint32 {
	t.Helper()
	f, err := os.Open(nsPath(ns))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	c, err := netlink.Dial(unix.NETLINK_NETFILTER, &netlink.Config{NetNS: int(f.Fd())})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	msgs, err := c.Execute(netlink.Message{
		Header: netlink.Header{Type: netlink.HeaderType(unix.NFNL_SUBSYS_NFTABLES<<8 | unix.NFT_MSG_GETGEN), Flags: netlink.Request},
		Data:   []byte{unix.AF_UNSPEC, unix.NFNETLINK_V0, 0, 0},
	})
	if err != nil || len(msgs) == 0 {
		t.Fatalf("reading the ruleset generation: %v", err)
	}
	ad, err := netlink.NewAttributeDecoder(msgs[0].Data[4:])
	if err != nil {
		t.Fatal(err)
	}
	ad.ByteOrder = binary.BigEndian
	for ad.Next() {
		if ad.Type() == unix.NFTA_GEN_ID {
			return ad.Uint32()
		}
	}
	t.Fatal("no generation id in the answer")
	return 0
}

// nsName is a namespace's name without testreq.Netns's "fw<pid>-".
func nsName(ns string) string {
	_, name, _ := strings.Cut(ns, "-")
	return name
}
