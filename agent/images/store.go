package images

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"time"

	"github.com/google/renameio/v2"
)

// StorePath is images.json's host path, beside state.json.
const StorePath = "/var/lib/homelab-agent/images.json"

// Store is images.json: the per-service records and the registry
// answers cache. Its methods are safe for concurrent use; Save writes it
// atomically.
type Store struct {
	mu   sync.Mutex
	path string
	data storeData
}

type storeData struct {
	Version  int                `json:"version"`
	Services map[string]*Record `json:"services,omitempty"`
	Cache    map[string]Answer  `json:"cache,omitempty"`
}

// Record is one service's image as the agent knows it.
type Record struct {
	// Image is the reference the compose file names ("nextcloud:30.0").
	Image  string `json:"image"`
	Policy Policy `json:"policy,omitempty"`
	// Running is what the service runs when the agent moved it away from
	// Image ("docker.io/library/nextcloud:30.0.4@sha256:…"); empty: Image.
	Running string `json:"running,omitempty"`
	// Digest is the digest of what runs, as last seen.
	Digest string `json:"digest,omitempty"`
	// Previous is the rollback target of the last update (kept locally
	// under a rollback tag while it is).
	Previous string `json:"previous,omitempty"`
	// Available is a newer image the policy allows ("repo:tag@digest").
	Available  string    `json:"available,omitempty"`
	Checked    time.Time `json:"checked,omitzero"`
	CheckError string    `json:"check_error,omitempty"`
	Last       *Update   `json:"last_update,omitempty"`
	// Pending is an update whose verdict is not in yet: set before the
	// service is recreated on the new image, cleared with the verdict. An
	// agent stopped or killed in between finds it at its next start and
	// judges the update then (kept or rolled back), whatever the window.
	Pending *Pending `json:"pending,omitempty"`
}

// Pending is what judging an interrupted update needs.
type Pending struct {
	Update
	// OldRef and OldDigest are what ran before; OldID is its image, kept
	// under the rollback tag.
	OldRef    string `json:"old_ref"`
	OldDigest string `json:"old_digest,omitempty"`
	OldID     string `json:"old_id"`
	// NewRef is the tag the new image was given, NewDigest its digest.
	NewRef    string `json:"new_ref"`
	NewDigest string `json:"new_digest"`
}

// Update is the outcome of one update of a service.
type Update struct {
	At     time.Time `json:"at"`
	From   string    `json:"from"`
	To     string    `json:"to"`
	Result string    `json:"result"` // updated, rolled back, failed
	Error  string    `json:"error,omitempty"`
}

// Results of an update.
const (
	ResultUpdated    = "updated"
	ResultRolledBack = "rolled back"
	ResultFailed     = "failed"
)

// Answer is one cached registry answer.
type Answer struct {
	Digest string    `json:"digest,omitempty"`
	Tags   []string  `json:"tags,omitempty"`
	At     time.Time `json:"at"`
}

const storeVersion = 1

// Open reads images.json under root; a missing or unreadable file is an
// empty store (it holds a cache and records that the next check
// rebuilds, never anything that cannot be asked again).
func Open(root string) (*Store, error) {
	s := &Store{path: filepath.Join(root, StorePath)}
	data, err := os.ReadFile(s.path)
	switch {
	case errors.Is(err, fs.ErrNotExist):
	case err != nil:
		return nil, fmt.Errorf("reading %s: %w", s.path, err)
	default:
		if json.Unmarshal(data, &s.data) != nil || s.data.Version > storeVersion {
			s.data = storeData{}
		}
	}
	s.data.Version = storeVersion
	if s.data.Services == nil {
		s.data.Services = map[string]*Record{}
	}
	if s.data.Cache == nil {
		s.data.Cache = map[string]Answer{}
	}
	return s, nil
}

// Save writes the store atomically.
func (s *Store) Save() error {
	s.mu.Lock()
	data, err := json.MarshalIndent(s.data, "", "  ")
	s.mu.Unlock()
	if err != nil {
		return err
	}
	if err := os.MkdirAll(filepath.Dir(s.path), 0o700); err != nil {
		return fmt.Errorf("saving %s: %w", s.path, err)
	}
	if err := renameio.WriteFile(s.path, append(data, '\n'), 0o600); err != nil {
		return fmt.Errorf("saving %s: %w", s.path, err)
	}
	return nil
}

// Key names a service in the store.
func Key(project, service string) string { return project + "/" + service }

// Get returns a copy of a service's record (nil when there is none).
func (s *Store) Get(key string) *Record {
	s.mu.Lock()
	defer s.mu.Unlock()
	r := s.data.Services[key]
	if r == nil {
		return nil
	}
	c := *r
	if r.Last != nil {
		l := *r.Last
		c.Last = &l
	}
	return &c
}

// Put replaces a service's record.
func (s *Store) Put(key string, r *Record) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.data.Services[key] = r
}

// Records returns a copy of every record, by key, and the keys sorted.
func (s *Store) Records() (map[string]Record, []string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := map[string]Record{}
	for k, r := range s.data.Services {
		out[k] = *r
	}
	keys := slices.Sorted(maps.Keys(out))
	return out, keys
}

func (s *Store) answer(key string, ttl time.Duration, now time.Time) (Answer, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	a, ok := s.data.Cache[key]
	if !ok || now.Sub(a.At) >= ttl || a.At.After(now) {
		return Answer{}, false
	}
	return a, true
}

func (s *Store) remember(key string, a Answer) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.data.Cache[key] = a
}
