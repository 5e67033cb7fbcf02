package daemon

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"time"

	"github.com/homelab-agent/homelab-agent/agent"
	"github.com/homelab-agent/homelab-agent/agent/gitsync"
	"github.com/homelab-agent/homelab-agent/agent/heartbeat"
	"github.com/homelab-agent/homelab-agent/agent/rotate"
	"github.com/homelab-agent/homelab-agent/agent/secrets"
	"github.com/homelab-agent/homelab-agent/agent/secrets/vault"
	"github.com/homelab-agent/homelab-agent/agent/state"
)

// Converge runs one pass of the loop: sync, then apply the head if it is
// trusted, valid and applies cleanly, else keep (or return to) the last
// good commit. It returns the time to wait before the next pass.
func (d *Daemon) Converge(ctx context.Context) time.Duration {
	start := d.clock.Now()
	sctx, cancel := context.WithTimeout(ctx, d.opts.SyncTimeout)
	res, err := d.syncer.Sync(sctx)
	cancel()
	d.metrics.syncSeconds.Observe(d.clock.Now().Sub(start).Seconds())
	now := d.clock.Now()
	var fe *gitsync.ForcePushError
	switch {
	case err == nil:
		d.metrics.syncs.WithLabelValues("ok").Inc()
		d.failures = 0
		d.update(func(s *Status) {
			s.LastSync, s.LastSyncOK, s.SyncError = now, now, ""
			s.HeadCommit, s.RemoteCommit = res.Head, ""
		})
		d.metrics.lastSyncOK.Set(float64(now.Unix()))
	case errors.As(err, &fe):
		// The server answered; what it holds is refused.
		d.metrics.syncs.WithLabelValues("refused").Inc()
		d.failures = 0
		if d.Status().RemoteCommit != res.Remote {
			d.metrics.refused.WithLabelValues("force_push").Inc()
			d.log.Error("refusing the branch head", "err", err)
		}
		d.update(func(s *Status) {
			s.LastSync, s.LastSyncOK, s.SyncError = now, now, err.Error()
			s.HeadCommit, s.RemoteCommit = res.Head, res.Remote
		})
		d.metrics.lastSyncOK.Set(float64(now.Unix()))
	default:
		if ctx.Err() != nil {
			return 0
		}
		d.metrics.syncs.WithLabelValues("error").Inc()
		d.failures++
		wait := d.wait()
		d.update(func(s *Status) { s.LastSync, s.SyncError = now, err.Error() })
		st := d.Status()
		d.log.Warn("sync failed; keeping the applied state", "err", err, "failures", d.failures,
			"stale", st.staleFor(now).Round(time.Second).String(), "retry_in", wait.Round(time.Millisecond).String())
		return wait
	}
	if res.Head != "" {
		d.converge(ctx, res.Head)
	}
	return d.wait()
}

// converge applies head, or the last good commit when head is refused.
func (d *Daemon) converge(ctx context.Context, head string) {
	st, err := state.Recover(d.cfg.Root)
	if err != nil {
		d.fail(err.Error())
		return
	}
	if st.Recovered != "" {
		d.log.Error(st.Recovered)
	}
	refused := head == st.BadCommit
	if refused && st.BadHostStamp != "" && st.BadHostStamp != hostStamp(d.cfg.Root) {
		d.log.Info("the host's secrets changed since the commit failed; trying it again", "commit", short(head))
		refused = false
	}
	if refused && st.BadHostStamp != "" && !st.BadAt.IsZero() && !d.clock.Now().Before(st.BadAt.Add(RetryFailedAfter(st.BadTries))) {
		d.log.Info("trying a commit that failed to apply again", "commit", short(head), "tries", st.BadTries)
		refused = false
	}
	if !refused {
		switch ok, err := d.descends(head, st.LastGoodCommit); {
		case err != nil:
			// Not the commit's fault, maybe: refuse it this pass, unmarked.
			why := "cannot check that head " + short(head) + " descends from the last good commit " + short(st.LastGoodCommit) + ": " + err.Error()
			d.log.Error("refusing the head this pass", "commit", short(head), "err", why)
			st.BadReason = why
			refused = true
		case !ok:
			why := "head " + short(head) + " does not descend from the last good commit " + short(st.LastGoodCommit) +
				" (force-push, or history re-created on the server); set allow_force_push: true to accept it"
			d.markBad(head, "force_push", why)
			st.BadCommit, st.BadReason = head, why
			refused = true
		}
	}
	if !refused {
		if d.tryHead(ctx, head, st) || ctx.Err() != nil {
			return
		}
		if st, err = state.Load(d.cfg.Root); err != nil {
			d.fail(err.Error())
			return
		}
	}
	if st.LastGoodCommit == "" {
		d.fail("no good commit yet: nothing applied (" + short(st.BadCommit) + ": " + firstLine(st.BadReason) + ")")
		return
	}
	if err := d.verify(st.LastGoodCommit); err != nil {
		// trusted_keys changed since it was applied.
		d.fail("not re-applying last good commit " + short(st.LastGoodCommit) + ": " + err.Error())
		return
	}
	d.rollback = "return to the last good commit " + short(st.LastGoodCommit) + " (head " + short(head) + " refused)"
	_, err = d.apply(ctx, st.LastGoodCommit)
	d.rollback = ""
	if err != nil {
		if ctx.Err() == nil {
			d.fail("re-applying last good commit " + short(st.LastGoodCommit) + ": " + err.Error())
		}
		return
	}
	d.update(func(s *Status) {
		s.LastError = "head " + short(head) + " is refused; on last good commit " + short(st.LastGoodCommit) + ": " + st.BadReason
	})
}

// hold keeps the host on its last good commit while head waits for its
// wave, and says so.
func (d *Daemon) hold(ctx context.Context, st *state.State, why string) {
	if st.LastGoodCommit != "" {
		d.rollback = "keep the last good commit " + short(st.LastGoodCommit) + " (" + why + ")"
		_, err := d.apply(ctx, st.LastGoodCommit)
		d.rollback = ""
		if err != nil && ctx.Err() == nil {
			d.fail("re-applying last good commit " + short(st.LastGoodCommit) + ": " + err.Error())
			return
		}
	}
	d.update(func(s *Status) { s.LastError, s.Waiting = why, why })
}

// tryHead verifies and applies head; on refusal it marks head bad.
func (d *Daemon) tryHead(ctx context.Context, head string, st *state.State) bool {
	if err := d.verifyRange(st.LastGoodCommit, head); err != nil {
		var ue *gitsync.UntrustedError
		if !errors.As(err, &ue) {
			d.fail(err.Error())
			return false
		}
		d.markBad(head, "untrusted", err.Error())
		return false
	}
	if head != st.LastGoodCommit {
		d.gateHead = head // a new head passes its wave's gate first (applyCommit)
	}
	kind, err := d.apply(ctx, head)
	d.gateHead = ""
	if ctx.Err() != nil {
		return false
	}
	if err != nil {
		switch kind {
		case "transient":
			d.fail(err.Error())
			return true // not the commit's fault: leave the host alone
		case "wave_wait":
			d.log.Info("holding the head for its wave", "commit", short(head), "why", err.Error())
			d.hold(ctx, st, err.Error())
			return true
		}
		d.markBad(head, kind, err.Error())
		return false
	}
	if ok, why := d.gate(ctx, head, st.LastGoodCommit); !ok {
		d.markBad(head, "unhealthy", why)
		return false
	}
	if st.BadCommit != "" {
		if s, err := state.Load(d.cfg.Root); err == nil {
			s.BadCommit, s.BadReason, s.BadHostStamp, s.BadAt, s.BadTries = "", "", "", time.Time{}, 0
			if err := s.Save(d.cfg.Root); err != nil {
				d.fail(err.Error())
			}
		}
		d.refreshFromState()
	}
	return true
}

// verifyCommit checks a commit's signature when trusted_keys is set.
func (d *Daemon) verifyCommit(commit string) error {
	if d.keys.Empty() {
		return nil
	}
	c, err := d.syncer.Commit(commit)
	if err != nil {
		return err
	}
	_, err = d.keys.Verify(c)
	return err
}

// applyCommit checks out a commit, loads the lab and applies the host.
// kind says what failed: "invalid" (the lab did not load), "apply_failed",
// or "transient" (not the commit's fault: checkout, lock).
func (d *Daemon) applyCommit(ctx context.Context, commit string) (kind string, err error) {
	dir, err := d.syncer.Checkout(commit)
	var ce *gitsync.ContentError
	if errors.As(err, &ce) {
		return "invalid", err // over the content limits: the commit's fault
	}
	if err != nil {
		return "transient", err
	}
	// All of homelab.yaml is checked; compose files only for this host.
	l, err := loadLab(dir, d.cfg.Host, agent.Options{Root: d.cfg.Root, Only: d.opts.Only})
	if err != nil {
		return "invalid", err
	}
	if commit == d.gateHead {
		// Canary waves: the lab as this commit describes it says whether
		// the lower waves must have it first (read once, under recover).
		switch wait, refuse := d.waveGate(ctx, commit, l); {
		case refuse != "":
			return "wave", errors.New(refuse)
		case wait != "":
			return "wave_wait", errors.New(wait)
		}
	}
	prev := ""
	if st, err := state.Load(d.cfg.Root); err == nil {
		prev = st.AppliedCommit
	}
	trigger := d.because(prev, commit)
	start := d.clock.Now()
	actx := d.withConfirm(ctx)
	if d.rollback != "" {
		// Shared credentials are only added back (rotate.IsReturning).
		actx = rotate.Returning(actx)
	}
	rep, err := agent.Apply(actx, l, d.cfg.Host, agent.Options{Root: d.cfg.Root, Only: d.opts.Only, Now: d.clock.Now,
		Hooks: d.opts.Hooks, Log: heartbeat.Logger(ctx, d.log), Commit: commit, Trigger: trigger})
	d.metrics.applySeconds.Observe(d.clock.Now().Sub(start).Seconds())
	if rep == nil && err != nil && errors.Is(err, agent.ErrLocked) {
		d.metrics.applies.WithLabelValues("error").Inc()
		return "transient", err
	}
	if err != nil {
		d.metrics.applies.WithLabelValues("error").Inc()
	} else {
		d.metrics.applies.WithLabelValues("ok").Inc()
	}
	d.update(func(s *Status) {
		s.LastApply = d.clock.Now()
		if rep != nil {
			s.LastReport = rep
		}
		if err == nil {
			s.LastError = ""
			if d.rollback == "" {
				s.Waiting = ""
			}
		}
	})
	d.refreshFromState()
	d.last = lastPass{commit: commit, lab: l, changed: rep != nil && rep.Changed}
	if rep != nil && rep.Changed && prev == commit && d.rollback == "" {
		d.recordDrift(rep)
	}
	if rep != nil && rep.Changed && err == nil {
		d.log.Info("applied", "commit", short(commit), "changes", len(rep.Changes), "because", trigger)
	}
	if err != nil {
		return "apply_failed", err
	}
	return "", nil
}

// RetryFailedAfter is how long a commit that failed to apply tries times in
// a row is left alone before the next try: 1 min, doubling, at most 1 h.
// Only apply failures are retried (a mirror, a registry or a lock may come
// back); an invalid, untrusted or unhealthy commit waits for a newer head.
func RetryFailedAfter(tries int) time.Duration {
	d := time.Minute
	for i := 1; i < tries && d < time.Hour; i++ {
		d *= 2
	}
	return min(d, time.Hour)
}

// markBad records head as refused until a newer head arrives (or, for an
// apply failure, until its retry is due or the host's secrets change).
func (d *Daemon) markBad(head, kind, reason string) {
	d.metrics.refused.WithLabelValues(kind).Inc()
	d.log.Error("refusing commit; keeping the last good commit", "commit", short(head), "why", kind, "err", reason)
	st, err := state.Load(d.cfg.Root)
	if err == nil {
		tries := 0
		if kind == "apply_failed" && st.BadCommit == head {
			tries = st.BadTries
		}
		st.BadCommit, st.BadReason, st.BadHostStamp, st.BadAt, st.BadTries = head, reason, "", time.Time{}, 0
		if kind == "apply_failed" {
			st.BadHostStamp = hostStamp(d.cfg.Root)
			st.BadAt, st.BadTries = d.clock.Now(), tries+1
		}
		err = st.Save(d.cfg.Root)
	}
	if err != nil {
		d.fail(err.Error())
	}
	d.refreshFromState()
}

func (d *Daemon) fail(msg string) {
	d.log.Error(msg)
	d.update(func(s *Status) { s.LastError = msg })
}

// refreshFromState copies what state.json says into the status.
func (d *Daemon) refreshFromState() {
	st, err := state.Load(d.cfg.Root)
	if err != nil {
		return
	}
	d.update(func(s *Status) {
		s.Role = st.Role
		s.AppliedCommit, s.LastGoodCommit = st.AppliedCommit, st.LastGoodCommit
		s.BadCommit, s.BadReason = st.BadCommit, st.BadReason
		s.Resources = resourcesOf(st)
	})
	d.metrics.setCommits(st.AppliedCommit, st.LastGoodCommit)
}

func short(h string) string {
	if len(h) > 12 {
		return h[:12]
	}
	return h
}

func firstLine(s string) string {
	l, _, _ := strings.Cut(s, "\n")
	return l
}

// hostStamp fingerprints what the host supplies to a pass beyond the
// commit: secrets.env's and the age identity's size and time, and the names (never the values) of
// HOMELAB_SECRET_* variables.
func hostStamp(root string) string {
	h := sha256.New()
	// The identity counts too: a host whose identity arrives after a pass
	// failed for want of it applies the same commit again.
	for _, f := range []string{secrets.File, vault.IdentityFile} {
		if fi, err := os.Stat(filepath.Join(root, f)); err == nil {
			fmt.Fprintf(h, "%d %d\n", fi.Size(), fi.ModTime().UnixNano())
		}
	}
	var names []string
	for _, kv := range os.Environ() {
		if k, _, _ := strings.Cut(kv, "="); strings.HasPrefix(k, secrets.EnvPrefix) {
			names = append(names, k)
		}
	}
	sort.Strings(names)
	fmt.Fprintln(h, strings.Join(names, ","))
	return hex.EncodeToString(h.Sum(nil))[:16]
}
