package daemon

import (
	"context"
	"fmt"
	"os"
	"slices"
	"sort"
	"sync"
	"time"

	"github.com/homelab-agent/homelab-agent/agent"
	"github.com/homelab-agent/homelab-agent/agent/backup"
	"github.com/homelab-agent/homelab-agent/agent/secrets/vault"
	"github.com/homelab-agent/homelab-agent/agent/state"
)

// backups runs the host's backup scheduler for the last good commit's
// lab. The daemon's loop tells it (kick) after every pass; it restarts
// the scheduler when the backup settings or the host's secrets change.
type backups struct {
	d    *Daemon
	kick chan struct{}

	mu      sync.Mutex
	setup   *backupSetup // nil: the host has no backups (or no good commit yet)
	running string       // key of the running scheduler, "" when none
	started time.Time    // when it started
	err     string       // the scheduler's last error
}

// backupSetup is what the last good commit says about the host's backups.
type backupSetup struct {
	commit  string
	backups *agent.Backups
	dir     string // the checkout, for backup-dump's --repo
	cfg     backup.Config
	jobs    []backup.Job // plain jobs (no hooks), for status
	key     string       // the scheduler restarts when it changes
}

func newBackups(d *Daemon) *backups {
	return &backups{d: d, kick: make(chan struct{}, 1)}
}

// scheduled reports whether this daemon runs the scheduler: on the real
// host unless --only leaves backup out; under a folder root only when
// --only names backup (its backups act outside the root).
func (b *backups) scheduled() bool {
	if only := b.d.opts.Only; len(only) > 0 {
		return slices.Contains(only, backup.Subsystem)
	}
	return b.d.cfg.Root == "/" || b.d.cfg.Root == ""
}

func (b *backups) clock() backup.Clock {
	if b.d.opts.BackupClock != nil {
		return b.d.opts.BackupClock
	}
	return b.d.clock
}

// refresh reads the last good commit's backup settings after a pass and
// kicks the manager. A checkout is made only when the good commit moved.
func (b *backups) refresh() {
	st, err := state.Load(b.d.cfg.Root)
	if err != nil || st.LastGoodCommit == "" {
		return
	}
	b.mu.Lock()
	cur := b.setup
	b.mu.Unlock()
	stamp := hostStamp(b.d.cfg.Root)
	if cur != nil && cur.commit == st.LastGoodCommit {
		if want := cur.keyWith(stamp); want != cur.key {
			b.mu.Lock()
			b.setup = &backupSetup{commit: cur.commit, backups: cur.backups, dir: cur.dir, cfg: cur.cfg, jobs: cur.jobs, key: want}
			b.mu.Unlock()
		}
		b.poke()
		return
	}
	dir, err := b.d.syncer.Checkout(st.LastGoodCommit)
	if err != nil {
		b.d.log.Warn("reading the backup settings of the last good commit", "err", err)
		return
	}
	l, err := agent.LoadFor(dir, b.d.cfg.Host, agent.Options{Only: []string{"backup"}})
	if err != nil {
		b.d.log.Warn("reading the backup settings of the last good commit", "err", err)
		return
	}
	s := &backupSetup{commit: st.LastGoodCommit, dir: dir}
	hb, err := agent.HostBackups(l, b.d.cfg.Host, b.d.cfg.Root)
	if err != nil || !hb.Config.Enabled() || len(hb.Jobs) == 0 {
		s = nil
	} else {
		s.backups, s.cfg, s.jobs = hb, hb.Config, hb.Jobs
		s.key = s.keyWith(stamp)
	}
	b.mu.Lock()
	b.setup = s
	b.mu.Unlock()
	b.poke()
}

// keyWith is what restarts the scheduler when it changes: the schedule
// file's content (schedules, delay, keep, services), the repository and
// notify URL as written, and the host's secrets stamp (the Runner holds
// the secrets it was started with).
func (s *backupSetup) keyWith(stamp string) string {
	return string(backup.RenderSchedule(s.cfg, s.jobs)) + "\x00" + s.cfg.Repository + "\x00" + s.cfg.NotifyURL + "\x00" + stamp
}

func (b *backups) poke() {
	select {
	case b.kick <- struct{}{}:
	default:
	}
}

func (b *backups) current() *backupSetup {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.setup
}

// run starts, restarts and stops the scheduler until ctx ends. A restart
// for new settings lets a running task finish (tasks run under ctx, not
// the scheduler's own context); ctx's end cancels it, and the backup's
// quiesce undo step still runs (agent/backup guarantees it).
func (b *backups) run(ctx context.Context) {
	var cancel context.CancelFunc
	var done chan struct{}
	stop := func() {
		if cancel != nil {
			cancel()
			<-done
			cancel = nil
			b.mu.Lock()
			b.running, b.started = "", time.Time{}
			b.mu.Unlock()
		}
	}
	defer stop()
	key := ""
	for {
		select {
		case <-ctx.Done():
			return
		case <-b.kick:
		}
		s := b.current()
		want := ""
		if s != nil && b.scheduled() {
			want = s.key
		}
		if want == key {
			continue
		}
		if key != "" {
			b.d.log.Info("stopping the backup scheduler (settings changed)")
		}
		stop()
		key = want
		if s == nil || want == "" {
			continue
		}
		sched, err := b.scheduler(ctx, s)
		if err != nil {
			b.d.log.Error("backup scheduler not started; trying again after the next pass", "err", err)
			b.mu.Lock()
			b.err = err.Error()
			b.mu.Unlock()
			key = ""
			continue
		}
		sctx, c := context.WithCancel(ctx)
		cancel, done = c, make(chan struct{})
		b.mu.Lock()
		b.running, b.started, b.err = want, b.clock().Now(), ""
		b.mu.Unlock()
		b.d.log.Info("backup scheduler started", "schedule", s.cfg.Schedule, "commit", short(s.commit),
			"delay", backup.HostDelay(s.cfg.Host, s.cfg.RandomDelay).String())
		go func() {
			defer close(done)
			if err := sched.Run(sctx); err != nil {
				b.d.log.Error("backup scheduler stopped", "err", err)
				b.mu.Lock()
				b.err = err.Error()
				b.mu.Unlock()
			}
		}()
	}
}

// scheduler builds the scheduler for a setup. On the real host the jobs
// carry the roles' quiesce steps and dumps (Docker Engine); under a
// folder root there are no containers to quiesce.
func (b *backups) scheduler(ctx context.Context, s *backupSetup) (*backup.Scheduler, error) {
	store, err := vault.LoadHost(s.cfg.Root, s.dir, s.cfg.Host, os.Environ())
	if err != nil {
		return nil, err
	}
	r := &backup.Runner{Config: s.cfg, Secrets: store, Log: b.d.log.With("subsystem", "backup"), RetryLock: 30 * time.Minute}
	r.Now = b.clock().Now
	if s.cfg.Root == "/" {
		// Control is for restores; a scheduled backup does not need it.
		if ctl, err := backup.NewDockerControl(); err == nil {
			r.Control = ctl
		}
	}
	hooked, err := s.backups.HookedJobs(s.dir)
	if err != nil {
		return nil, err
	}
	jobs := func() []backup.Job { return hooked }
	if adjust := b.d.opts.BackupJobs; adjust != nil {
		base := jobs
		jobs = func() []backup.Job { return adjust(base()) }
	}
	sched := &backup.Scheduler{Runner: r, Jobs: jobs, Clock: b.clock()}
	sched.Do = func(_ context.Context, task string) error { return sched.RunTask(ctx, task) }
	return sched, nil
}

// BackupStatus is the host's backups in GET /status.
type BackupStatus struct {
	// Commit is the lab commit the settings come from (the last good one).
	Commit string `json:"commit"`
	// Repository is shown without credentials.
	Repository    string `json:"repository"`
	Schedule      string `json:"schedule"`
	HostDelay     string `json:"host_delay"`
	PruneSchedule string `json:"prune_schedule"`
	CheckSchedule string `json:"check_schedule"`
	// Scheduled is set while this daemon runs the scheduler (not under a
	// folder root unless --only names backup).
	Scheduled        bool      `json:"scheduled"`
	SchedulerStarted time.Time `json:"scheduler_started,omitzero"`
	NextBackup       time.Time `json:"next_backup,omitzero"`
	// Services are the host's services with their last runs.
	Services []BackupService `json:"services"`
	Prune    *backup.Record  `json:"prune,omitempty"`
	Check    *backup.Record  `json:"check,omitempty"`
	// Error is the status file's or the scheduler's error.
	Error string `json:"error,omitempty"`
	// Problems lists failing and stale backups, prune and check, one
	// sentence each; `homelab-agent status` exits 1 when there is one.
	Problems []string `json:"problems,omitempty"`
}

// BackupService is one service's backup record.
type BackupService struct {
	Service string `json:"service"`
	backup.Record
	// Stale is set when the last success (or the scheduler's start, when
	// there was none) is older than twice the schedule's interval.
	Stale bool `json:"stale"`
}

// backupStatus reads backup.json for the host's current services.
func (b *backups) status() *BackupStatus {
	b.mu.Lock()
	s, running, started, serr := b.setup, b.running, b.started, b.err
	b.mu.Unlock()
	if s == nil {
		return nil
	}
	now := b.clock().Now()
	c := s.cfg
	delay := backup.HostDelay(c.Host, c.RandomDelay)
	out := &BackupStatus{Commit: s.commit, Repository: backup.DisplayRepo(c.Repository), Schedule: c.Schedule,
		HostDelay: delay.String(), PruneSchedule: c.PruneSchedule, CheckSchedule: c.CheckSchedule,
		Scheduled: running != "", SchedulerStarted: started, Services: []BackupService{}, Error: serr}
	if out.Scheduled {
		out.NextBackup, _ = backup.NextRun(c.Schedule, delay, now)
	}
	recs, err := backup.LoadStatus(c.Root)
	if err != nil {
		out.Error = err.Error()
		recs = &backup.Status{Services: map[string]*backup.Record{}}
	}
	interval, _ := backup.ScheduleInterval(c.Schedule, now)
	for _, j := range s.jobs {
		svc := BackupService{Service: j.Service}
		if r := recs.Services[j.Service]; r != nil {
			svc.Record = *r
		}
		since := svc.LastSuccess
		if since.IsZero() {
			since = started
		}
		svc.Stale = out.Scheduled && !since.IsZero() && now.Sub(since) > 2*interval
		switch {
		case svc.Failing():
			out.Problems = append(out.Problems, fmt.Sprintf("backup of %s failed at %s: %s", j.Service, svc.LastFailure.Format(time.RFC3339), firstLine(svc.LastError)))
		case svc.Stale && svc.LastSuccess.IsZero():
			out.Problems = append(out.Problems, fmt.Sprintf("no successful backup of %s since the scheduler started at %s (more than twice the interval, %s)", j.Service, started.Format(time.RFC3339), interval))
		}
		if svc.Stale && !svc.LastSuccess.IsZero() {
			out.Problems = append(out.Problems, fmt.Sprintf("the last successful backup of %s is from %s, older than twice the interval (%s)", j.Service, svc.LastSuccess.Format(time.RFC3339), interval))
		}
		out.Services = append(out.Services, svc)
	}
	sort.Slice(out.Services, func(i, j int) bool { return out.Services[i].Service < out.Services[j].Service })
	out.Prune, out.Check = recs.Prune, recs.Check
	for _, m := range []struct {
		name string
		r    *backup.Record
	}{{"prune", recs.Prune}, {"check", recs.Check}} {
		if m.r != nil && m.r.Failing() {
			out.Problems = append(out.Problems, fmt.Sprintf("backup %s failed at %s: %s", m.name, m.r.LastFailure.Format(time.RFC3339), firstLine(m.r.LastError)))
		}
	}
	if out.Error != "" {
		out.Problems = append(out.Problems, "backup: "+firstLine(out.Error))
	}
	return out
}

// records is what /metrics exposes: the current services' records, nil
// for a host without backups.
func (b *backups) records() (*backup.Status, error) {
	s := b.current()
	if s == nil {
		return nil, nil
	}
	recs, err := backup.LoadStatus(s.cfg.Root)
	if err != nil {
		return nil, err
	}
	out := &backup.Status{Host: s.cfg.Host, Services: map[string]*backup.Record{}, Prune: recs.Prune, Check: recs.Check}
	for _, j := range s.jobs {
		r := recs.Services[j.Service]
		if r == nil {
			r = &backup.Record{}
		}
		out.Services[j.Service] = r
	}
	return out, nil
}
