// Package resource defines what every managed thing on a host implements:
// it can tell what it would change (plan) and make it so (apply) in one
// code path, and it is addressed by a stable ID.
package resource

import (
	"context"
	"log/slog"
	"os"
	"path/filepath"

	"github.com/homelab-agent/homelab-agent/agent/secrets"
)

// Resource is one managed thing: a file, a container set, a firewall table.
type Resource interface {
	// ID names the resource uniquely on a host, e.g. "file:/etc/bind/named.conf".
	ID() string
	// Subsystem is the subsystem the resource belongs to ("files", ...);
	// --only selects resources by it.
	Subsystem() string
	// CheckApply compares the host with the desired state. With apply false
	// it only reports; with apply true it converges in one pass. It returns
	// nil when nothing is (or was) to be done, or the change it would make
	// (or made).
	CheckApply(ctx context.Context, env *Env, apply bool) (*Change, error)
}

// Depender is implemented by resources that must not be applied when
// another resource of the same pass failed.
type Depender interface {
	DependsOn() []string
}

// Change describes what a resource would change or changed. It must never
// hold a secret's value: diffs pass through Env.Secrets.Redact.
type Change struct {
	ID        string `json:"id"`
	Subsystem string `json:"subsystem"`
	// Action is one of create, update, delete, or ActionHeld.
	Action string `json:"action"`
	// Summary says what differs, for a person ("content", "mode 0644 -> 0640").
	Summary string `json:"summary"`
	// Diff is a unified diff, when the change has one.
	Diff string `json:"diff,omitempty"`
}

// ActionHeld is the action of a resource left as it is because its
// service is held (a restore or a backup's quiesce step, agent/hold): the
// pass reports it but counts no change and runs no hook for it.
const ActionHeld = "held"

// ActionNotice is the action of a resource that changes nothing but has
// something to tell (an image update the registry offers, applied in its
// window): reported like a held resource, counted as no change.
const ActionNotice = "notice"

// Env is what resources may use from the host they run on.
type Env struct {
	// Root prefixes every host path ("/" on a real host).
	Root string
	// Secrets resolves ${secret:NAME} and redacts values from output.
	Secrets *secrets.Store
	// ManageOwner makes file resources set owner and group; it needs root.
	ManageOwner bool
	// Log receives progress; nil discards.
	Log *slog.Logger
}

// Path maps a host path to where it lives under Root.
func (e *Env) Path(hostPath string) string {
	if e.Root == "" || e.Root == "/" {
		return hostPath
	}
	return filepath.Join(e.Root, hostPath)
}

// Logger returns the environment's logger, never nil.
func (e *Env) Logger() *slog.Logger {
	if e.Log == nil {
		return slog.New(slog.DiscardHandler)
	}
	return e.Log
}

// Rendered is a file's worth of a resource's desired state, for review
// (`render`); ${secret:NAME} references stay unresolved.
type Rendered struct {
	Path    string
	Content []byte
	Mode    os.FileMode
}

// Renderer is implemented by resources whose desired state can be shown
// as files: a file resource renders itself, a container project its
// compose files and variables.
type Renderer interface {
	Render() []Rendered
}
