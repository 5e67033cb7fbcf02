package images

import (
	"fmt"
	"strings"
	"time"

	"github.com/robfig/cron/v3"
)

// Policy is how a service's image follows its registry.
type Policy string

// The policies. Off (the empty policy) keeps the old behaviour: an image
// is pulled only when it is missing and never updated by the agent.
const (
	Off Policy = ""
	// Pinned records the digest the service runs and keeps it: the tag
	// may move in the registry, the service does not.
	Pinned Policy = "pinned"
	// Patch follows X.Y.Z tags within the tag's major and minor version.
	Patch Policy = "patch"
	// Minor follows X.Y.Z tags within the tag's major version.
	Minor Policy = "minor"
	// Track follows the tag's digest (a rebuilt "10.10" or "apache").
	Track Policy = "track"
)

// Policies lists the valid policy names, for errors.
var Policies = []Policy{Pinned, Patch, Minor, Track}

// ParsePolicy checks a policy name from homelab.yaml.
func ParsePolicy(s string) (Policy, error) {
	for _, p := range Policies {
		if string(p) == s {
			return p, nil
		}
	}
	names := make([]string, len(Policies))
	for i, p := range Policies {
		names[i] = string(p)
	}
	return Off, fmt.Errorf("unknown update policy %q (want one of %s)", s, strings.Join(names, ", "))
}

// Follows reports whether the policy ever moves a service to another image.
func (p Policy) Follows() bool { return p == Patch || p == Minor || p == Track }

// Window is when updates may be applied: it opens at each time its cron
// expression names and stays open for Length.
type Window struct {
	Expr     string
	Length   time.Duration
	schedule cron.Schedule
}

// DefaultWindowLength is how long a window stays open when the lab does
// not say.
const DefaultWindowLength = time.Hour

// ParseWindow checks a window's cron expression and length ("2h"; empty
// is DefaultWindowLength).
func ParseWindow(expr, length string) (*Window, error) {
	s, err := cron.ParseStandard(expr)
	if err != nil {
		return nil, fmt.Errorf("update window %q: %v (want a cron expression such as \"0 4 * * 0\", Sundays 04:00)", expr, err)
	}
	w := &Window{Expr: expr, Length: DefaultWindowLength, schedule: s}
	if length != "" {
		d, err := time.ParseDuration(length)
		if err != nil || d < time.Minute || d > 7*24*time.Hour {
			return nil, fmt.Errorf("update window length %q: want a duration from 1m to 168h, such as \"2h\"", length)
		}
		w.Length = d
	}
	return w, nil
}

// Open reports whether t is inside the window: the last opening before t
// is less than Length ago. A nil window is never open.
func (w *Window) Open(t time.Time) bool {
	if w == nil || w.schedule == nil {
		return false
	}
	start := w.schedule.Next(t.Add(-w.Length))
	return !start.After(t)
}

// Next is the next opening after t (the zero time for a nil window).
func (w *Window) Next(t time.Time) time.Time {
	if w == nil || w.schedule == nil {
		return time.Time{}
	}
	return w.schedule.Next(t)
}

// String is the window as written, with its length.
func (w *Window) String() string {
	if w == nil {
		return "none"
	}
	return fmt.Sprintf("%q for %s", w.Expr, w.Length)
}

// Rules is a service's update policy as the engine resolved it from the
// lab (host or app override, role default, lab default).
type Rules struct {
	Policy Policy
	Window *Window
	// MajorStep makes a service go one major version at a time (Nextcloud
	// refuses to skip one): a tag two majors ahead is reached through the
	// newest release of each major in between.
	MajorStep bool
	// After is a command run in the service's container after an update
	// and waited for (Nextcloud's `occ upgrade`); its failure rolls back.
	After []string
	// AfterUser runs After as this user ("www-data").
	AfterUser string
}
