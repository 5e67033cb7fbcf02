package daemon

import (
	"strings"
	"time"

	"github.com/homelab-agent/homelab-agent/agent"
)

// DriftStatus counts what passes found changed outside git and put back.
type DriftStatus struct {
	// Repaired counts resources found drifted and repaired since start.
	Repaired int       `json:"repaired"`
	Last     time.Time `json:"last,omitzero"`
	// LastChanges are the last drift's resources and what was put back.
	LastChanges []string `json:"last_changes,omitempty"`
}

// because says why a pass of commit runs, prev being the applied commit:
// a return to the last good commit, drift (same commit), or the new
// commit with the files it changed.
func (d *Daemon) because(prev, commit string) string {
	switch {
	case d.rollback != "":
		return d.rollback
	case prev == commit:
		return "drift: the host changed outside git (commit " + short(commit) + " unchanged)"
	case prev == "":
		return "commit " + short(commit) + " (first apply)"
	}
	files, err := d.syncer.ChangedFiles(prev, commit)
	if err != nil || len(files) == 0 {
		return "commit " + short(commit)
	}
	if len(files) > 8 {
		files = append(files[:8], "…")
	}
	return "commit " + short(commit) + " (changed " + strings.Join(files, ", ") + ")"
}

// recordDrift counts a pass's changes made with the commit unchanged.
func (d *Daemon) recordDrift(rep *agent.Report) {
	var what []string
	for _, c := range rep.Changes {
		if c.Status != "applied" {
			continue
		}
		d.metrics.drift.WithLabelValues(c.ID).Inc()
		what = append(what, c.ID+": "+c.Summary)
	}
	if len(what) == 0 {
		return
	}
	d.log.Warn("drift repaired: the host was changed outside git", "changes", strings.Join(what, "; "))
	d.update(func(s *Status) {
		if s.Drift == nil {
			s.Drift = &DriftStatus{}
		}
		s.Drift.Repaired += len(what)
		s.Drift.Last = d.clock.Now()
		s.Drift.LastChanges = what
	})
}
