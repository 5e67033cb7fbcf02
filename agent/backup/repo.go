package backup

import (
	"context"
	"fmt"
	"net"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/homelab-agent/homelab-agent/agent/secrets"
)

// CacheDir is restic's cache folder on the host (not on the data disk).
const CacheDir = "/var/cache/homelab-agent/restic"

// Repo is an opened restic repository: the binary, the environment with
// the credentials, and a private password file. Close removes the file.
type Repo struct {
	// RetryLock makes restic wait for a lock held by another host (0: fail at once).
	RetryLock time.Duration
	// DialTimeout bounds the reachability check of the endpoint.
	DialTimeout time.Duration
	// OnUnlock is told how many stale locks `restic unlock` removed.
	OnUnlock func(n int)
	// ResticTime adds up the wall time spent in restic processes, so that
	// the agent's own overhead can be measured.
	ResticTime time.Duration

	bin      string
	env      []string
	tmp      string
	display  string // the repository as homelab.yaml writes it, without credentials
	endpoint string // host:port of an s3: or rest: repository, "" otherwise
	init     bool
	secrets  *secrets.Store
}

// Open resolves the repository and its credentials from the secrets
// store, checks restic's version, and writes the password to a 0600 file
// that restic reads through RESTIC_PASSWORD_FILE.
func Open(ctx context.Context, c Config, store *secrets.Store) (*Repo, error) {
	if !c.Enabled() {
		return nil, &Error{Op: "opening repository", Code: -1, Kind: KindConfig, Msg: "backup.repository is not set in homelab.yaml"}
	}
	if missing := store.Missing(c.SecretNames()); len(missing) > 0 {
		return nil, &Error{Op: "opening repository", Code: -1, Kind: KindConfig, Msg: (&secrets.MissingError{Names: missing}).Error()}
	}
	repoURL, err := store.Expand(c.Repository)
	if err != nil {
		return nil, &Error{Op: "opening repository", Code: -1, Kind: KindConfig, Msg: "backup.repository: " + err.Error()}
	}
	bin, err := FindRestic()
	if err != nil {
		return nil, &Error{Op: "opening repository", Code: -1, Kind: KindConfig, Msg: err.Error()}
	}
	if err := checkVersion(ctx, bin); err != nil {
		return nil, &Error{Op: "opening repository", Code: -1, Kind: KindConfig, Msg: err.Error()}
	}
	r := &Repo{bin: bin, init: c.Init, secrets: store, DialTimeout: 5 * time.Second}
	r.display, r.endpoint = describeRepo(c.Repository)
	r.tmp, err = os.MkdirTemp("", "homelab-agent-restic-")
	if err != nil {
		return nil, fmt.Errorf("opening repository: %w", err)
	}
	pw, _ := store.Lookup(SecretPassword)
	pwFile := filepath.Join(r.tmp, "password")
	if err := os.WriteFile(pwFile, []byte(pw), 0o600); err != nil {
		os.RemoveAll(r.tmp)
		return nil, fmt.Errorf("opening repository: %w", err)
	}
	cache := filepath.Join(c.Root, CacheDir)
	if err := os.MkdirAll(cache, 0o700); err != nil {
		os.RemoveAll(r.tmp)
		return nil, fmt.Errorf("opening repository: %w", err)
	}
	r.env = resticEnv(os.Environ(), store, repoURL, pwFile, cache)
	return r, nil
}

// resticEnv is restic's whole environment: the agent's, without restic's,
// S3's and B2's own variables and without the agent's private ones
// (HOMELAB_SECRET_*, HOMELAB_AGENT_*), then the repository's settings and
// its S3 credentials.
func resticEnv(environ []string, store *secrets.Store, repoURL, pwFile, cache string) []string {
	var env []string
	for _, kv := range secrets.ChildEnv(environ) {
		k, _, _ := strings.Cut(kv, "=")
		if strings.HasPrefix(k, "RESTIC_") || strings.HasPrefix(k, "AWS_") || strings.HasPrefix(k, "B2_") {
			continue
		}
		env = append(env, kv)
	}
	env = append(env, "RESTIC_REPOSITORY="+repoURL, "RESTIC_PASSWORD_FILE="+pwFile,
		"RESTIC_CACHE_DIR="+cache, "RESTIC_PROGRESS_FPS=2")
	for _, n := range []string{SecretAccessKey, SecretSecretKey} {
		if v, ok := store.Lookup(n); ok {
			env = append(env, n+"="+v)
		}
	}
	return env
}

// Close removes the password file.
func (r *Repo) Close() error {
	if r == nil || r.tmp == "" {
		return nil
	}
	return os.RemoveAll(r.tmp)
}

// String names the repository without credentials.
func (r *Repo) String() string { return r.display }

func (r *Repo) redact(s string) string { return r.secrets.Redact(s) }

func (r *Repo) killGrace() time.Duration { return 10 * time.Second }

// describeRepo returns a printable form of the repository string and the
// endpoint to check for s3: and rest: repositories.
func describeRepo(repo string) (display, endpoint string) {
	display = repo
	kind, rest, ok := strings.Cut(repo, ":")
	if !ok || (kind != "s3" && kind != "rest") {
		return display, ""
	}
	if !strings.Contains(rest, "://") {
		rest = "https://" + rest
	}
	u, err := url.Parse(rest)
	if err != nil || u.Host == "" || strings.Contains(u.Host, "${") {
		return display, ""
	}
	if u.User != nil {
		u.User = nil
		display = kind + ":" + u.String()
	}
	port := u.Port()
	if port == "" {
		port = "443"
		if u.Scheme == "http" {
			port = "80"
		}
	}
	return display, net.JoinHostPort(u.Hostname(), port)
}

// reachable fails fast when the endpoint refuses or does not answer;
// restic itself would retry for up to 15 minutes.
func (r *Repo) reachable(ctx context.Context, op string) error {
	if r.endpoint == "" {
		return nil
	}
	d := net.Dialer{Timeout: r.DialTimeout}
	conn, err := d.DialContext(ctx, "tcp", r.endpoint)
	if err != nil && ctx.Err() != nil {
		return &Error{Op: op, Code: -1, Kind: KindInterrupted, Msg: "interrupted before restic started"}
	}
	if err != nil {
		msg := err.Error()
		if i := strings.LastIndex(msg, ": "); i >= 0 {
			msg = msg[i+2:]
		}
		return &Error{Op: op, Code: -1, Kind: KindUnreachable, Msg: fmt.Sprintf("cannot reach the repository endpoint %s: %s", r.endpoint, msg)}
	}
	conn.Close()
	return nil
}

// do runs one restic call after the reachability check; with backup.init
// a backup creates a missing repository once and tries again. Nothing
// else (listing, restore, prune) ever creates one.
func (r *Repo) do(ctx context.Context, op string, c call) (*result, error) {
	if err := r.reachable(ctx, op); err != nil {
		return nil, err
	}
	res, err := r.run(ctx, op, c)
	if e, ok := err.(*Error); ok && e.Kind == KindNoRepository && r.init && c.mayInit {
		if _, ierr := r.run(ctx, "initialising repository", call{args: []string{"init"}}); ierr != nil {
			return nil, ierr
		}
		r.init = false
		return r.run(ctx, op, c)
	}
	return res, err
}
