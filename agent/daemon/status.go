package daemon

import (
	"fmt"
	"sort"
	"time"

	"github.com/homelab-agent/homelab-agent/agent"
	"github.com/homelab-agent/homelab-agent/agent/state"
)

// StatusVersion is the version of GET /status's JSON. Fields are only
// ever added; a removal or change of meaning bumps it.
const StatusVersion = 1

// Status is what GET /status returns and `homelab-agent status` prints.
type Status struct {
	Version int    `json:"version"`
	Host    string `json:"host"`
	Role    string `json:"role,omitempty"`
	Repo    string `json:"repo"`
	Branch  string `json:"branch"`
	// Interval is the poll interval.
	Interval string `json:"interval"`
	// HeadCommit is the accepted head of the branch; RemoteCommit is set
	// when the server holds another head that was refused (force-push).
	HeadCommit   string `json:"head_commit,omitempty"`
	RemoteCommit string `json:"remote_commit,omitempty"`
	// AppliedCommit is the commit of the last pass; LastGoodCommit the last
	// one that applied without error.
	AppliedCommit  string `json:"applied_commit,omitempty"`
	LastGoodCommit string `json:"last_good_commit,omitempty"`
	// BadCommit is a refused head and BadReason why (file:line:col lines
	// for an invalid homelab.yaml).
	BadCommit string `json:"bad_commit,omitempty"`
	BadReason string `json:"bad_reason,omitempty"`
	// LastSync is the last sync attempt, LastSyncOK the last that reached
	// the server; SyncError is the last sync's error.
	LastSync   time.Time `json:"last_sync,omitzero"`
	LastSyncOK time.Time `json:"last_sync_ok,omitzero"`
	SyncError  string    `json:"sync_error,omitempty"`
	// StaleSeconds is the time since LastSyncOK (since start when none);
	// Stale is set when that is more than three intervals and 30 seconds.
	StaleSeconds float64   `json:"stale_seconds"`
	Stale        bool      `json:"stale"`
	NextSync     time.Time `json:"next_sync,omitzero"`
	LastApply    time.Time `json:"last_apply,omitzero"`
	// LastError is the last failure of a pass ("" after a clean pass).
	LastError string `json:"last_error,omitempty"`
	// Resources is each resource's last result, sorted by ID.
	Resources []ResourceStatus `json:"resources"`
	// LastReport is the last apply pass's report.
	LastReport *agent.Report `json:"last_report,omitempty"`
	// Backup is the host's backups: settings from the last good commit,
	// each service's last runs, prune and check; absent when the host has
	// no backups.
	Backup *BackupStatus `json:"backup,omitempty"`
	// Warnings are standing problems of the configuration (no
	// trusted_keys: any pusher is root on every VM).
	Warnings []string `json:"warnings,omitempty"`
	// Health is the last health check: after a change (the gate that
	// rolls a commit back) or on the timer.
	Health *HealthStatus `json:"health,omitempty"`
	// Waiting says why the head is held back (its wave), "" otherwise.
	Waiting string `json:"waiting,omitempty"`
	// Images is each service's image: what runs (digest), an available
	// update, the last update and its result; absent without updates:.
	Images []ImageStatus `json:"images,omitempty"`
	// Drift counts changes made outside git that passes put back.
	Drift *DriftStatus `json:"drift,omitempty"`
	// Ready is set after the first pass.
	Ready   bool      `json:"ready"`
	Started time.Time `json:"started"`
}

// ResourceStatus is one resource's last result.
type ResourceStatus struct {
	ID string `json:"id"`
	state.ResourceResult
}

func resourcesOf(st *state.State) []ResourceStatus {
	out := []ResourceStatus{}
	for id, r := range st.Resources {
		out = append(out, ResourceStatus{ID: id, ResourceResult: r})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].ID < out[j].ID })
	return out
}

func (d *Daemon) update(f func(*Status)) {
	d.mu.Lock()
	defer d.mu.Unlock()
	f(&d.st)
	if d.changed != nil {
		close(d.changed)
	}
	d.changed = make(chan struct{})
}

// statusChanged returns a channel closed at the next status update.
func (d *Daemon) statusChanged() <-chan struct{} {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.changed == nil {
		d.changed = make(chan struct{})
	}
	return d.changed
}

// Status returns a snapshot of the daemon's status.
func (d *Daemon) Status() Status {
	d.mu.Lock()
	s := d.st
	d.mu.Unlock()
	now := d.clock.Now()
	s.StaleSeconds = s.staleFor(now).Seconds()
	s.Stale = s.staleFor(now) > d.opts.StaleAfter
	s.Backup = d.backups.status()
	return s
}

func (s *Status) staleFor(now time.Time) time.Duration {
	if s.LastSyncOK.IsZero() {
		return now.Sub(s.Started)
	}
	return now.Sub(s.LastSyncOK)
}

// statusLine is the one-line STATUS= for systemd.
func (d *Daemon) statusLine() string {
	s := d.Status()
	switch {
	case s.SyncError != "" && s.RemoteCommit == "":
		return fmt.Sprintf("git server unreachable for %s; on %s", time.Duration(s.StaleSeconds*float64(time.Second)).Round(time.Second), orNone(short(s.AppliedCommit)))
	case s.BadCommit != "" && s.BadCommit == s.HeadCommit:
		return fmt.Sprintf("refused %s; on last good %s", short(s.BadCommit), orNone(short(s.LastGoodCommit)))
	case s.RemoteCommit != "":
		return fmt.Sprintf("refused force-push to %s; on %s", short(s.RemoteCommit), orNone(short(s.AppliedCommit)))
	case s.LastError != "":
		return fmt.Sprintf("on %s; last pass failed: %s", orNone(short(s.AppliedCommit)), firstLine(s.LastError))
	}
	return fmt.Sprintf("applied %s", orNone(short(s.AppliedCommit)))
}

func orNone(s string) string {
	if s == "" {
		return "nothing"
	}
	return s
}
