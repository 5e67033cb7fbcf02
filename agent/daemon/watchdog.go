package daemon

import (
	"context"
	"sync/atomic"
	"time"

	sddaemon "github.com/coreos/go-systemd/v22/daemon"
)

// progress tells whether the loop is moving: idle between passes, or in a
// pass whose last heartbeat (a resource started, a log record, restic's
// progress: package heartbeat) is recent.
type progress struct {
	busy atomic.Bool
	last atomic.Int64 // unix nanoseconds of the last beat
}

func (p *progress) start(now time.Time) { p.beat(now); p.busy.Store(true) }
func (p *progress) stop(now time.Time)  { p.busy.Store(false); p.beat(now) }
func (p *progress) beat(now time.Time)  { p.last.Store(now.UnixNano()) }

// silentFor is how long the running pass has gone without a beat; 0 while
// the loop waits between passes.
func (p *progress) silentFor(now time.Time) time.Duration {
	if !p.busy.Load() {
		return 0
	}
	return now.Sub(time.Unix(0, p.last.Load()))
}

// watchdog feeds systemd's watchdog at half of WATCHDOG_USEC while the
// loop makes progress; it returns the function that stops it. A pass
// silent for StuckAfter is hung (a server that accepts and never answers,
// a hook that never returns): WATCHDOG=1 stops, and systemd restarts the
// agent after WatchdogSec. Feeding resumes if the pass moves again first.
// The pings follow the wall clock (systemd's watchdog does); heartbeats
// are stamped with the daemon's clock.
func (d *Daemon) watchdog() func() {
	every, err := sddaemon.SdWatchdogEnabled(false)
	if err != nil || every <= 0 {
		return func() {}
	}
	ctx, cancel := context.WithCancel(context.Background())
	go func() {
		t := time.NewTicker(every / 2)
		defer t.Stop()
		stuck := false
		for {
			select {
			case <-ctx.Done():
				return
			case <-t.C:
			}
			if silent := d.prog.silentFor(d.clock.Now()); silent >= d.opts.StuckAfter {
				if !stuck {
					stuck = true
					d.log.Error("the pass has made no progress; no longer feeding the systemd watchdog, so that systemd restarts the agent",
						"silent_for", silent.Round(time.Millisecond).String(), "stuck_after", d.opts.StuckAfter.String())
				}
				continue
			}
			if stuck {
				stuck = false
				d.log.Info("the pass moves again; feeding the systemd watchdog")
			}
			d.opts.Notify("WATCHDOG=1")
		}
	}()
	return cancel
}
