package backup

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"slices"
	"sync"
	"testing"
	"time"
)

// fakeClock moves only when the test advances it.
type fakeClock struct {
	mu      sync.Mutex
	now     time.Time
	waiters []fakeWaiter
	waiting chan struct{}
}

type fakeWaiter struct {
	at time.Time
	ch chan time.Time
}

func newFakeClock(t time.Time) *fakeClock {
	return &fakeClock{now: t, waiting: make(chan struct{}, 100)}
}

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *fakeClock) After(d time.Duration) <-chan time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	ch := make(chan time.Time, 1)
	c.waiters = append(c.waiters, fakeWaiter{c.now.Add(d), ch})
	c.waiting <- struct{}{}
	return ch
}

// step waits until the scheduler waits, then jumps to its deadline.
func (c *fakeClock) step(t *testing.T) time.Time {
	t.Helper()
	select {
	case <-c.waiting:
	case <-time.After(30 * time.Second):
		t.Fatal("the scheduler never waited")
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	w := c.waiters[0]
	c.waiters = c.waiters[1:]
	if w.at.After(c.now) {
		c.now = w.at
	}
	w.ch <- c.now
	return c.now
}

type runLog struct {
	mu   sync.Mutex
	runs []string
}

func (l *runLog) do(clk *fakeClock) func(context.Context, string) error {
	return func(_ context.Context, task string) error {
		l.mu.Lock()
		defer l.mu.Unlock()
		l.runs = append(l.runs, clk.Now().Format("Mon 01-02 15:04:05")+" "+task)
		return nil
	}
}

func (l *runLog) get() []string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return slices.Clone(l.runs)
}

func startScheduler(t *testing.T, s *Scheduler) {
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- s.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Error(err)
		}
	})
}

func schedRunner(t *testing.T) *Runner {
	cfg := Config{Host: "cloud", Root: t.TempDir(), Repository: "s3:http://127.0.0.1:1/x",
		Schedule: "0 3 * * *", PruneSchedule: DefaultPruneSchedule, CheckSchedule: DefaultCheckSchedule,
		RandomDelay: 30 * time.Minute}
	return &Runner{Config: cfg}
}

// TestScheduleWeek runs a simulated week: a backup every day at 03:00
// plus the host's delay, prune on Sunday 05:00 and check on Sunday 06:00
// (each plus the delay), never at the same time.
func TestScheduleWeek(t *testing.T) {
	r := schedRunner(t)
	delay := HostDelay("cloud", 30*time.Minute)
	if delay <= 0 || delay >= 30*time.Minute || delay != HostDelay("cloud", 30*time.Minute) || delay == HostDelay("photos", 30*time.Minute) {
		t.Fatalf("HostDelay = %v (photos %v): want fixed per host, in [0, 30m)", delay, HostDelay("photos", 30*time.Minute))
	}
	start := time.Date(2026, 3, 2, 10, 0, 0, 0, time.Local) // a Monday
	clk := newFakeClock(start)
	var log runLog
	startScheduler(t, &Scheduler{Runner: r, Clock: clk, Do: log.do(clk), Jobs: func() []Job { return []Job{job("nextcloud")} }})
	for clk.step(t).Before(start.Add(7 * 24 * time.Hour)) {
	}
	at := func(day, hour int, task string) string {
		return time.Date(2026, 3, day, hour, 0, 0, 0, time.Local).Add(delay).Format("Mon 01-02 15:04:05") + " " + task
	}
	var want []string
	for d := 3; d <= 9; d++ {
		want = append(want, at(d, 3, TaskBackup))
		if d == 8 {
			want = append(want, at(d, 5, TaskPrune), at(d, 6, TaskCheck))
		}
	}
	if got := log.get(); !slices.Equal(got, want) {
		t.Errorf("runs:\n%q\nwant:\n%q", got, want)
	}
}

// TestScheduleCatchUp: the VM was off at 03:00; the last backup is from
// the day before, so one backup runs at start, then the schedule resumes.
// The last prune was this week: no prune catch-up.
func TestScheduleCatchUp(t *testing.T) {
	r := schedRunner(t)
	delay := HostDelay("cloud", 30*time.Minute)
	start := time.Date(2026, 3, 4, 9, 0, 0, 0, time.Local) // Wednesday, after 03:00
	st := &Status{Services: map[string]*Record{
		"nextcloud": {LastRun: time.Date(2026, 3, 3, 3, 0, 0, 0, time.Local).Add(delay), LastSuccess: time.Date(2026, 3, 3, 3, 0, 0, 0, time.Local).Add(delay)},
	}, Prune: &Record{LastRun: time.Date(2026, 3, 1, 5, 0, 0, 0, time.Local).Add(delay)}}
	if err := st.Save(r.Config.Root); err != nil {
		t.Fatal(err)
	}
	clk := newFakeClock(start)
	var log runLog
	startScheduler(t, &Scheduler{Runner: r, Clock: clk, Do: log.do(clk), Jobs: func() []Job { return []Job{job("nextcloud")} }})
	for clk.step(t).Before(start.Add(24 * time.Hour)) {
	}
	want := []string{
		"Wed 03-04 09:00:00 backup",
		time.Date(2026, 3, 5, 3, 0, 0, 0, time.Local).Add(delay).Format("Mon 01-02 15:04:05") + " backup",
	}
	if got := log.get(); !slices.Equal(got, want) {
		t.Errorf("runs:\n%q\nwant:\n%q", got, want)
	}
}

// TestScheduleNoCatchUpWhenOnTime: a backup that ran at its slot is not repeated.
func TestScheduleNoCatchUpWhenOnTime(t *testing.T) {
	r := schedRunner(t)
	delay := HostDelay("cloud", 30*time.Minute)
	last := time.Date(2026, 3, 4, 3, 0, 0, 0, time.Local).Add(delay)
	(&Status{Services: map[string]*Record{"nextcloud": {LastRun: last, LastSuccess: last}}}).Save(r.Config.Root)
	clk := newFakeClock(time.Date(2026, 3, 4, 9, 0, 0, 0, time.Local))
	var log runLog
	startScheduler(t, &Scheduler{Runner: r, Clock: clk, Do: log.do(clk), Jobs: func() []Job { return []Job{job("nextcloud")} }})
	clk.step(t) // first wait: nothing ran before it
	if got := log.get(); len(got) != 0 {
		t.Errorf("runs at start: %q", got)
	}
}

// TestScheduleStaleNotifies: a backup older than twice its interval
// (daily: 48 h) is notified once, not on every check; one within it is no
// reason to notify.
func TestScheduleStaleNotifies(t *testing.T) {
	for _, tc := range []struct {
		name  string
		age   time.Duration
		steps int
		want  []string
	}{
		{"stale", 49 * time.Hour, 5, []string{"backup on cloud is stale"}},
		{"fresh", time.Hour, 1, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var mu sync.Mutex
			var posts []string
			hook := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				mu.Lock()
				posts = append(posts, r.Header.Get("Title"))
				mu.Unlock()
			}))
			t.Cleanup(hook.Close)
			r := schedRunner(t)
			r.Config.NotifyURL = hook.URL
			start := time.Date(2026, 3, 4, 9, 0, 0, 0, time.Local)
			(&Status{Services: map[string]*Record{"nextcloud": {LastRun: start.Add(-time.Hour), LastSuccess: start.Add(-tc.age)}}}).Save(r.Config.Root)
			clk := newFakeClock(start)
			failing := func(ctx context.Context, task string) error { return fmt.Errorf("failing") }
			startScheduler(t, &Scheduler{Runner: r, Clock: clk, Do: failing, Jobs: func() []Job { return []Job{job("nextcloud")} }})
			for i := 0; i < tc.steps; i++ {
				clk.step(t)
			}
			mu.Lock()
			defer mu.Unlock()
			if !slices.Equal(posts, tc.want) {
				t.Errorf("notifications = %q, want %q", posts, tc.want)
			}
		})
	}
}

// TestScheduleCatchUpRealBackup: with the real runner, the catch-up at
// start runs a restic backup, records it at the fake clock's time, and
// the next start does not catch up again.
func TestScheduleCatchUpRealBackup(t *testing.T) {
	r := testRunner(t, s3Server(t))
	writeTree(t, r.Config.Root, "nextcloud")
	start := time.Date(2026, 3, 4, 9, 0, 0, 0, time.Local)
	(&Status{Services: map[string]*Record{"nextcloud": {LastRun: start.Add(-30 * time.Hour)}}}).Save(r.Config.Root)
	clk := newFakeClock(start)
	r.Now = clk.Now
	jobs := func() []Job { return []Job{job("nextcloud")} }
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- (&Scheduler{Runner: r, Clock: clk, Jobs: jobs}).Run(ctx) }()
	select { // the scheduler waits only after the catch-up ran
	case <-clk.waiting:
	case <-time.After(time.Minute):
		t.Fatal("the scheduler never waited")
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	st, _ := r.Status()
	rec := st.Services["nextcloud"]
	if rec == nil || !rec.LastSuccess.Equal(start) || rec.SnapshotID == "" {
		t.Fatalf("record after catch-up = %+v", rec)
	}
	snaps, err := r.Snapshots(ctxT(t), "nextcloud")
	if err != nil || len(snaps) != 1 || !snaps[0].Time.Equal(start) {
		t.Fatalf("snapshots = %+v, %v", snaps, err)
	}
	var log runLog
	clk2 := newFakeClock(start.Add(time.Hour))
	startScheduler(t, &Scheduler{Runner: r, Clock: clk2, Do: log.do(clk2), Jobs: jobs})
	clk2.step(t)
	if got := log.get(); len(got) != 0 {
		t.Errorf("second start caught up again: %q", got)
	}
}
