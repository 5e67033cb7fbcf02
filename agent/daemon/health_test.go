package daemon_test

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/homelab-agent/homelab-agent/agent/clock"
	"github.com/homelab-agent/homelab-agent/agent/daemon"
	"github.com/homelab-agent/homelab-agent/agent/health"
	agentlab "github.com/homelab-agent/homelab-agent/agent/lab"
)

// TestUnhealthyCommitIsRolledBack: a commit that applies but breaks the
// service (its probe fails for the whole deadline) is rolled back to the
// last good commit, marked bad with the probe's output, and never tried
// again until a new commit arrives; a probe that fails with no change is
// reported, not rolled back. The clock is a fake one: the 90 s deadline
// passes in steps, not in real time.
func TestUnhealthyCommitIsRolledBack(t *testing.T) {
	h := newHarness(t, nil)
	clk := clock.NewFake(time.Date(2026, 11, 29, 5, 0, 0, 0, time.UTC))
	var calls atomic.Int32
	var broken, goodTooSoon atomic.Bool
	var c1 string
	conf := filepath.Join(h.root, "etc/bind/named.conf")
	probe := health.Func{Name: "named /health", F: func(context.Context) error {
		calls.Add(1)
		b, err := os.ReadFile(conf)
		if err != nil {
			return err
		}
		if strings.Contains(string(b), "mullvad-family") || broken.Load() {
			// While the gate waits, the fleet (the next wave) must not see
			// the commit as good.
			if c1 != "" && h.d.FleetStatus().LastGood == c1 {
				goodTooSoon.Store(true)
			}
			return errors.New("status 503")
		}
		return nil
	}}
	h.d = h.newDaemon(daemon.Options{Clock: clk, Health: func(*agentlab.Lab, string) (health.Spec, error) {
		return health.Spec{Probes: []health.Probe{probe}, Deadline: 90 * time.Second}, nil
	}})
	converge := func() daemon.Status { return convergeStepping(h.d, clk) }
	c0 := h.repo.Git("rev-parse", "HEAD")
	if s := converge(); s.AppliedCommit != c0 || s.Health == nil || !s.Health.OK {
		t.Fatalf("first commit: %+v", s)
	}

	h.repo.Edit("homelab.yaml", "mullvad-base", "mullvad-family")
	c1 = h.repo.CommitAndPush("an upstream the service cannot use")
	start := clk.Now()
	s := converge()
	want := "rolled back " + c1[:12] + ": named /health: status 503 after 1m30s"
	if s.BadCommit != c1 || s.BadReason != want || s.AppliedCommit != c0 || s.LastGoodCommit != c0 {
		t.Fatalf("after the broken commit: bad %s %q, applied %s, good %s", s.BadCommit, s.BadReason, s.AppliedCommit, s.LastGoodCommit)
	}
	if goodTooSoon.Load() {
		t.Error("the fleet status gave the commit under its health gate as the last good one: the next wave would apply it")
	}
	if waited := clk.Now().Sub(start); waited < 90*time.Second || waited > 100*time.Second {
		t.Errorf("waited %s for the probes, want the 90 s deadline", waited)
	}
	if b, _ := os.ReadFile(conf); strings.Contains(string(b), "mullvad-family") {
		t.Fatal("the broken commit's named.conf is still in place")
	}
	if !strings.Contains(s.LastError, want) {
		t.Errorf("last error %q does not say why", s.LastError)
	}
	if v := metric(t, h.d, "homelab_agent_health_rollbacks_total"); v != "1" {
		t.Errorf("rollbacks = %q", v)
	}

	// The same head again: not retried.
	calls.Store(0)
	if s := converge(); s.BadCommit != c1 || s.AppliedCommit != c0 || calls.Load() != 0 {
		t.Fatalf("the bad commit was tried again: applied %s, %d probe calls", s.AppliedCommit, calls.Load())
	}

	// A fix arrives: applied and healthy.
	h.repo.Edit("homelab.yaml", "mullvad-family", "mullvad-adblock")
	c2 := h.repo.CommitAndPush("a working upstream")
	if s := converge(); s.AppliedCommit != c2 || s.LastGoodCommit != c2 || s.BadCommit != "" || !s.Health.OK {
		t.Fatalf("after the fix: %+v", s)
	}

	// The service breaks with no change: reported, not rolled back.
	broken.Store(true)
	h.d.CheckHealth(context.Background())
	if s := h.d.Status(); s.Health.OK || s.AppliedCommit != c2 || s.LastGoodCommit != c2 || !strings.Contains(s.Health.Failure, "status 503") {
		t.Fatalf("a failure without a change: %+v", s.Health)
	}
}

// convergeStepping runs a pass to its end, moving the fake clock whenever
// the pass waits on it (health probes' retries), and returns the status.
func convergeStepping(d *daemon.Daemon, clk *clock.Fake) daemon.Status {
	done := make(chan struct{})
	go func() { d.Converge(context.Background()); close(done) }()
	for {
		select {
		case <-done:
			return d.Status()
		default:
		}
		if clk.WaitForWaiters(1, 20*time.Millisecond) {
			clk.Step()
		}
	}
}

// TestHealthGateOff: with health_gate: false a failing probe after a new
// commit is reported, and the commit stays applied.
func TestHealthGateOff(t *testing.T) {
	off := false
	h := newHarness(t, func(c *daemon.Config) { c.HealthGate = &off })
	h.d = h.newDaemon(daemon.Options{Health: func(*agentlab.Lab, string) (health.Spec, error) {
		return health.Spec{Deadline: time.Hour, Probes: []health.Probe{health.Func{Name: "app", F: func(context.Context) error { return errors.New("status 503") }}}}, nil
	}})
	h.converge()
	h.repo.Edit("homelab.yaml", "mullvad-base", "mullvad-family")
	c1 := h.repo.CommitAndPush("a change")
	s := h.converge() // would wait an hour were the gate on
	if s.AppliedCommit != c1 || s.LastGoodCommit != c1 || s.BadCommit != "" || s.Health == nil || s.Health.OK {
		t.Fatalf("health_gate false: applied %s good %s bad %s health %+v", s.AppliedCommit, s.LastGoodCommit, s.BadCommit, s.Health)
	}
}
