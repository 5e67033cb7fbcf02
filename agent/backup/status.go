package backup

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"time"

	"github.com/google/renameio/v2"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/common/expfmt"
)

// StatusPath holds the backup run records. It is its own file, not part
// of state.json, so that a backup finishing during an apply pass cannot
// be overwritten by the pass's save (and the other way round).
const StatusPath = "/var/lib/homelab-agent/backup.json"

// Record is the outcome of the runs of one service's backup (or of prune
// or check). It never holds a secret.
type Record struct {
	LastRun     time.Time `json:"last_run,omitzero"`
	LastSuccess time.Time `json:"last_success,omitzero"`
	LastFailure time.Time `json:"last_failure,omitzero"`
	// LastError is the last failure's message; it is cleared by a success.
	LastError string `json:"last_error,omitempty"`
	ErrorKind Kind   `json:"error_kind,omitempty"`
	// DurationSeconds is the last run's wall time.
	DurationSeconds float64 `json:"duration_seconds,omitempty"`
	// BytesAdded is what the last successful backup added to the repository.
	BytesAdded int64 `json:"bytes_added,omitempty"`
	// SnapshotID is the last successful backup's snapshot.
	SnapshotID string `json:"snapshot_id,omitempty"`
	// Notified is set once a notification for the current failure or
	// staleness was sent, so that it is sent once, not on every check.
	Notified bool `json:"notified,omitempty"`
}

// Failing reports whether the last run failed.
func (r Record) Failing() bool { return r.LastError != "" }

// Status is every record of a host, as /status and `homelab-agent status` show it.
type Status struct {
	Host     string             `json:"host,omitempty"`
	Services map[string]*Record `json:"services,omitempty"`
	Prune    *Record            `json:"prune,omitempty"`
	Check    *Record            `json:"check,omitempty"`
}

// LoadStatus reads the records under root; a missing file is empty.
func LoadStatus(root string) (*Status, error) {
	path := filepath.Join(root, StatusPath)
	data, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return &Status{Services: map[string]*Record{}}, nil
	}
	if err != nil {
		return nil, fmt.Errorf("reading backup status: %w", err)
	}
	var s Status
	if err := json.Unmarshal(data, &s); err != nil {
		return nil, fmt.Errorf("reading backup status: %s is corrupt (%v); move it away to start afresh", path, err)
	}
	if s.Services == nil {
		s.Services = map[string]*Record{}
	}
	return &s, nil
}

// Save writes the records atomically.
func (s *Status) Save(root string) error {
	path := filepath.Join(root, StatusPath)
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return fmt.Errorf("saving backup status: %w", err)
	}
	data, err := json.MarshalIndent(s, "", "  ")
	if err != nil {
		return fmt.Errorf("saving backup status: %w", err)
	}
	if err := renameio.WriteFile(path, append(data, '\n'), 0o600); err != nil {
		return fmt.Errorf("saving backup status: %w", err)
	}
	return nil
}

// Clone returns a deep copy.
func (s *Status) Clone() *Status {
	c := &Status{Host: s.Host, Services: map[string]*Record{}}
	for k, v := range s.Services {
		r := *v
		c.Services[k] = &r
	}
	if s.Prune != nil {
		r := *s.Prune
		c.Prune = &r
	}
	if s.Check != nil {
		r := *s.Check
		c.Check = &r
	}
	return c
}

func (s *Status) service(name string) *Record {
	r := s.Services[name]
	if r == nil {
		r = &Record{}
		s.Services[name] = r
	}
	return r
}

// succeed and fail update a record after a run.
func (r *Record) succeed(start time.Time, d time.Duration) {
	r.LastRun, r.LastSuccess, r.DurationSeconds = start, start, d.Seconds()
	r.LastError, r.ErrorKind, r.Notified = "", "", false
}

func (r *Record) fail(start time.Time, d time.Duration, err error) {
	r.LastRun, r.LastFailure, r.DurationSeconds = start, start, d.Seconds()
	r.LastError, r.ErrorKind, r.Notified = err.Error(), KindFailed, false
	var e *Error
	if errors.As(err, &e) {
		r.ErrorKind = e.Kind
	}
}

// WriteMetrics writes the records in the Prometheus text format (the
// gauges of Collector).
func (s *Status) WriteMetrics(w io.Writer) error {
	reg := prometheus.NewPedanticRegistry()
	if err := reg.Register(&Collector{Load: func() (*Status, error) { return s, nil }}); err != nil {
		return err
	}
	mfs, err := reg.Gather()
	if err != nil {
		return err
	}
	for _, mf := range mfs {
		if _, err := expfmt.MetricFamilyToText(w, mf); err != nil {
			return err
		}
	}
	return nil
}

func b2f(b bool) float64 {
	if b {
		return 1
	}
	return 0
}
