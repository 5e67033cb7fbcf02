// Package hold lets a backup's quiesce step or a restore hold a service
// against the converger: while a service is held, a pass leaves its
// containers as they are (it does not start what the quiesce step
// stopped) and says so in its report. A hold is a marker file with an
// exclusive flock: it ends with Release or with the holder's process, so
// a crashed restore never blocks its service for good.
package hold

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"time"
)

// Dir is where the markers live, relative to the host root.
const Dir = "/var/lib/homelab-agent/hold"

// Hold is a service held by this process.
type Hold struct {
	f       *os.File
	path    string
	service string
}

// ErrHeld is the error Take wraps when another live holder has the service.
var ErrHeld = errors.New("already held")

func path(root, service string) string {
	return filepath.Join(root, Dir, service)
}

// Take holds service for reason (e.g. "restore", "backup quiesce") until
// Release. It fails when another live holder has it.
func Take(root, service, reason string) (*Hold, error) {
	if service == "" || strings.ContainsAny(service, "/\x00") || service == "." || service == ".." {
		return nil, fmt.Errorf("hold: invalid service name %q", service)
	}
	p := path(root, service)
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		return nil, fmt.Errorf("hold: %w", err)
	}
	f, err := os.OpenFile(p, os.O_RDWR|os.O_CREATE, 0o644)
	if err != nil {
		return nil, fmt.Errorf("hold: %w", err)
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		f.Close()
		if errors.Is(err, syscall.EWOULDBLOCK) {
			r, _ := Check(root, service)
			return nil, fmt.Errorf("hold: %s is %w (%s)", service, ErrHeld, r)
		}
		return nil, fmt.Errorf("hold: locking %s: %w", p, err)
	}
	msg := fmt.Sprintf("%s by pid %d since %s", reason, os.Getpid(), time.Now().UTC().Format(time.RFC3339))
	if err := f.Truncate(0); err == nil {
		f.WriteAt([]byte(msg), 0)
	}
	return &Hold{f: f, path: p, service: service}, nil
}

// Wait is Take, tried again every interval while another holder has the
// service, for at most max: a backup's quiesce step waits for an image
// update's health check rather than stopping the service under it.
func Wait(ctx context.Context, root, service, reason string, max, interval time.Duration) (*Hold, error) {
	end := time.Now().Add(max)
	for {
		h, err := Take(root, service, reason)
		if err == nil || !errors.Is(err, ErrHeld) || !time.Now().Before(end) {
			if err != nil && errors.Is(err, ErrHeld) && max > 0 {
				err = fmt.Errorf("%w; waited %s", err, max)
			}
			return h, err
		}
		select {
		case <-ctx.Done():
			return nil, fmt.Errorf("%w; stopped waiting: %w", err, ctx.Err())
		case <-time.After(interval):
		}
	}
}

type ownedKey struct{ service string }

// Context marks ctx as the holder's own work: a pass run with it
// converges the held service (an image update recreating the container it
// holds against the scheduled backups), where any other pass leaves it be.
func (h *Hold) Context(ctx context.Context) context.Context {
	return context.WithValue(ctx, ownedKey{h.service}, h)
}

// Owned reports whether ctx runs under this process's hold of service
// (see Context) and the hold is still taken.
func Owned(ctx context.Context, service string) bool {
	h, _ := ctx.Value(ownedKey{service}).(*Hold)
	return h != nil && h.f != nil
}

// Release ends the hold and removes the marker.
func (h *Hold) Release() error {
	if h == nil || h.f == nil {
		return nil
	}
	err := os.Remove(h.path)
	if cerr := h.f.Close(); err == nil {
		err = cerr
	}
	h.f = nil
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	return err
}

// Check reports whether service is held, and by whom and why. A marker
// whose holder is gone (its lock is free) is removed and not a hold.
func Check(root, service string) (reason string, held bool) {
	p := path(root, service)
	f, err := os.Open(p)
	if err != nil {
		return "", false
	}
	defer f.Close()
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_SH|syscall.LOCK_NB); err == nil {
		// Nobody holds it: a holder that died left the marker.
		syscall.Flock(int(f.Fd()), syscall.LOCK_UN)
		os.Remove(p)
		return "", false
	}
	b := make([]byte, 512)
	n, _ := f.ReadAt(b, 0)
	return strings.TrimSpace(string(b[:n])), true
}
