// Package fleet is how the agents of a lab learn each other's state, with
// no central server: each serves GET /fleet/status, read-only and
// authenticated with an HMAC over a time-stamped request under a key the
// lab shares (the secret FLEET_KEY). The daemon's canary waves and
// `homelab-agent status --fleet` read it.
package fleet

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// Path is the endpoint every agent serves.
const Path = "/fleet/status"

// Header carries "t=<unix seconds>,mac=<hex HMAC-SHA256>".
const Header = "X-Homelab-Fleet"

// SecretName is the secret that holds the lab's shared key.
const SecretName = "FLEET_KEY"

// MaxSkew is how far a request's time may be from the server's.
const MaxSkew = 60 * time.Second

// Status is one host as its agent reports it to the fleet.
type Status struct {
	Host     string `json:"host"`
	Role     string `json:"role"`
	Wave     int    `json:"wave"`
	Applied  string `json:"applied_commit,omitempty"`
	LastGood string `json:"last_good_commit,omitempty"`
	// BadCommit is a refused head and BadReason why: "rolled back <sha>:
	// ..." when its probes failed after it was applied.
	BadCommit string `json:"bad_commit,omitempty"`
	BadReason string `json:"bad_reason,omitempty"`
	// Healthy is the last health check (nil: none yet or no probes).
	Healthy       *bool   `json:"healthy,omitempty"`
	HealthFailure string  `json:"health_failure,omitempty"`
	Stale         bool    `json:"stale"`
	StaleSeconds  float64 `json:"stale_seconds"`
	// LastBackup is the newest successful backup of the host's services.
	LastBackup time.Time `json:"last_backup,omitzero"`
	// Problems are the host's own problem lines (failing backups ...).
	Problems []string `json:"problems,omitempty"`
	// Drift counts changes made outside git that were repaired.
	Drift int       `json:"drift"`
	Time  time.Time `json:"time"`
}

func mac(key []byte, method, path string, t int64) string {
	m := hmac.New(sha256.New, key)
	fmt.Fprintf(m, "%s %s %d", method, path, t)
	return hex.EncodeToString(m.Sum(nil))
}

// Sign returns the header value for a request made at now.
func Sign(key []byte, method, path string, now time.Time) string {
	t := now.Unix()
	return "t=" + strconv.FormatInt(t, 10) + ",mac=" + mac(key, method, path, t)
}

// ErrUnauthorized is a request without a valid, fresh signature.
var ErrUnauthorized = errors.New("fleet: missing, stale or wrong signature")

// Verify checks a request's signature against key at now.
func Verify(key []byte, r *http.Request, now time.Time) error {
	v := r.Header.Get(Header)
	var t int64
	var sum string
	for _, part := range strings.Split(v, ",") {
		k, val, _ := strings.Cut(strings.TrimSpace(part), "=")
		switch k {
		case "t":
			t, _ = strconv.ParseInt(val, 10, 64)
		case "mac":
			sum = val
		}
	}
	if t == 0 || sum == "" {
		return ErrUnauthorized
	}
	if d := now.Sub(time.Unix(t, 0)); d > MaxSkew || d < -MaxSkew {
		return ErrUnauthorized
	}
	if !hmac.Equal([]byte(sum), []byte(mac(key, r.Method, r.URL.Path, t))) {
		return ErrUnauthorized
	}
	return nil
}

// Fetch asks the agent at addr (host:port) for its status.
func Fetch(ctx context.Context, c *http.Client, addr string, key []byte, now time.Time) (*Status, error) {
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, "http://"+addr+Path, nil)
	if err != nil {
		return nil, err
	}
	req.Header.Set(Header, Sign(key, http.MethodGet, Path, now))
	resp, err := c.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		b, _ := io.ReadAll(io.LimitReader(resp.Body, 512))
		return nil, fmt.Errorf("%s: %s", resp.Status, strings.TrimSpace(string(b)))
	}
	var s Status
	if err := json.NewDecoder(io.LimitReader(resp.Body, 1<<20)).Decode(&s); err != nil {
		return nil, fmt.Errorf("reading %s's status: %w", addr, err)
	}
	return &s, nil
}

// Problems lists what is wrong with a host, one line each (none: fine).
func (s *Status) ProblemLines() []string {
	var out []string
	if s.BadCommit != "" {
		out = append(out, "refused "+short(s.BadCommit)+": "+firstLine(s.BadReason))
	}
	if s.Healthy != nil && !*s.Healthy {
		out = append(out, "unhealthy: "+s.HealthFailure)
	}
	if s.Stale {
		out = append(out, fmt.Sprintf("stale: no sync for %.0fs", s.StaleSeconds))
	}
	out = append(out, s.Problems...)
	return out
}

func short(h string) string {
	if len(h) > 12 {
		return h[:12]
	}
	return h
}

func firstLine(s string) string {
	l, _, _ := strings.Cut(s, "\n")
	return l
}
