package images

import (
	"testing"
	"time"
)

func TestNextTagStaysInRange(t *testing.T) {
	tags := []string{"29.0.9", "30", "30.0", "30.0.1", "30.0.4", "30.0.4-apache", "30.1.2", "31.0.0", "v30.0.7", "latest", "30.0.10-rc1"}
	for _, c := range []struct {
		p             Policy
		base, running string
		want          string
	}{
		{Patch, "30.0", "", "30.0.4"},
		{Patch, "30.0.1", "", "30.0.4"},
		{Minor, "30.0", "", "30.1.2"},
		{Minor, "30", "30.0.4", "30.1.2"},
		{Patch, "30", "30.0.1", "30.0.4"},
		{Patch, "30.0", "30.0.4", "30.0.4"},
		{Patch, "30.0.9", "", "30.0.9"}, // nothing newer: stays
		{Minor, "31", "", "31.0.0"},
		{Patch, "30.0-apache", "", "30.0.4-apache"},
		{Patch, "v30.0", "", "v30.0.7"},
	} {
		got, ok := NextTag(c.p, c.base, c.running, tags)
		if !ok || got != c.want {
			t.Errorf("NextTag(%s, %s, %q) = %q, %v; want %q", c.p, c.base, c.running, got, ok, c.want)
		}
	}
	if _, ok := NextTag(Minor, "apache", "", tags); ok {
		t.Error("a non-version tag must not be followed by minor")
	}
}

func TestStepTagGoesOneMajorAtATime(t *testing.T) {
	tags := []string{"29.0.9", "30.0.1", "30.0.4", "31.0.0", "31.0.2", "32.0.0"}
	for _, c := range []struct{ running, want, step string }{
		{"29.0.9", "31.0.2", "30.0.4"},
		{"30.0.4", "31.0.2", "31.0.2"},
		{"29", "32.0.0", "30.0.4"},
		{"29.0.9", "29.0.9", "29.0.9"},
	} {
		got, ok := StepTag(c.running, c.want, tags)
		if !ok || got != c.step {
			t.Errorf("StepTag(%s, %s) = %q, %v; want %q", c.running, c.want, got, ok, c.step)
		}
	}
	if _, ok := StepTag("27.0.0", "31.0.0", tags); ok {
		t.Error("no release of major 28: no step")
	}
}

func TestParsePolicyAndWindow(t *testing.T) {
	if _, err := ParsePolicy("latest"); err == nil || err.Error() != `unknown update policy "latest" (want one of pinned, patch, minor, track)` {
		t.Errorf("ParsePolicy(latest) = %v", err)
	}
	w, err := ParseWindow("0 4 * * 0", "2h")
	if err != nil {
		t.Fatal(err)
	}
	sun := time.Date(2026, 11, 29, 4, 0, 0, 0, time.UTC) // a Sunday
	for _, c := range []struct {
		t    time.Time
		open bool
	}{
		{sun, true},
		{sun.Add(119 * time.Minute), true},
		{sun.Add(2 * time.Hour), false},
		{sun.Add(-time.Minute), false},
		{sun.Add(24 * time.Hour), false},
		{sun.Add(7 * 24 * time.Hour).Add(30 * time.Minute), true},
	} {
		if got := w.Open(c.t); got != c.open {
			t.Errorf("Open(%s) = %v, want %v", c.t, got, c.open)
		}
	}
	if _, err := ParseWindow("0 4 * *", ""); err == nil {
		t.Error("a four-field cron expression must be refused")
	}
	if _, err := ParseWindow("0 4 * * 0", "10s"); err == nil {
		t.Error("a 10s window must be refused")
	}
	var none *Window
	if none.Open(sun) {
		t.Error("no window is never open")
	}
}
