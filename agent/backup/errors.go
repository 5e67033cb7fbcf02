package backup

import (
	"fmt"
	"strings"
)

// Kind classifies a failure so that callers (status, notify, tests) can
// tell them apart without parsing messages.
type Kind string

// Kinds of failure. The restic exit codes they come from are in newError.
const (
	KindFailed       Kind = "failed"        // exit 1 or an unknown code
	KindIncomplete   Kind = "incomplete"    // exit 3: snapshot saved, some files unreadable
	KindNoRepository Kind = "no-repository" // exit 10
	KindLocked       Kind = "locked"        // exit 11
	KindPassword     Kind = "wrong-password"
	KindInterrupted  Kind = "interrupted" // exit 130 or cancelled
	KindUnreachable  Kind = "unreachable" // the endpoint does not answer
	KindConfig       Kind = "config"      // missing secret, repository or restic
	KindQuiesce      Kind = "quiesce"     // a quiesce hook or dump failed
	KindNoSnapshot   Kind = "no-snapshot" // nothing to restore
	KindNotEmpty     Kind = "not-empty"   // a dump refused: the database holds data
)

// Error is a failed restic operation with a message for a person. It
// never holds a secret: messages pass through the secrets store's Redact.
type Error struct {
	// Op is the operation ("backup nextcloud", "prune", "restore immich").
	Op string
	// Code is restic's exit status, -1 when restic did not run.
	Code int
	Kind Kind
	// Msg says what went wrong and, when we know, what to do.
	Msg string
	// Detail is restic's own last words (redacted).
	Detail string
}

func (e *Error) Error() string {
	s := e.Op + ": " + e.Msg
	if e.Detail != "" && !strings.Contains(e.Msg, e.Detail) {
		s += " (restic: " + e.Detail + ")"
	}
	return s
}

// Is lets errors.Is(err, &Error{Kind: k}) match by kind.
func (e *Error) Is(target error) bool {
	t, ok := target.(*Error)
	return ok && t.Kind == e.Kind && t.Op == "" && t.Msg == ""
}

// ErrKind is a target for errors.Is that matches an *Error by kind.
func ErrKind(k Kind) error { return &Error{Kind: k} }

// newError maps a restic exit code to a clear message.
func (r *Repo) newError(op string, code int, detail string) *Error {
	detail = r.redact(strings.Join(strings.Fields(detail), " "))
	e := &Error{Op: op, Code: code, Detail: detail}
	switch code {
	case 3:
		e.Kind = KindIncomplete
		e.Msg = "some files could not be read; the snapshot was saved without them"
	case 10:
		e.Kind = KindNoRepository
		e.Msg = fmt.Sprintf("the repository %s does not exist: create it with `backup.init: true` in homelab.yaml, or check backup.repository", r.display)
	case 11:
		e.Kind = KindLocked
		e.Msg = "the repository is locked by another restic process; a stale lock is removed automatically, a live one is left alone"
	case 12:
		e.Kind = KindPassword
		e.Msg = "wrong repository password: RESTIC_PASSWORD in the secrets does not open " + r.display
	case 130:
		e.Kind = KindInterrupted
		e.Msg = "interrupted"
	case 1:
		e.Kind = KindFailed
		e.Msg = "restic failed"
		if unreachable(detail) {
			e.Kind = KindUnreachable
			e.Msg = "cannot reach the repository endpoint " + r.endpoint
		}
	default:
		e.Kind = KindFailed
		e.Msg = fmt.Sprintf("restic exited with unexpected status %d", code)
	}
	return e
}

func unreachable(msg string) bool {
	for _, s := range []string{"connection refused", "no such host", "i/o timeout", "network is unreachable", "no route to host", "connection reset"} {
		if strings.Contains(msg, s) {
			return true
		}
	}
	return false
}
