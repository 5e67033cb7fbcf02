// Package health runs the probes roles declare (role.Output's Health):
// cheap checks with timeouts that say whether a host's services work, not
// just whether their configuration applied. The daemon runs them after a
// pass that changed something (health-checked apply) and on a timer.
package health

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"
)

// Probe is one check of a service.
type Probe interface {
	// String names the probe for people: "jellyfin /health".
	String() string
	// Check returns nil when the service answers as it should; ctx
	// carries the probe's timeout.
	Check(ctx context.Context) error
}

// Spec is a host's probes and how long, after a change, they may take to
// pass before the change counts as broken.
type Spec struct {
	Probes []Probe
	// Deadline is the role's patience after a change (default
	// DefaultDeadline, at most MaxDeadline).
	Deadline time.Duration
}

// Defaults and bounds.
const (
	DefaultDeadline = 60 * time.Second
	MaxDeadline     = 120 * time.Second
	// ProbeTimeout bounds one probe.
	ProbeTimeout = 5 * time.Second
)

// Add appends another spec's probes; the longer deadline wins.
func (s *Spec) Add(o Spec) {
	s.Probes = append(s.Probes, o.Probes...)
	s.Deadline = max(s.Deadline, o.Deadline)
}

// deadline is the effective deadline.
func (s Spec) deadline() time.Duration {
	switch {
	case s.Deadline <= 0:
		return DefaultDeadline
	case s.Deadline > MaxDeadline:
		return MaxDeadline
	}
	return s.Deadline
}

// Result is one probe's outcome.
type Result struct {
	Probe string        `json:"probe"`
	OK    bool          `json:"ok"`
	Error string        `json:"error,omitempty"`
	Took  time.Duration `json:"took_ns"`
}

// Report is the outcome of all of a host's probes.
type Report struct {
	Results []Result `json:"results"`
	// Waited is how long Wait tried before this outcome.
	Waited time.Duration `json:"waited_ns,omitempty"`
}

// OK reports whether every probe passed.
func (r *Report) OK() bool {
	for _, x := range r.Results {
		if !x.OK {
			return false
		}
	}
	return true
}

// Failure describes the failing probes in one line, e.g.
// "jellyfin /health: status 503 after 90s", or "" when all passed.
func (r *Report) Failure() string {
	var out []string
	for _, x := range r.Results {
		if !x.OK {
			out = append(out, x.Probe+": "+x.Error)
		}
	}
	s := strings.Join(out, "; ")
	if s != "" && r.Waited > 0 {
		s += fmt.Sprintf(" after %s", r.Waited.Round(time.Second))
	}
	return s
}

// Run runs every probe once, each with ProbeTimeout, one after another
// (probes are cheap; running them in turn keeps their load low).
func Run(ctx context.Context, s Spec) *Report {
	rep := &Report{Results: []Result{}}
	for _, p := range s.Probes {
		pctx, cancel := context.WithTimeout(ctx, ProbeTimeout)
		start := time.Now()
		err := p.Check(pctx)
		cancel()
		r := Result{Probe: p.String(), OK: err == nil, Took: time.Since(start)}
		if err != nil {
			if errors.Is(err, context.DeadlineExceeded) {
				err = fmt.Errorf("no answer within %s", ProbeTimeout)
			}
			r.Error = oneLine(err.Error())
		}
		rep.Results = append(rep.Results, r)
	}
	return rep
}

// Clock is what Wait needs of agent/clock's Clock.
type Clock interface {
	Now() time.Time
	After(d time.Duration) <-chan time.Time
}

// Wait runs the probes every `every` until all pass or the spec's
// deadline passes; it returns the last outcome.
func Wait(ctx context.Context, clk Clock, s Spec, every time.Duration) *Report {
	start := clk.Now()
	end := start.Add(s.deadline())
	for {
		rep := Run(ctx, s)
		rep.Waited = clk.Now().Sub(start)
		if rep.OK() || !clk.Now().Before(end) || ctx.Err() != nil {
			return rep
		}
		select {
		case <-ctx.Done():
			return rep
		case <-clk.After(min(every, end.Sub(clk.Now()))):
		}
	}
}

func oneLine(s string) string {
	s = strings.TrimSpace(s)
	if i := strings.IndexByte(s, '\n'); i >= 0 {
		s = s[:i]
	}
	if len(s) > 300 {
		s = s[:300] + "…"
	}
	return s
}
