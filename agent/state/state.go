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
	// BadAt is when BadCommit last failed to apply and BadTries how many
	// times in a row: such a commit is tried again after a backoff (the
	// cause may be passing: a mirror, a registry, a lock).
	BadAt    time.Time `json:"bad_at,omitzero"`
	BadTries int       `json:"bad_tries,omitempty"`
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

	// Recovered, set by Recover only, says that state.json was corrupt and
	// where it was moved: the state starts afresh and callers log this
	// and rebuild what they can from the host (the daemon takes the last
	// good commit from its clone).
	Recovered string `json:"-"`
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
		return nil, &CorruptError{Path: path, Err: err}
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
	// The rename is durable only once the folder's entry is on disk.
	if err := syncDir(filepath.Dir(path)); err != nil {
		return fmt.Errorf("saving state: %w", err)
	}
	return nil
}

// CorruptError is a state file that does not parse.
type CorruptError struct {
	Path string
	Err  error
}

func (e *CorruptError) Error() string {
	return fmt.Sprintf("reading state: %s is corrupt (%v); an apply moves it aside and starts afresh", e.Path, e.Err)
}

func (e *CorruptError) Unwrap() error { return e.Err }

// Recover is Load for a pass that will write the state: a corrupt file
// is moved aside (see Recovered) instead of failing.
func Recover(root string) (*State, error) {
	s, err := Load(root)
	var ce *CorruptError
	if errors.As(err, &ce) {
		return moveAside(ce.Path, ce.Err)
	}
	return s, err
}

// moveAside renames a state file that does not parse to
// state.json.corrupt-<UTC time> and returns an empty state saying so: a
// corrupt file never blocks a pass (the firewall least of all).
func moveAside(path string, perr error) (*State, error) {
	aside := path + ".corrupt-" + time.Now().UTC().Format("20060102T150405.000000000Z")
	if err := os.Rename(path, aside); err != nil {
		return nil, fmt.Errorf("reading state: %s is corrupt (%v) and could not be moved aside: %w", path, perr, err)
	}
	if err := syncDir(filepath.Dir(path)); err != nil {
		return nil, fmt.Errorf("reading state: moving the corrupt %s aside: %w", path, err)
	}
	return &State{Version: version, Recovered: fmt.Sprintf("%s was corrupt (%v): moved to %s; starting from an empty state", path, perr, aside)}, nil
}

// syncDir flushes a folder's entries (a rename in it) to disk.
func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	if err := d.Sync(); err != nil {
		return fmt.Errorf("syncing %s: %w", dir, err)
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
