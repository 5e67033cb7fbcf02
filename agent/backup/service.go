package backup

import (
	"context"
	"errors"
	"io"
	"sync"
	"time"

	"github.com/docker/docker/client"

	"github.com/homelab-agent/homelab-agent/agent/lab"
)

// Service is a stateful service as a role declares it (role.Output's
// Stateful): its data lives in /srv/data/<Name>/, which is backed up and
// self-restored. Name is also the compose project whose containers a
// restore stops and starts, and that waits for the self-restore.
type Service struct {
	Name string
	// Excludes are restic --exclude patterns (a live database folder
	// that a dump covers). An absolute pattern is a host path, e.g.
	// /srv/data/immich/postgres: the backup puts the root before it.
	Excludes []string
	// Quiesce brings the service to rest for the time of a backup; nil
	// for none.
	Quiesce Quiescer
	// Dump streams a database dump into the backup; nil for none.
	Dump Dumper
	// Fixer edits restored data before the service starts on it (state
	// the quiesce step left in the files); nil for none.
	Fixer RestoreFixer
}

// Env is what quiesce and dump steps act through.
type Env struct {
	Lab    *lab.Lab
	Host   *lab.Host
	Docker *client.Client
}

// Quiescer brings a service's data to rest before a backup reads it
// (Nextcloud's maintenance mode, stopping Jellyfin).
type Quiescer interface {
	// Quiesce brings the service to rest and returns resume, which undoes
	// it. resume is non-nil even when err is not: a half-done quiesce is
	// undone too. The backup runs resume whatever happens (Quiesce.Around).
	Quiesce(ctx context.Context, env Env) (resume func(context.Context) error, err error)
}

// Dumper is implemented by services whose database is backed up as a dump
// streamed to restic (restic backup --stdin-from-command) rather than as
// its files (Nextcloud's and Immich's pg_dumpall, roles.PostgresDump).
//
// A restore loads the dump in this order: the restored files are in
// place, the database's compose service (DumpRestore's container) is
// started alone (created first on a self-restore, before the service's
// first start), DumpCheck's command must print nothing (unless the
// restore is forced), DumpRestore's command loads the dump, and only then
// does the rest of the service start.
type Dumper interface {
	// DumpName is the file name the dump gets in the snapshot (name.sql).
	DumpName() string
	// Dump streams the dump to w; it fails if the dump command fails.
	Dump(ctx context.Context, env Env, w io.Writer) error
	// DumpRestore names the compose service that holds the database and
	// the command run there with the dump on stdin. The command waits
	// until the database accepts connections, and fails (non-zero, with
	// the database's message) when any statement of the dump fails.
	DumpRestore() (container string, argv []string)
	// DumpCheck is the command run in the same container before a load:
	// it waits until the database accepts connections and prints what the
	// database holds beyond what a fresh initialisation left (one line per
	// database with tables), nothing when it holds nothing. A restore
	// refuses to load a dump over data unless it is forced.
	DumpCheck() []string
}

// QuiesceOf adapts a service's Quiescer to a job's Quiesce: After runs
// the resume step Quiesce returned, even when Quiesce failed half-way.
func QuiesceOf(q Quiescer, env Env) *Quiesce {
	var mu sync.Mutex
	var resume func(context.Context) error
	return &Quiesce{
		Before: func(ctx context.Context) error {
			r, err := q.Quiesce(ctx, env)
			mu.Lock()
			resume = r
			mu.Unlock()
			return err
		},
		After: func(ctx context.Context) error {
			mu.Lock()
			r := resume
			resume = nil
			mu.Unlock()
			if r == nil {
				return nil
			}
			return r(ctx)
		},
	}
}

// resumeTimeout bounds the undo step when the backup's own context is done.
const resumeTimeout = 5 * time.Minute

// Around runs fn between Before and After. After always runs once Before
// was called, whatever Before or fn return, with a context of its own if
// ctx is done; the error joins all three, each marked with its step.
// A nil Quiesce just runs fn.
func (q *Quiesce) Around(ctx context.Context, fn func(context.Context) error) (err error) {
	if q == nil {
		return fn(ctx)
	}
	if q.After != nil {
		defer func() {
			actx, cancel := context.WithTimeout(context.WithoutCancel(ctx), resumeTimeout)
			defer cancel()
			if aerr := q.After(actx); aerr != nil {
				err = errors.Join(err, &stepError{step: "undoing quiesce", err: aerr})
			}
		}()
	}
	if q.Before != nil {
		if berr := q.Before(ctx); berr != nil {
			return &stepError{step: "quiescing", err: berr}
		}
	}
	return fn(ctx)
}

// stepError marks which quiesce step failed.
type stepError struct {
	step string
	err  error
}

func (e *stepError) Error() string { return e.step + ": " + e.err.Error() }
func (e *stepError) Unwrap() error { return e.err }
