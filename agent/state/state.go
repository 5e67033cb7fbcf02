// Package state owns /var/lib/homelab-agent/state.json: what the agent
// must remember between passes (commits, per-resource results, hooks
// still owed, values roles keep such as zone serials). It is written
// atomically and never holds a secret's value.
package state

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"time"

	"github.com/google/renameio/v2"
)

// Path is the state file's host path.
const Path = "/var/lib/homelab-agent/state.json"

// State is the content of state.json.
type State struct {
	Version int    `json:"version"`
	Host    string `json:"host,omitempty"`
	Role    string `json:"role,omitempty"`
	// AppliedCommit is the commit of the last pass that completed; LastGood
	// the last one that validated and applied without error.
	AppliedCommit  string `json:"applied_commit,omitempty"`
	LastGoodCommit string `json:"last_good_commit,omitempty"`
	// BadCommit is a head the daemon refused (invalid, untrusted or failed
	// to apply); it is not tried again until a newer head arrives.
	// BadReason says why, with file:line:col for lab errors.
	BadCommit string `json:"bad_commit,omitempty"`
	BadReason string `json:"bad_reason,omitempty"`
	// BadHostStamp fingerprints the host's secrets when a commit failed to
	// apply; when they change (a missing secret added) the commit is tried
	// again without waiting for a newer one.
	BadHostStamp string `json:"bad_host_stamp,omitempty"`
	// LastApply is when the last apply pass ended.
	LastApply time.Time `json:"last_apply,omitzero"`
	// Resources is the last result per resource ID.
	Resources map[string]ResourceResult `json:"resources,omitempty"`
	// PendingHooks are hooks whose trigger was written but that have not
	// yet succeeded; they run on the next pass even if nothing changes.
	PendingHooks []string `json:"pending_hooks,omitempty"`
	// Originals lists file paths that held a file before the agent first
	// managed them; it is kept as <path>.homelab-agent-orig and put back
	// when the path leaves the lab repo.
	Originals []string `json:"originals,omitempty"`
	// Memory holds small values roles keep across passes (zone serials).
	Memory map[string]string `json:"memory,omitempty"`
}

// ResourceResult is the outcome of one resource in the last apply.
type ResourceResult struct {
	Status  string    `json:"status"` // ok, changed, failed, skipped
	Summary string    `json:"summary,omitempty"`
	Error   string    `json:"error,omitempty"`
	Changed time.Time `json:"changed,omitzero"`
}

const version = 1

// Load reads the state file under root; a missing file is an empty state.
func Load(root string) (*State, error) {
	path := filepath.Join(root, Path)
	data, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return &State{Version: version}, nil
	}
	if err != nil {
		return nil, fmt.Errorf("reading state: %w", err)
	}
	var s State
	if err := json.Unmarshal(data, &s); err != nil {
		return nil, fmt.Errorf("reading state: %s is corrupt (%v); move it away to start afresh", path, err)
	}
	if s.Version > version {
		return nil, fmt.Errorf("reading state: %s has version %d, newer than this agent understands (%d)", path, s.Version, version)
	}
	s.Version = version
	return &s, nil
}

// Save writes the state under root atomically.
func (s *State) Save(root string) error {
	path := filepath.Join(root, Path)
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return fmt.Errorf("saving state: %w", err)
	}
	data, err := json.MarshalIndent(s, "", "  ")
	if err != nil {
		return fmt.Errorf("saving state: %w", err)
	}
	if err := renameio.WriteFile(path, append(data, '\n'), 0o600); err != nil {
		return fmt.Errorf("saving state: %w", err)
	}
	return nil
}

// AddPending records hooks as owed; it reports whether any was new.
func (s *State) AddPending(names ...string) bool {
	added := false
	for _, n := range names {
		if !slices.Contains(s.PendingHooks, n) {
			s.PendingHooks = append(s.PendingHooks, n)
			added = true
		}
	}
	return added
}

// DonePending forgets a hook that ran successfully.
func (s *State) DonePending(name string) {
	s.PendingHooks = slices.DeleteFunc(s.PendingHooks, func(n string) bool { return n == name })
}
