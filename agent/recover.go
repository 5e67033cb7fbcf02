package agent

import (
	"context"
	"fmt"
	"runtime/debug"

	"github.com/homelab-agent/homelab-agent/agent/heartbeat"
	"github.com/homelab-agent/homelab-agent/agent/resource"
)

// PanicError is a panic turned into an error: the value's text only; the
// stack goes to the log, never into reports, state or /status.
type PanicError struct {
	Value any
}

func (e *PanicError) Error() string { return fmt.Sprintf("panic: %v", e.Value) }

// checkApply runs r.CheckApply; a panic in it fails that resource (the
// caller names it) instead of the whole pass. The stack is logged. Each
// resource started is a heartbeat of the pass.
func checkApply(ctx context.Context, r resource.Resource, env *resource.Env, apply bool) (ch *resource.Change, err error) {
	defer func() {
		if v := recover(); v != nil {
			pe := &PanicError{Value: v}
			env.Logger().Error("resource panicked", "resource", r.ID(),
				"panic", env.Secrets.Redact(pe.Error()), "stack", string(debug.Stack()))
			ch, err = nil, pe
		}
	}()
	heartbeat.Beat(ctx)
	return r.CheckApply(ctx, env, apply)
}
