package daemon

import (
	"context"
	"runtime/debug"
	"slices"

	"github.com/homelab-agent/homelab-agent/agent"
	"github.com/homelab-agent/homelab-agent/agent/firewall"
	"github.com/homelab-agent/homelab-agent/agent/gitsync"
	"github.com/homelab-agent/homelab-agent/agent/heartbeat"
	"github.com/homelab-agent/homelab-agent/agent/state"
)

// boot runs once when the daemon starts, before the first sync, from the
// local clone only (the remote, or DNS, may be down after a power cut):
//
//   - a corrupt state.json is moved aside and the state rebuilt: the last
//     good commit becomes the commit the clone has checked out, once its
//     firewall applies;
//   - the firewall of the last good commit is applied (--only firewall),
//     so the host is filtered even if no sync succeeds for hours. The boot
//     unit (firewall.BootUnit) has usually loaded the same table already,
//     and then this pass changes nothing.
//
// Failures are logged and leave the loop to do its usual work.
func (d *Daemon) boot(ctx context.Context) {
	d.prog.start(d.clock.Now())
	defer func() { d.prog.stop(d.clock.Now()) }()
	ctx = heartbeat.With(ctx, func() { d.prog.beat(d.clock.Now()) })
	defer func() { // a bad commit (or agent) never stops the daemon, at start either
		if v := recover(); v != nil {
			pe := &agent.PanicError{Value: v}
			d.logPanic("applying the firewall at start", pe, debug.Stack())
			d.update(func(s *Status) { s.LastError = "internal error in the start pass: " + firstLine(pe.Error()) })
		}
	}()
	st, err := state.Recover(d.cfg.Root)
	if err != nil {
		d.fail(err.Error())
		return
	}
	commit := st.LastGoodCommit
	if st.Recovered != "" {
		d.log.Error(st.Recovered)
		if commit, err = d.syncer.CheckedOut(); err != nil {
			d.log.Warn("cannot rebuild the last good commit from the clone", "err", err)
			return
		}
		d.log.Warn("rebuilding the state: the clone's checked-out commit is taken as the last good one", "commit", short(commit))
	}
	if commit == "" || (len(d.opts.Only) > 0 && !slices.Contains(d.opts.Only, firewall.Subsystem)) {
		return
	}
	if err := d.verify(commit); err != nil {
		d.fail("not applying the firewall of " + short(commit) + " at start: " + err.Error())
		return
	}
	dir, err := d.syncer.Checkout(commit)
	if err != nil {
		d.fail("applying the firewall at start: " + err.Error())
		return
	}
	l, err := loadLab(dir, d.cfg.Host, agent.Options{Root: d.cfg.Root, Only: []string{firewall.Subsystem}})
	if err != nil {
		d.fail("applying the firewall of " + short(commit) + " at start: " + err.Error())
		return
	}
	rep, err := agent.Apply(d.withConfirm(ctx), l, d.cfg.Host, agent.Options{Root: d.cfg.Root,
		Only: []string{firewall.Subsystem}, Now: d.clock.Now, Hooks: d.opts.Hooks, Log: heartbeat.Logger(ctx, d.log), Commit: commit,
		Trigger: "start: the firewall of the last good commit " + short(commit) + ", from the local clone"})
	if err != nil {
		d.fail("applying the firewall of " + short(commit) + " at start: " + err.Error())
		return
	}
	if st.Recovered != "" {
		if s, err := state.Load(d.cfg.Root); err == nil {
			s.LastGoodCommit, s.Host = commit, d.cfg.Host
			if err := s.Save(d.cfg.Root); err != nil {
				d.fail(err.Error())
			}
		}
	}
	d.refreshFromState()
	d.log.Info("firewall of the last good commit applied at start", "commit", short(commit), "changed", rep != nil && rep.Changed)
}

// withConfirm makes a firewall change prove that the host still reaches
// its git remote (a TCP connection; a refusal counts as reachable) besides
// the gateway, or roll back.
func (d *Daemon) withConfirm(ctx context.Context) context.Context {
	t := gitsync.ProbeTarget(d.cfg.Repo)
	if t == "" {
		return ctx
	}
	return firewall.WithConfirm(ctx, firewall.Confirm{Targets: []string{t}})
}
