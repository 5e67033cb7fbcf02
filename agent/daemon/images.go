package daemon

import (
	"cmp"
	"context"
	"os"
	"slices"
	"strings"
	"time"

	"github.com/homelab-agent/homelab-agent/agent"
	"github.com/homelab-agent/homelab-agent/agent/backup"
	"github.com/homelab-agent/homelab-agent/agent/docker"
	"github.com/homelab-agent/homelab-agent/agent/health"
	"github.com/homelab-agent/homelab-agent/agent/images"
	"github.com/homelab-agent/homelab-agent/agent/secrets/vault"
	"github.com/homelab-agent/homelab-agent/agent/state"
)

// ImageStatus is one service's image in GET /status.
type ImageStatus struct {
	Project string `json:"project"`
	Service string `json:"service"`
	images.Record
}

// imageUpdates runs after a pass on the last good commit: the registry
// check of every service with an update policy (cached), and the updates
// whose window is open. A failed or rolled back update is in the status,
// the metrics, the log and a notification (backup.notify_url).
func (d *Daemon) imageUpdates(ctx context.Context) {
	l := d.last.lab
	if l == nil || ctx.Err() != nil || !agent.UsesImageUpdates(l, d.cfg.Host) {
		return
	}
	if st, err := state.Load(d.cfg.Root); err != nil || st.LastGoodCommit != d.last.commit {
		return // on a refused head: the good commit's images wait for it to apply again
	}
	store, err := images.Open(d.cfg.Root)
	if err != nil {
		d.log.Warn("image updates", "err", err)
		return
	}
	log := d.log.With("subsystem", "images")
	probes, _ := d.probes(l)
	if !d.cfg.Gated() {
		// health_gate: false says the probes cannot judge this host's
		// services: an update is judged by its containers' healthchecks
		// and after-update command alone.
		probes = health.Spec{}
	}
	u := &docker.Updater{
		Store: store, Checker: &images.Checker{Store: store, Now: d.clock.Now, TTL: cmp.Or(d.opts.ImageTTL, time.Duration(d.cfg.ImageCheckTTL))}, Clock: d.clock,
		Backup:      d.backups.now,
		Health:      probes,
		HealthEvery: d.opts.HealthEvery,
		// An image's own healthcheck (Jellyfin's: every 30 s, 3 retries)
		// may take minutes to call a bad release unhealthy.
		HealthTimeout: 5 * time.Minute,
		Notify: func(ctx context.Context, title, msg string) {
			n := &backup.Notifier{URL: l.Backup.NotifyURL}
			if n.URL == "" {
				return
			}
			var err error
			if n.Secrets, err = vault.LoadHost(d.cfg.Root, l.Dir, d.cfg.Host, os.Environ()); err == nil {
				err = n.Send(ctx, title, msg)
			}
			if err != nil {
				log.Warn("cannot notify", "err", err)
			}
		},
	}
	outs, err := agent.UpdateImages(ctx, l, d.cfg.Host, agent.Options{Root: d.cfg.Root, Log: log, Now: d.clock.Now}, u)
	if err != nil && ctx.Err() == nil {
		log.Warn("image updates", "err", err)
	}
	for _, o := range outs {
		if o.Update != nil {
			d.metrics.imageUpdates.WithLabelValues(o.Update.Result).Inc()
		}
	}
	d.update(func(s *Status) { s.Images = imageStatus(store) })
}

// imageStatus lists the store's records, sorted.
func imageStatus(store *images.Store) []ImageStatus {
	recs, keys := store.Records()
	out := make([]ImageStatus, 0, len(keys))
	for _, k := range keys {
		project, service, _ := strings.Cut(k, "/")
		out = append(out, ImageStatus{Project: project, Service: service, Record: recs[k]})
	}
	return out
}

// loadImages reads images.json for the metrics.
func (d *Daemon) loadImages() (*images.Store, error) { return images.Open(d.cfg.Root) }

// now takes a fresh backup of a project's data before its images change,
// when the host backs it up (no backups: nothing to do).
func (b *backups) now(ctx context.Context, project string) error {
	s := b.current()
	if s == nil || !slices.ContainsFunc(s.jobs, func(j backup.Job) bool { return j.Service == project }) {
		return nil
	}
	sched, err := b.scheduler(ctx, s)
	if err != nil {
		return err
	}
	for _, j := range sched.Jobs() {
		if j.Service == project {
			start := time.Now()
			res := sched.Runner.BackupJob(ctx, j)
			b.d.log.Info("backup before an image update", "service", project, "snapshot", res.SnapshotID, "took", time.Since(start).Round(time.Millisecond).String())
			return res.Err
		}
	}
	return nil
}
