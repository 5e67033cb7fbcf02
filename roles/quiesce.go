package roles

import (
	"context"
	"errors"
	"fmt"
	"io"
	"time"

	"github.com/docker/docker/client"

	"github.com/homelab-agent/homelab-agent/agent/lab"
)

// Quiescer is implemented by roles whose data must be brought to rest
// before a backup reads it (Nextcloud's maintenance mode, stopping
// Jellyfin). Use it through Quiesced, which guarantees the undo step.
type Quiescer interface {
	// Quiesce brings the host's app to rest and returns resume, which
	// undoes it. resume is non-nil even when err is not: a half-done
	// quiesce is undone too.
	Quiesce(ctx context.Context, q QuiesceEnv) (resume func(context.Context) error, err error)
}

// Dumper is implemented by roles whose database is backed up as a dump
// streamed to restic (restic backup --stdin-from-command) rather than as
// its files (Immich's pg_dumpall).
type Dumper interface {
	// DumpName is the file name the dump gets in the snapshot.
	DumpName() string
	// Dump streams the dump to w; it fails if the dump command fails.
	Dump(ctx context.Context, q QuiesceEnv, w io.Writer) error
}

// QuiesceEnv is what quiesce and dump steps may use.
type QuiesceEnv struct {
	Lab    *lab.Lab
	Host   *lab.Host
	Docker *client.Client
}

// Quiesced runs backup between a role's quiesce and resume steps. Resume
// always runs (with a context of its own if ctx is done), whatever quiesce
// or backup return; the error joins all three. A role without quiesce
// steps just runs backup.
func Quiesced(ctx context.Context, r Role, q QuiesceEnv, backup func(context.Context) error) (err error) {
	qr, ok := r.(Quiescer)
	if !ok {
		return backup(ctx)
	}
	resume, qerr := qr.Quiesce(ctx, q)
	defer func() {
		if resume == nil {
			return
		}
		rctx := ctx
		if ctx.Err() != nil {
			var cancel context.CancelFunc
			rctx, cancel = context.WithTimeout(context.WithoutCancel(ctx), 2*time.Minute)
			defer cancel()
		}
		if rerr := resume(rctx); rerr != nil {
			err = errors.Join(err, fmt.Errorf("role %s: resuming after the backup: %w", r.Name(), rerr))
		}
	}()
	if qerr != nil {
		return fmt.Errorf("role %s: quiescing before the backup: %w", r.Name(), qerr)
	}
	return backup(ctx)
}

// DumpRestorer is implemented by Dumpers whose dump is loaded back by a
// command run inside one of the service's containers, the dump on stdin.
type DumpRestorer interface {
	// DumpRestore names the compose service that loads the dump and the
	// command it runs.
	DumpRestore() (service string, argv []string)
}
