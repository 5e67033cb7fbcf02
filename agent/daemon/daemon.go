// Package daemon is the long-running agent behind `homelab-agent run`: it
// polls the lab repo (gitsync), validates and applies new commits with the
// engine, keeps the host on the last good commit when a commit is invalid,
// untrusted or fails to apply, and serves status, metrics and a webhook.
// It speaks sd_notify to systemd and logs to the journal under it.
package daemon

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"net"
	"net/http"
	"path/filepath"
	"runtime/debug"
	"sync"
	"time"

	"github.com/homelab-agent/homelab-agent/agent"
	"github.com/homelab-agent/homelab-agent/agent/backup"
	"github.com/homelab-agent/homelab-agent/agent/clock"
	"github.com/homelab-agent/homelab-agent/agent/gitsync"
	"github.com/homelab-agent/homelab-agent/agent/health"
	"github.com/homelab-agent/homelab-agent/agent/lab"
)

// Options are the daemon's settings beyond agent.yaml.
type Options struct {
	Config *Config
	// Only limits every pass to some subsystems (like apply --only).
	Only []string
	// Hooks says whether reload hooks run (default auto: only when root is /).
	Hooks agent.HookMode
	// Log receives the daemon's log; nil discards.
	Log *slog.Logger
	// Notify sends an sd_notify message; nil uses $NOTIFY_SOCKET.
	Notify func(state string)
	// BackoffMax caps the retry interval while the git server is down
	// (default 10 minutes, or the poll interval if that is longer).
	BackoffMax time.Duration
	// Jitter is the fraction by which each wait varies (default 0.1).
	Jitter float64
	// SyncTimeout bounds one sync (default 2 minutes).
	SyncTimeout time.Duration
	// StaleAfter is how long without a sync that reached the server makes
	// the status stale (default 3 intervals + 30s, so one slow poll does not).
	StaleAfter time.Duration
	// Clock is the daemon's time: its poll timer, status and metrics, and
	// the passes it runs (nil is the wall clock; tests drive a fake).
	Clock clock.Clock
	// StuckAfter is how long a pass may go without a heartbeat (a resource
	// started, a log line, restic's progress) before the systemd watchdog
	// stops being fed, so that systemd restarts a hung agent (default 30m).
	StuckAfter time.Duration
	// BackupClock is the backup scheduler's clock when it must differ
	// from Clock (nil: Clock).
	BackupClock backup.Clock
	// BackupJobs, when set, adjusts the scheduler's jobs before each run
	// (tests add quiesce steps under a folder root).
	BackupJobs func([]backup.Job) []backup.Job
	// Health returns the host's probes for a lab; nil uses the roles'
	// declarations on the real host and no probes under a folder root.
	Health func(l *lab.Lab, host string) (health.Spec, error)
	// HealthEvery is how often probes are retried while a change waits
	// to be healthy (5 s); HealthInterval how often they run between
	// changes (1 minute).
	HealthEvery, HealthInterval time.Duration
	// PeerAddr is where another host's agent answers (its lab IP and this
	// agent's port when nil; tests point it at loopback).
	PeerAddr func(h *lab.Host) string
	// ImageTTL is how long a registry's answer about an image is reused
	// (images.DefaultTTL when zero).
	ImageTTL time.Duration
	// PeerTimeout is how long a lower-wave host may be unreachable before
	// the status says the next wave is blocked (10 minutes).
	PeerTimeout time.Duration
}

// Daemon is one running agent.
type Daemon struct {
	opts    Options
	clock   clock.Clock
	cfg     *Config
	log     *slog.Logger
	syncer  *gitsync.Syncer
	keys    *gitsync.Keyring
	trigger chan struct{}
	metrics *metrics
	backups *backups
	hooks   *hookGuard
	// ancestry replaces the clone's ancestry check (tests).
	ancestry func(old, new string) (bool, error)

	// last is the last pass the loop ran, rollback the reason of a return
	// to the last good commit in progress (the loop's goroutine only).
	last        lastPass
	rollback    string
	gateHead    string               // the new head a pass applies, which its wave must admit
	unreachable map[string]time.Time // lower-wave hosts not answering, since when
	fleetSrv    *http.Server         // the fleet endpoint on the lab IP (waves)

	mu       sync.Mutex
	st       Status
	changed  chan struct{} // closed at each status update (tests wait on it)
	failures int           // consecutive failed syncs
	prog     progress
}

// New checks the configuration; it touches neither disk nor network.
func New(opts Options) (*Daemon, error) {
	cfg := opts.Config
	if cfg == nil {
		return nil, errors.New("daemon: no config")
	}
	if err := cfg.Check(); err != nil {
		return nil, err
	}
	if err := agent.CheckOnly(opts.Only); err != nil {
		return nil, err
	}
	if opts.Log == nil {
		opts.Log = slog.New(slog.DiscardHandler)
	}
	if opts.Notify == nil {
		opts.Notify = sdNotify
	}
	if opts.BackoffMax == 0 {
		opts.BackoffMax = max(10*time.Minute, time.Duration(cfg.Interval))
	}
	if opts.Jitter == 0 {
		opts.Jitter = 0.1
	}
	if opts.StaleAfter == 0 {
		opts.StaleAfter = 3*time.Duration(cfg.Interval) + 30*time.Second
	}
	if opts.StuckAfter == 0 {
		opts.StuckAfter = 30 * time.Minute
	}
	if opts.SyncTimeout == 0 {
		opts.SyncTimeout = 2 * time.Minute
	}
	if opts.HealthEvery == 0 {
		opts.HealthEvery = 5 * time.Second
	}
	if opts.HealthInterval == 0 {
		opts.HealthInterval = time.Minute
	}
	if opts.PeerTimeout == 0 {
		opts.PeerTimeout = 10 * time.Minute
	}
	keys, err := gitsync.ParseKeys(cfg.TrustedKeys)
	if err != nil {
		return nil, err
	}
	s, err := gitsync.New(gitsync.Config{
		URL: cfg.Repo, Branch: cfg.Branch, Dir: filepath.Join(cfg.Root, gitsync.Dir),
		Auth:           gitsync.Auth{SSHKey: cfg.Auth.SSHKey, KnownHosts: cfg.Auth.KnownHosts, Token: cfg.Auth.Token},
		AllowForcePush: cfg.AllowForcePush, Log: opts.Log,
	})
	if err != nil {
		return nil, err
	}
	d := &Daemon{opts: opts, clock: clock.Or(opts.Clock), cfg: cfg, log: opts.Log, syncer: s, keys: keys,
		trigger: make(chan struct{}, 1), metrics: newMetrics()}
	d.hooks = newHookGuard(d.clock.Now)
	d.backups = newBackups(d)
	d.st = Status{Version: StatusVersion, Host: cfg.Host, Repo: gitsync.Redact(cfg.Repo), Branch: cfg.Branch,
		Resources: []ResourceStatus{}, Interval: time.Duration(cfg.Interval).String(), Started: d.clock.Now(),
		Warnings: warnings(keys)}
	d.metrics.register(d)
	return d, nil
}

// Trigger asks for a sync now (the webhook calls it); it never blocks.
func (d *Daemon) Trigger() {
	select {
	case d.trigger <- struct{}{}:
	default:
	}
}

// Run serves HTTP on ln (or on the configured address when ln is nil) and
// converges until ctx is done: READY=1 after the first pass, then a pass
// per interval or webhook. On cancellation the pass in progress finishes
// the resource it is on and Run returns nil after STOPPING=1.
func (d *Daemon) Run(ctx context.Context, ln net.Listener) error {
	if ln == nil {
		var err error
		if ln, err = net.Listen("tcp", d.cfg.Listen); err != nil {
			return fmt.Errorf("listening for status: %w", err)
		}
	}
	srv := newServer(d.Handler())
	go srv.Serve(ln)
	defer func() {
		sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		srv.Shutdown(sctx)
	}()
	d.log.Info("agent started", "repo", gitsync.Redact(d.cfg.Repo), "branch", d.cfg.Branch, "host", d.cfg.Host,
		"root", d.cfg.Root, "listen", ln.Addr().String(), "interval", time.Duration(d.cfg.Interval))
	for _, w := range d.st.Warnings {
		d.log.Warn(w)
	}
	stopWatchdog := d.watchdog()
	defer stopWatchdog()
	d.opts.Notify("STATUS=first sync of " + gitsync.Redact(d.cfg.Repo))

	d.boot(ctx) // before the scheduler reads state.json
	backupsDone := make(chan struct{})
	go func() { defer close(backupsDone); d.backups.run(ctx) }()

	timer := d.clock.NewTimer(0)
	defer timer.Stop()
	<-timer.C()
	healthTimer := d.clock.NewTimer(d.opts.HealthInterval)
	defer healthTimer.Stop()
	for first := true; ; first = false {
		wait := d.pass(ctx)
		if ctx.Err() != nil {
			break
		}
		d.serveFleet()
		// The agent idles for an interval now: hand the pass's garbage
		// back to the OS at once instead of when the scavenger gets to it
		// (a GC of a few MB, ~1 ms).
		debug.FreeOSMemory()
		if first {
			d.update(func(s *Status) { s.Ready = true })
			d.opts.Notify("READY=1\nSTATUS=" + d.statusLine())
		} else {
			d.opts.Notify("STATUS=" + d.statusLine())
		}
		d.update(func(s *Status) { s.NextSync = d.clock.Now().Add(wait) })
		timer.Reset(wait)
	waiting:
		for {
			select {
			case <-ctx.Done():
				break waiting
			case <-d.trigger:
				timer.Stop()
				break waiting
			case <-timer.C():
				break waiting
			case <-healthTimer.C():
				d.checkHealth(ctx)
				healthTimer.Reset(d.opts.HealthInterval)
			}
		}
		if ctx.Err() != nil {
			break
		}
	}
	if d.fleetSrv != nil {
		d.fleetSrv.Close()
	}
	d.opts.Notify("STOPPING=1\nSTATUS=stopping")
	<-backupsDone // a running backup is cancelled; its quiesce undo step runs
	d.log.Info("agent stopped")
	return nil
}

// wait is the time to the next poll: the interval with jitter, or a
// capped exponential backoff while syncs fail.
func (d *Daemon) wait() time.Duration {
	base := time.Duration(d.cfg.Interval)
	if d.failures > 0 {
		for i := 1; i < d.failures && base < d.opts.BackoffMax; i++ {
			base *= 2
		}
		base = min(base, d.opts.BackoffMax)
	}
	j := d.opts.Jitter
	return time.Duration(float64(base) * (1 - j + 2*j*rand.Float64()))
}
