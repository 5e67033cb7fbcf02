package firewall

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
	"strings"
	"sync"
	"syscall"
	"time"

	"golang.org/x/net/icmp"
	"golang.org/x/net/ipv4"

	"github.com/homelab-agent/homelab-agent/agent/resource"
)

// DefaultConfirmTimeout bounds how long a new table may cut the host off
// from its git remote and gateway before it is rolled back.
const DefaultConfirmTimeout = 30 * time.Second

// Confirm is the "commit confirmed" of a table change: after the new
// table is in place, Probe must succeed within Timeout, or the previous
// table is restored and the change is reported as rejected.
type Confirm struct {
	// Probe checks that the host still reaches what it must; it is called
	// again every Interval until it succeeds or Timeout passes. Nil uses
	// DialProbe on those of the table's ProbeTargets and Targets that
	// answer just before the change (a target already down does not make
	// the new table wrong).
	Probe func(ctx context.Context) error
	// Targets are added to the table's probe targets ("git.example:22").
	Targets []string
	// Timeout is DefaultConfirmTimeout when zero.
	Timeout time.Duration
	// Interval between probes; one second when zero.
	Interval time.Duration
}

type confirmKey struct{}

// WithConfirm returns a context that makes table changes confirm with c
// (the daemon adds a probe of its git remote this way).
func WithConfirm(ctx context.Context, c Confirm) context.Context {
	return context.WithValue(ctx, confirmKey{}, c)
}

func confirmFrom(ctx context.Context) Confirm {
	c, _ := ctx.Value(confirmKey{}).(Confirm)
	if c.Timeout <= 0 {
		c.Timeout = DefaultConfirmTimeout
	}
	if c.Interval <= 0 {
		c.Interval = time.Second
	}
	return c
}

// RejectedError reports a change that was rolled back because the host
// could not reach its probe targets with the new table.
type RejectedError struct {
	// Diff is the rejected change in nft syntax.
	Diff    string
	Timeout time.Duration
	// Targets are the probe targets that answered before the change and
	// not after it (empty for a caller's own Probe).
	Targets []string
	// Err is the last probe failure.
	Err error
	// RestoreErr is set when even restoring the old table failed; the
	// agent then loaded Minimal (Minimal is true) or, if that failed too,
	// removed its table, leaving the host unfiltered.
	RestoreErr error
	Minimal    bool
}

func (e *RejectedError) Error() string {
	what := "its probe targets"
	if len(e.Targets) > 0 {
		what += " (" + strings.Join(e.Targets, ", ") + ")"
	}
	s := fmt.Sprintf("new table inet %s rejected and rolled back: the host could not reach %s within %s: %v",
		TableName, what, e.Timeout, e.Err)
	switch {
	case e.RestoreErr != nil && e.Minimal:
		s += fmt.Sprintf("; restoring the old table failed too (%v), so the agent loaded a minimal table that admits only SSH from the gateway and the VPN (and ping from them); the next good pass replaces it", e.RestoreErr)
	case e.RestoreErr != nil:
		s += fmt.Sprintf("; restoring the old table failed too (%v), and so did loading a minimal one, so the agent removed its table: the host is unfiltered", e.RestoreErr)
	}
	return s
}

func (e *RejectedError) Unwrap() error { return e.Err }

// confirm calls the probe until it succeeds or the timeout passes. A
// probe that ignores its context cannot hold the rollback back.
func confirm(ctx context.Context, c Confirm) error {
	ctx, cancel := context.WithTimeout(ctx, c.Timeout)
	defer cancel()
	var err error
	for {
		res := make(chan error, 1)
		go func() { res <- c.Probe(ctx) }()
		select {
		case err = <-res:
			if err == nil {
				return nil
			}
		case <-ctx.Done():
			if err != nil {
				return fmt.Errorf("no answer within %s (before: %w)", c.Timeout, err)
			}
			return fmt.Errorf("no answer within %s", c.Timeout)
		}
		select {
		case <-ctx.Done():
			return err
		case <-time.After(c.Interval):
		}
	}
}

// DialProbe returns a probe that succeeds when every target answers:
// "host:port" is a TCP connection, where a refusal also counts (the host
// answered, so the path is open); a bare IP address is an ICMP echo.
func DialProbe(targets ...string) func(ctx context.Context) error {
	return func(ctx context.Context) error {
		for _, t := range targets {
			if err := probeOne(ctx, t); err != nil {
				return err
			}
		}
		return nil
	}
}

// answering returns the targets that answer one probe now, in order;
// the others are logged and left out of the confirmation.
func answering(ctx context.Context, env *resource.Env, targets []string) []string {
	errs := make([]error, len(targets))
	var wg sync.WaitGroup
	for i, t := range targets {
		wg.Add(1)
		go func() { defer wg.Done(); errs[i] = probeOne(ctx, t) }()
	}
	wg.Wait()
	var out []string
	for i, t := range targets {
		if errs[i] != nil {
			env.Logger().Warn("probe target does not answer before the firewall change; not requiring it after", "target", t, "err", errs[i])
			continue
		}
		out = append(out, t)
	}
	return out
}

func probeOne(ctx context.Context, target string) error {
	attempt, cancel := context.WithTimeout(ctx, 3*time.Second)
	defer cancel()
	if ip, err := netip.ParseAddr(target); err == nil {
		if err := ping(attempt, ip); err != nil {
			return fmt.Errorf("pinging %s: %w", ip, err)
		}
		return nil
	}
	var d net.Dialer
	conn, err := d.DialContext(attempt, "tcp", target)
	if errors.Is(err, syscall.ECONNREFUSED) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("connecting to %s: %w", target, err)
	}
	return conn.Close()
}

// ping sends one ICMP echo (IPv4) and waits for the reply; it needs
// CAP_NET_RAW, as the agent has when it runs as root.
func ping(ctx context.Context, ip netip.Addr) error {
	if !ip.Is4() {
		return fmt.Errorf("only IPv4 targets are supported")
	}
	c, err := icmp.ListenPacket("ip4:icmp", "0.0.0.0")
	if err != nil {
		return err
	}
	defer c.Close()
	id := os.Getpid() & 0xffff
	msg := icmp.Message{Type: ipv4.ICMPTypeEcho, Body: &icmp.Echo{ID: id, Seq: 1, Data: []byte("homelab-agent")}}
	b, err := msg.Marshal(nil)
	if err != nil {
		return err
	}
	if _, err := c.WriteTo(b, &net.IPAddr{IP: ip.AsSlice()}); err != nil {
		return err
	}
	deadline, _ := ctx.Deadline()
	c.SetReadDeadline(deadline)
	buf := make([]byte, 1500)
	for {
		n, peer, err := c.ReadFrom(buf)
		if err != nil {
			return err
		}
		m, err := icmp.ParseMessage(1, buf[:n])
		if err != nil || m.Type != ipv4.ICMPTypeEchoReply || !strings.EqualFold(peer.String(), ip.String()) {
			continue
		}
		if e, ok := m.Body.(*icmp.Echo); ok && e.ID == id {
			return nil
		}
	}
}
