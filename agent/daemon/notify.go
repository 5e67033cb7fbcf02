package daemon

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"strings"

	sddaemon "github.com/coreos/go-systemd/v22/daemon"
	"github.com/coreos/go-systemd/v22/journal"
)

// sdNotify sends a state to $NOTIFY_SOCKET; it does nothing when unset.
func sdNotify(state string) { sddaemon.SdNotify(false, state) }

// NewLogger returns the daemon's logger: structured entries sent to the
// journal when stderr is connected to it (JOURNAL_STREAM), text on w
// otherwise.
func NewLogger(w io.Writer, level slog.Level) *slog.Logger {
	if ok, _ := journal.StderrIsJournalStream(); ok && journal.Enabled() {
		return slog.New(&journalHandler{level: level, send: journal.Send,
			fallback: slog.NewTextHandler(w, &slog.HandlerOptions{Level: level})})
	}
	return slog.New(slog.NewTextHandler(w, &slog.HandlerOptions{Level: level}))
}

// journalHandler sends each record to the journal with its attributes
// as fields (UPPER_CASE) and in the message text as key=value.
type journalHandler struct {
	level    slog.Level
	attrs    []slog.Attr
	group    string
	send     func(msg string, p journal.Priority, vars map[string]string) error
	fallback slog.Handler
}

func (h *journalHandler) Enabled(_ context.Context, l slog.Level) bool { return l >= h.level }

func (h *journalHandler) Handle(ctx context.Context, r slog.Record) error {
	var msg strings.Builder
	msg.WriteString(r.Message)
	vars := map[string]string{"SYSLOG_IDENTIFIER": "homelab-agent"}
	add := func(a slog.Attr) {
		key := a.Key
		if h.group != "" {
			key = h.group + "." + key
		}
		v := a.Value.Resolve().String()
		fmt.Fprintf(&msg, " %s=%q", key, v)
		vars[journalField(key)] = v
	}
	for _, a := range h.attrs {
		add(a)
	}
	r.Attrs(func(a slog.Attr) bool { add(a); return true })
	if err := h.send(msg.String(), priority(r.Level), vars); err != nil {
		return h.fallback.Handle(ctx, r)
	}
	return nil
}

func (h *journalHandler) WithAttrs(as []slog.Attr) slog.Handler {
	c := *h
	c.attrs = append(append([]slog.Attr{}, h.attrs...), as...)
	c.fallback = h.fallback.WithAttrs(as)
	return &c
}

func (h *journalHandler) WithGroup(name string) slog.Handler {
	c := *h
	if c.group != "" {
		name = c.group + "." + name
	}
	c.group = name
	c.fallback = h.fallback.WithGroup(name)
	return &c
}

func priority(l slog.Level) journal.Priority {
	switch {
	case l >= slog.LevelError:
		return journal.PriErr
	case l >= slog.LevelWarn:
		return journal.PriWarning
	case l >= slog.LevelInfo:
		return journal.PriInfo
	}
	return journal.PriDebug
}

// journalField makes a journal field name: A-Z, 0-9 and _, not starting with _.
func journalField(k string) string {
	b := []byte(strings.ToUpper(k))
	for i, c := range b {
		if !(c >= 'A' && c <= 'Z' || c >= '0' && c <= '9') {
			b[i] = '_'
		}
	}
	s := strings.TrimLeft(string(b), "_0123456789")
	if s == "" {
		s = "FIELD"
	}
	return "HOMELAB_" + s
}
