package backup

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"strings"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

// StaleLockAge is restic's own threshold: a lock not refreshed for 30
// minutes belongs to a process that is gone.
const StaleLockAge = 30 * time.Minute

// Lock is one restic lock file.
type Lock struct {
	ID        string    `json:"-"`
	Time      time.Time `json:"time"`
	Exclusive bool      `json:"exclusive"`
	Hostname  string    `json:"hostname"`
	PID       int       `json:"pid"`
}

// Stale reports whether the lock is older than StaleLockAge, or held by a
// process of this host that no longer exists. Same rule as restic's.
func (l Lock) Stale(now time.Time, hostname string) bool {
	if now.Sub(l.Time) > StaleLockAge {
		return true
	}
	if l.Hostname != hostname {
		return false
	}
	err := syscall.Kill(l.PID, 0)
	return errors.Is(err, syscall.ESRCH)
}

func (l Lock) String() string {
	kind := "shared"
	if l.Exclusive {
		kind = "exclusive"
	}
	return fmt.Sprintf("%s lock %.8s by PID %d on %s since %s", kind, l.ID, l.PID, l.Hostname, l.Time.UTC().Format(time.RFC3339))
}

// Locks lists the repository's locks without taking one.
func (r *Repo) Locks(ctx context.Context) ([]Lock, error) {
	res, err := r.do(ctx, "listing locks", call{args: []string{"list", "locks", "--no-lock"}})
	if err != nil {
		return nil, err
	}
	var locks []Lock
	for _, line := range res.lines {
		id := strings.TrimSpace(string(line))
		if id == "" {
			continue
		}
		cat, err := r.run(ctx, "reading lock "+id[:min(8, len(id))], call{args: []string{"cat", "lock", id, "--no-lock"}})
		if err != nil {
			continue // removed meanwhile
		}
		var l Lock
		if json.Unmarshal(joinLines(cat.lines), &l) == nil {
			l.ID = id
			locks = append(locks, l)
		}
	}
	return locks, nil
}

func joinLines(lines [][]byte) []byte {
	var b []byte
	for _, l := range lines {
		b = append(b, l...)
		b = append(b, '\n')
	}
	return b
}

// unlockStale removes stale locks with `restic unlock` (never
// --remove-all, which would also remove live ones). It returns the live
// locks that remain, for the error message.
func (r *Repo) unlockStale(ctx context.Context, now time.Time) (removed int, live []Lock, err error) {
	locks, err := r.Locks(ctx)
	if err != nil {
		return 0, nil, err
	}
	host, _ := os.Hostname()
	for _, l := range locks {
		if l.Stale(now, host) {
			removed++
		} else {
			live = append(live, l)
		}
	}
	if removed > 0 {
		if _, err := r.run(ctx, "removing stale locks", call{args: []string{"unlock"}}); err != nil {
			return 0, live, err
		}
	}
	return removed, live, nil
}

// doLocked runs a call; when restic reports the repository locked, it
// removes stale locks and tries once more. A live lock is left alone and
// named in the error.
func (r *Repo) doLocked(ctx context.Context, op string, now func() time.Time, c call) (*result, error) {
	res, err := r.do(ctx, op, c)
	var e *Error
	if !errors.As(err, &e) || e.Kind != KindLocked {
		return res, err
	}
	removed, live, uerr := r.unlockStale(ctx, now())
	if uerr != nil || removed == 0 {
		if len(live) > 0 {
			var names []string
			for _, l := range live {
				names = append(names, l.String())
			}
			e.Msg = "the repository is locked by a live restic process (" + strings.Join(names, "; ") + "); it was left alone, try again when it has finished"
		}
		return res, e
	}
	if r.OnUnlock != nil {
		r.OnUnlock(removed)
	}
	return r.run(ctx, op, c)
}

// fileLock serialises backup, prune, check and restore across the
// agent's processes (the daemon and a command run by hand).
type fileLock struct{ f *os.File }

func lockFile(ctx context.Context, path string) (*fileLock, error) {
	if err := os.MkdirAll(parentDir(path), 0o700); err != nil {
		return nil, err
	}
	f, err := os.OpenFile(path, os.O_CREATE|os.O_RDWR, 0o600)
	if err != nil {
		return nil, err
	}
	t := time.NewTicker(100 * time.Millisecond)
	defer t.Stop()
	for {
		err := unix.Flock(int(f.Fd()), unix.LOCK_EX|unix.LOCK_NB)
		if err == nil {
			return &fileLock{f: f}, nil
		}
		if !errors.Is(err, unix.EWOULDBLOCK) {
			f.Close()
			return nil, err
		}
		select {
		case <-ctx.Done():
			f.Close()
			return nil, fmt.Errorf("waiting for another backup, prune or restore of this host to finish: %w", ctx.Err())
		case <-t.C:
		}
	}
}

func (l *fileLock) unlock() { l.f.Close() }

func parentDir(p string) string {
	if i := strings.LastIndexByte(p, '/'); i > 0 {
		return p[:i]
	}
	return "."
}
