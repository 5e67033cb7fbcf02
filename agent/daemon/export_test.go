package daemon

import (
	"context"
	"log/slog"
	"testing"

	"github.com/coreos/go-systemd/v22/journal"

	"github.com/homelab-agent/homelab-agent/agent"
	"github.com/homelab-agent/homelab-agent/agent/lab"
)

// SdNotify is the production notifier, for tests that read the socket.
var SdNotify = sdNotify

// JournalLogger returns a logger whose journal entries go to send.
func JournalLogger(send func(msg string, priority int, vars map[string]string)) *slog.Logger {
	return slog.New(&journalHandler{level: slog.LevelInfo, fallback: slog.DiscardHandler,
		send: func(msg string, p journal.Priority, vars map[string]string) error {
			send(msg, int(p), vars)
			return nil
		}})
}

// NewServer is the daemon's HTTP server, for its timeouts.
var NewServer = newServer

// MaxHookBody is the webhook's body limit.
const MaxHookBody = maxHookBody

// SetAncestry replaces the clone's ancestry check.
func SetAncestry(d *Daemon, f func(old, new string) (bool, error)) { d.ancestry = f }

// StatusChanged returns a channel closed at the daemon's next status update.
func (d *Daemon) StatusChanged() <-chan struct{} { return d.statusChanged() }

// CheckHealth runs the timer's health check once.
func (d *Daemon) CheckHealth(ctx context.Context) { d.checkHealth(ctx) }

// SetLoadLab replaces the daemon's lab loader until the test ends (a seam
// for making the load step of a commit panic or hang).
func SetLoadLab(t testing.TB, f func(dir string) (*lab.Lab, error)) {
	old := loadLab
	loadLab = func(dir, _ string, _ agent.Options) (*lab.Lab, error) { return f(dir) }
	t.Cleanup(func() { loadLab = old })
}

// ImageUpdates runs the image checks and updates that follow a pass.
func (d *Daemon) ImageUpdates(ctx context.Context) { d.imageUpdates(ctx) }
