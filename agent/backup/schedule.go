package backup

import (
	"context"
	"fmt"
	"hash/fnv"
	"time"

	"github.com/robfig/cron/v3"

	"github.com/homelab-agent/homelab-agent/agent/clock"
)

// Clock is what the scheduler needs of agent/clock's Clock (clock.Real
// unless a test injects a fake one).
type Clock interface {
	Now() time.Time
	// After sends the time once d has passed.
	After(d time.Duration) <-chan time.Time
}

// Task names, in the order due tasks run.
const (
	TaskBackup = "backup"
	TaskPrune  = "prune"
	TaskCheck  = "check"
)

// Scheduler runs a host's backups, prune and check on their cron
// schedules, each shifted by the host's fixed delay. A run missed while
// the VM was off (the last run is older than the slot that followed it)
// runs once at start. Tasks run one after another in one goroutine, and
// the Runner's lock keeps a backup and a prune from overlapping with a
// command run by hand.
type Scheduler struct {
	Runner *Runner
	// Jobs returns the host's current jobs at each run (the daemon's
	// latest desired state).
	Jobs  func() []Job
	Clock Clock
	// Do runs one task; nil runs it with Runner. Tests may count runs.
	Do func(ctx context.Context, task string) error
	// WatchEvery is how often staleness is checked between runs (1h).
	WatchEvery time.Duration
}

type task struct {
	name  string
	sched cron.Schedule
	next  time.Time
}

// HostDelay is the host's fixed delay in [0, max): the same on every
// start, different between hosts, so that hosts sharing a repository do
// not all start at once.
func HostDelay(host string, max time.Duration) time.Duration {
	if max < time.Second {
		return 0
	}
	h := fnv.New64a()
	h.Write([]byte(host))
	return time.Duration(h.Sum64()%uint64(max/time.Second)) * time.Second
}

// slot returns the first firing strictly after t of a schedule shifted by delay.
func slot(s cron.Schedule, delay time.Duration, t time.Time) time.Time {
	return s.Next(t.Add(-delay)).Add(delay)
}

// Interval is a schedule's period around t (the gap between its next two firings).
func Interval(s cron.Schedule, t time.Time) time.Duration {
	a := s.Next(t)
	return s.Next(a).Sub(a)
}

// Run schedules until ctx ends. It returns the schedule error at once if
// a schedule does not parse.
func (s *Scheduler) Run(ctx context.Context) error {
	clk := s.Clock
	if clk == nil {
		clk = clock.Real
	}
	cfg := s.Runner.Config
	delay := HostDelay(cfg.Host, cfg.RandomDelay)
	var tasks []*task
	for _, x := range []struct{ name, expr string }{{TaskBackup, cfg.Schedule}, {TaskPrune, cfg.PruneSchedule}, {TaskCheck, cfg.CheckSchedule}} {
		sc, err := cron.ParseStandard(x.expr)
		if err != nil {
			return fmt.Errorf("backup %s schedule %q: %w", x.name, x.expr, err)
		}
		tasks = append(tasks, &task{name: x.name, sched: sc})
	}
	now := clk.Now()
	st, err := s.Runner.Status()
	if err != nil {
		return err
	}
	for _, t := range tasks {
		last := s.lastRun(st, t.name)
		if !last.IsZero() && !slot(t.sched, delay, last).After(now) {
			t.next = now // missed while off: catch up once, now
			s.Runner.log().Info("catching up a missed backup task", "task", t.name, "last", last)
		} else {
			t.next = slot(t.sched, delay, now)
		}
	}
	watch := s.WatchEvery
	if watch == 0 {
		watch = time.Hour
	}
	for {
		now = clk.Now()
		for _, t := range tasks {
			if t.next.After(now) {
				continue
			}
			if err := s.do(ctx, t.name); err != nil && ctx.Err() == nil {
				s.Runner.log().Error("scheduled backup task failed", "task", t.name, "err", err)
			}
			if ctx.Err() != nil {
				return nil
			}
			t.next = slot(t.sched, delay, clk.Now())
		}
		s.watch(ctx, tasks[0].sched, clk.Now())
		next := now.Add(watch)
		for _, t := range tasks {
			if t.next.Before(next) {
				next = t.next
			}
		}
		select {
		case <-ctx.Done():
			return nil
		case <-clk.After(next.Sub(clk.Now())):
		}
	}
}

func (s *Scheduler) lastRun(st *Status, name string) time.Time {
	switch name {
	case TaskPrune:
		if st.Prune != nil {
			return st.Prune.LastRun
		}
	case TaskCheck:
		if st.Check != nil {
			return st.Check.LastRun
		}
	case TaskBackup:
		// The oldest service's last run: a service that missed its run is caught up.
		var last time.Time
		for _, j := range s.jobs() {
			r := st.Services[j.Service]
			if r == nil || r.LastRun.IsZero() {
				continue
			}
			if last.IsZero() || r.LastRun.Before(last) {
				last = r.LastRun
			}
		}
		return last
	}
	return time.Time{}
}

func (s *Scheduler) jobs() []Job {
	if s.Jobs == nil {
		return nil
	}
	return s.Jobs()
}

func (s *Scheduler) do(ctx context.Context, name string) error {
	if s.Do != nil {
		return s.Do(ctx, name)
	}
	return s.RunTask(ctx, name)
}

// RunTask runs one task (TaskBackup, TaskPrune or TaskCheck) with the
// Runner, whatever Do says. A Do that runs tasks under another context
// (the daemon lets a running backup finish when it restarts the
// scheduler for a new schedule) calls it.
func (s *Scheduler) RunTask(ctx context.Context, name string) error {
	switch name {
	case TaskBackup:
		for _, r := range s.Runner.Backup(ctx, s.jobs()) {
			if r.Err != nil {
				return r.Err
			}
		}
		return nil
	case TaskPrune:
		return s.Runner.Prune(ctx)
	default:
		return s.Runner.Check(ctx)
	}
}

// watch notifies, once, about each service whose last successful backup
// is older than twice the schedule's interval.
func (s *Scheduler) watch(ctx context.Context, sched cron.Schedule, now time.Time) {
	limit := 2 * Interval(sched, now)
	isStale := func(r *Record) bool {
		return r != nil && !r.LastSuccess.IsZero() && !r.Notified && now.Sub(r.LastSuccess) > limit
	}
	cur, err := s.Runner.Status()
	if err != nil {
		return
	}
	any := false
	for _, j := range s.jobs() {
		any = any || isStale(cur.Services[j.Service])
	}
	if !any {
		return
	}
	var stale []string
	s.Runner.record(func(st *Status) {
		for _, j := range s.jobs() {
			r := st.Services[j.Service]
			if !isStale(r) {
				continue
			}
			r.Notified = true
			stale = append(stale, fmt.Sprintf("the last successful backup of %s on %s is from %s, older than twice its interval (%s)",
				j.Service, s.Runner.Config.Host, r.LastSuccess.UTC().Format(time.RFC3339), limit/2))
		}
	})
	for _, msg := range stale {
		s.Runner.log().Error("backup is stale", "msg", msg)
		if n := s.Runner.notifier(); n != nil {
			if err := n.Send(ctx, "backup on "+s.Runner.Config.Host+" is stale", msg); err != nil {
				s.Runner.log().Warn("notifying", "err", err)
			}
		}
	}
}
