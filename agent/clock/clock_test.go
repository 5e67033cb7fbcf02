package clock

import (
	"testing"
	"time"
)

func TestFakeFiresInOrderAndOnlyWhenDue(t *testing.T) {
	start := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	f := NewFake(start)
	a := f.After(2 * time.Second)
	b := f.NewTimer(time.Second)
	if f.Waiters() != 2 {
		t.Fatalf("waiters = %d", f.Waiters())
	}
	f.Advance(500 * time.Millisecond)
	select {
	case <-a:
		t.Fatal("fired early")
	case <-b.C():
		t.Fatal("fired early")
	default:
	}
	if now, ok := f.Step(); !ok || !now.Equal(start.Add(time.Second)) {
		t.Fatalf("step to %v %v", now, ok)
	}
	if got := <-b.C(); !got.Equal(start.Add(time.Second)) {
		t.Fatalf("timer fired at %v", got)
	}
	if b.Stop() {
		t.Error("Stop of a fired timer reported active")
	}
	b.Reset(10 * time.Second)
	f.Advance(time.Second)
	if got := <-a; !got.Equal(start.Add(2 * time.Second)) {
		t.Fatalf("after fired at %v", got)
	}
	if !b.Stop() || f.Waiters() != 0 {
		t.Fatalf("reset timer not pending, waiters %d", f.Waiters())
	}
	if f.WaitForWaiters(1, 10*time.Millisecond) {
		t.Fatal("WaitForWaiters saw a waiter that is not there")
	}
	go func() { f.After(time.Minute) }()
	if !f.WaitForWaiters(1, 5*time.Second) {
		t.Fatal("WaitForWaiters missed a new waiter")
	}
	// A zero duration fires at once, as time.After(0) does.
	select {
	case <-f.After(0):
	default:
		t.Fatal("After(0) did not fire")
	}
}
