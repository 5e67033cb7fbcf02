package daemon

import (
	"context"
	"fmt"
	"runtime/debug"
	"time"

	"github.com/homelab-agent/homelab-agent/agent"
	"github.com/homelab-agent/homelab-agent/agent/gitsync"
	"github.com/homelab-agent/homelab-agent/agent/heartbeat"
)

// loadLab loads a checked-out commit's lab for a pass of host (all of
// homelab.yaml, the compose files of host only); tests replace it to make
// the load step panic or hang.
var loadLab = agent.LoadFor

// A bad commit never stops the agent: loading, checking and applying a
// commit run under recover. A panic there is the commit's fault: the
// commit is marked bad (kind "panic") with the panic's message, its stack
// goes to the log only (never to /status or state.json), and the host
// stays on the last good commit.

// apply is applyCommit under recover.
func (d *Daemon) apply(ctx context.Context, commit string) (kind string, err error) {
	defer func() {
		if v := recover(); v != nil {
			pe := &agent.PanicError{Value: v}
			d.logPanic("loading or applying commit "+short(commit), pe, debug.Stack())
			kind, err = "panic", fmt.Errorf("loading or applying the commit: %w", pe)
		}
	}()
	return d.applyCommit(ctx, commit)
}

// verify is verifyCommit under recover: a signature that makes the
// verifier panic is not trusted.
func (d *Daemon) verify(commit string) (err error) {
	defer func() {
		if v := recover(); v != nil {
			pe := &agent.PanicError{Value: v}
			d.logPanic("verifying commit "+short(commit), pe, debug.Stack())
			err = &gitsync.UntrustedError{Commit: commit, Reason: "verifying its signature failed: " + pe.Error()}
		}
	}()
	return d.verifyCommit(commit)
}

// pass runs one loop pass (Converge, then the backup settings) with the
// pass's heartbeat in ctx. A panic that escapes the commit-level guards
// (in sync, state handling ...) fails the pass, not the process: it is
// logged with its stack, reported in last_error, and the next pass runs
// after the usual wait.
func (d *Daemon) pass(ctx context.Context) (wait time.Duration) {
	d.prog.start(d.clock.Now())
	defer func() { d.prog.stop(d.clock.Now()) }()
	ctx = heartbeat.With(ctx, func() { d.prog.beat(d.clock.Now()) })
	defer func() {
		if v := recover(); v != nil {
			pe := &agent.PanicError{Value: v}
			d.logPanic("running a pass", pe, debug.Stack())
			d.update(func(s *Status) { s.LastError = "internal error in the pass: " + firstLine(pe.Error()) })
			wait = d.wait()
		}
	}()
	wait = d.Converge(ctx)
	if ctx.Err() == nil {
		d.backups.refresh()
		d.imageUpdates(ctx)
	}
	return wait
}

func (d *Daemon) logPanic(what string, pe *agent.PanicError, stack []byte) {
	d.log.Error("panic while "+what+"; the agent keeps running", "panic", pe.Error(), "stack", string(stack))
}
