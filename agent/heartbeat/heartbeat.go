// Package heartbeat carries a "still making progress" signal through a
// context: the daemon puts a beat function into the context of a pass,
// and long-running work (each resource, restic's progress lines, log
// records) calls Beat. The daemon's systemd watchdog is fed only while
// beats arrive, so a pass that hangs gets the agent restarted.
package heartbeat

import (
	"context"
	"log/slog"
)

type key struct{}

// With returns a context whose Beat calls beat.
func With(ctx context.Context, beat func()) context.Context {
	return context.WithValue(ctx, key{}, beat)
}

// Beat signals progress; it does nothing when ctx carries no beat.
func Beat(ctx context.Context) {
	if f, ok := ctx.Value(key{}).(func()); ok {
		f()
	}
}

// Logger returns a logger that beats on every call (a pass that logs is
// making progress), or log itself when ctx carries no beat.
func Logger(ctx context.Context, log *slog.Logger) *slog.Logger {
	f, ok := ctx.Value(key{}).(func())
	if !ok || log == nil {
		return log
	}
	return slog.New(handler{log.Handler(), f})
}

type handler struct {
	slog.Handler
	beat func()
}

// Enabled beats for every call to the logger, at any level: a pass that
// tries to log is moving, whether or not the record is kept.
func (h handler) Enabled(ctx context.Context, l slog.Level) bool {
	h.beat()
	return h.Handler.Enabled(ctx, l)
}

func (h handler) Handle(ctx context.Context, r slog.Record) error {
	h.beat()
	return h.Handler.Handle(ctx, r)
}

func (h handler) WithAttrs(as []slog.Attr) slog.Handler {
	return handler{h.Handler.WithAttrs(as), h.beat}
}

func (h handler) WithGroup(name string) slog.Handler {
	return handler{h.Handler.WithGroup(name), h.beat}
}
