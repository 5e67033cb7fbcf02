// Package clock is the agent's one source of time: the daemon's loop, the
// backup scheduler and the engine's passes read it, so that tests drive a
// Fake instead of sleeping. Real is the wall clock.
package clock

import (
	"sort"
	"sync"
	"time"
)

// Clock tells the time and waits.
type Clock interface {
	Now() time.Time
	// After sends the time once d has passed.
	After(d time.Duration) <-chan time.Time
	// NewTimer starts a timer that fires once after d.
	NewTimer(d time.Duration) Timer
}

// Timer is time.Timer behind an interface.
type Timer interface {
	C() <-chan time.Time
	// Stop and Reset behave as time.Timer's (Go 1.23+: no stale value is
	// received after either returns).
	Stop() bool
	Reset(d time.Duration) bool
}

// Real is the wall clock.
var Real Clock = realClock{}

type realClock struct{}

func (realClock) Now() time.Time                         { return time.Now() }
func (realClock) After(d time.Duration) <-chan time.Time { return time.After(d) }
func (realClock) NewTimer(d time.Duration) Timer         { return realTimer{time.NewTimer(d)} }

type realTimer struct{ t *time.Timer }

func (r realTimer) C() <-chan time.Time { return r.t.C }
func (r realTimer) Stop() bool {
	if r.t.Stop() {
		return true
	}
	select { // drop a value that fired before Stop (pre-1.23 timer semantics)
	case <-r.t.C:
	default:
	}
	return false
}
func (r realTimer) Reset(d time.Duration) bool { return r.t.Reset(d) }

// Or returns c, or Real when c is nil.
func Or(c Clock) Clock {
	if c == nil {
		return Real
	}
	return c
}

// Fake is a clock that moves only when a test moves it. Waiters (After,
// timers) fire when Advance or Step passes their deadline; a test learns
// that the code under test is waiting with WaitForWaiters.
type Fake struct {
	mu      sync.Mutex
	now     time.Time
	waiters []*fakeTimer
	changed chan struct{} // closed and replaced when a waiter is added
}

// NewFake returns a fake clock set to t.
func NewFake(t time.Time) *Fake { return &Fake{now: t, changed: make(chan struct{})} }

type fakeTimer struct {
	f      *Fake
	at     time.Time
	ch     chan time.Time
	active bool
}

// Now implements Clock.
func (f *Fake) Now() time.Time {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.now
}

// After implements Clock.
func (f *Fake) After(d time.Duration) <-chan time.Time { return f.NewTimer(d).C() }

// NewTimer implements Clock.
func (f *Fake) NewTimer(d time.Duration) Timer {
	f.mu.Lock()
	defer f.mu.Unlock()
	t := &fakeTimer{f: f, ch: make(chan time.Time, 1)}
	f.arm(t, d)
	return t
}

// arm schedules t at now+d; f.mu is held. A timer due now fires at once.
func (f *Fake) arm(t *fakeTimer, d time.Duration) {
	t.at, t.active = f.now.Add(d), true
	if d <= 0 {
		t.fire(f.now)
		return
	}
	f.waiters = append(f.waiters, t)
	close(f.changed)
	f.changed = make(chan struct{})
}

func (t *fakeTimer) fire(now time.Time) {
	t.active = false
	select {
	case t.ch <- now:
	default:
	}
}

func (t *fakeTimer) C() <-chan time.Time { return t.ch }

func (t *fakeTimer) Stop() bool {
	t.f.mu.Lock()
	defer t.f.mu.Unlock()
	was := t.active
	t.f.remove(t)
	t.active = false
	select { // as Go 1.23's timers: nothing stale is received after Stop
	case <-t.ch:
	default:
	}
	return was
}

func (t *fakeTimer) Reset(d time.Duration) bool {
	t.f.mu.Lock()
	defer t.f.mu.Unlock()
	was := t.active
	t.f.remove(t)
	select {
	case <-t.ch:
	default:
	}
	t.f.arm(t, d)
	return was
}

func (f *Fake) remove(t *fakeTimer) {
	for i, w := range f.waiters {
		if w == t {
			f.waiters = append(f.waiters[:i], f.waiters[i+1:]...)
			return
		}
	}
}

// Advance moves the clock by d and fires every waiter due by then, in
// deadline order.
func (f *Fake) Advance(d time.Duration) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.now = f.now.Add(d)
	f.fireDue()
}

// Step jumps to the earliest waiter's deadline and fires it (and any due
// at the same time); it returns the new time, or false when none waits.
func (f *Fake) Step() (time.Time, bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if len(f.waiters) == 0 {
		return f.now, false
	}
	f.sort()
	if at := f.waiters[0].at; at.After(f.now) {
		f.now = at
	}
	f.fireDue()
	return f.now, true
}

func (f *Fake) sort() {
	sort.SliceStable(f.waiters, func(i, j int) bool { return f.waiters[i].at.Before(f.waiters[j].at) })
}

// fireDue fires the waiters due at f.now; f.mu is held.
func (f *Fake) fireDue() {
	f.sort()
	for len(f.waiters) > 0 && !f.waiters[0].at.After(f.now) {
		w := f.waiters[0]
		f.waiters = f.waiters[1:]
		w.fire(f.now)
	}
}

// Waiters is how many timers and After calls are pending.
func (f *Fake) Waiters() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return len(f.waiters)
}

// WaitForWaiters blocks until at least n waiters are pending or timeout
// (real time, a test's safety net) passes; it reports whether they are.
func (f *Fake) WaitForWaiters(n int, timeout time.Duration) bool {
	deadline := time.NewTimer(timeout)
	defer deadline.Stop()
	for {
		f.mu.Lock()
		ok, ch := len(f.waiters) >= n, f.changed
		f.mu.Unlock()
		if ok {
			return true
		}
		select {
		case <-ch:
		case <-deadline.C:
			return false
		}
	}
}
