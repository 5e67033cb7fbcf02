package daemon

import (
	"context"
	"time"

	"github.com/homelab-agent/homelab-agent/agent"
	"github.com/homelab-agent/homelab-agent/agent/health"
	"github.com/homelab-agent/homelab-agent/agent/lab"
	"github.com/homelab-agent/homelab-agent/agent/state"
)

// lastPass is what the loop remembers of its last pass.
type lastPass struct {
	commit  string
	lab     *lab.Lab
	changed bool
}

// HealthStatus is the host's last health check in GET /status.
type HealthStatus struct {
	CheckedAt time.Time `json:"checked_at"`
	Commit    string    `json:"commit"`
	OK        bool      `json:"ok"`
	// Failure names the failing probes, one line.
	Failure string          `json:"failure,omitempty"`
	Results []health.Result `json:"results"`
}

// probes returns the host's probes for the lab of the last pass.
func (d *Daemon) probes(l *lab.Lab) (health.Spec, bool) {
	if l == nil {
		return health.Spec{}, false
	}
	f := d.opts.Health
	if f == nil {
		if d.cfg.Root != "/" && d.cfg.Root != "" {
			return health.Spec{}, false // nothing runs for real under a folder root
		}
		f = agent.HealthOf
	}
	spec, err := f(l, d.cfg.Host)
	if err != nil {
		d.log.Warn("reading the host's health probes", "err", err)
		return health.Spec{}, false
	}
	return spec, len(spec.Probes) > 0
}

// gate is the health check of a pass that applied head: when the pass
// changed something and head is a new commit with a last good one to
// return to, the probes must pass within the role's deadline. If they do
// not, gate undoes head's claim to be good and says why; the caller marks
// head bad and re-applies prevGood. A first commit, or a change on the
// commit already good, has nothing to return to: its probes are run once
// and reported.
func (d *Daemon) gate(ctx context.Context, head, prevGood string) (ok bool, why string) {
	if d.last.commit != head || !d.last.changed {
		return true, ""
	}
	spec, any := d.probes(d.last.lab)
	if !any {
		return true, ""
	}
	if prevGood == "" || prevGood == head || !d.cfg.Gated() {
		// Nothing to return to (a first commit, or drift put back on the
		// same commit), or health_gate: false: the probes run once and are
		// reported, without holding the pass (or the first READY).
		rep := health.Run(ctx, spec)
		d.recordHealth(head, rep)
		if !rep.OK() {
			d.log.Warn("a health probe fails after a pass with nothing to roll back to (reported)", "commit", short(head), "failure", rep.Failure())
		}
		return true, ""
	}
	d.opts.Notify("STATUS=waiting for " + short(head) + " to be healthy")
	// The pass recorded head as good in state.json; until its probes pass
	// the status (and so the fleet: the next wave's gate) must not say so,
	// or a higher wave would apply head on this host's stale health.
	d.update(func(s *Status) { s.LastGoodCommit = prevGood })
	rep := health.Wait(ctx, d.clock, spec, d.opts.HealthEvery)
	d.recordHealth(head, rep)
	if rep.OK() || ctx.Err() != nil {
		d.refreshFromState()
		return true, ""
	}
	why = "rolled back " + short(head) + ": " + rep.Failure()
	// The pass recorded head as good; the last good commit is prevGood.
	if st, err := state.Load(d.cfg.Root); err == nil {
		st.LastGoodCommit = prevGood
		if err := st.Save(d.cfg.Root); err != nil {
			d.fail(err.Error())
		}
	}
	d.metrics.rollbacks.Inc()
	return false, why
}

// checkHealth runs the probes of the last pass's lab once (between
// changes): a failure is reported, never rolled back, since no change
// caused it.
func (d *Daemon) checkHealth(ctx context.Context) {
	spec, any := d.probes(d.last.lab)
	if !any {
		return
	}
	rep := health.Run(ctx, spec)
	if !rep.OK() {
		d.log.Warn("a health probe fails (no change was applied: reported, not rolled back)", "failure", rep.Failure())
	}
	d.recordHealth(d.last.commit, rep)
}

func (d *Daemon) recordHealth(commit string, rep *health.Report) {
	hs := &HealthStatus{CheckedAt: d.clock.Now(), Commit: commit, OK: rep.OK(), Failure: rep.Failure(), Results: rep.Results}
	d.update(func(s *Status) { s.Health = hs })
	ok := 0.0
	if hs.OK {
		ok = 1
	}
	d.metrics.healthy.Set(ok)
}
