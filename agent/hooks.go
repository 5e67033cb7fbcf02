package agent

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"slices"
	"strings"
	"time"

	"github.com/homelab-agent/homelab-agent/agent/resource"
	"github.com/homelab-agent/homelab-agent/agent/secrets"
)

// hooks runs (or, in plan, lists) every hook triggered by a changed
// resource or owed by an earlier pass. Every hook runs even if another
// fails; a failed hook stays owed.
func (p *pass) hooks(ctx context.Context, hooks []*resource.Hook, changed map[string]bool) {
	for _, h := range hooks {
		var by []string
		for _, id := range h.Watch {
			if changed[id] {
				by = append(by, id)
			}
		}
		if slices.Contains(p.st.PendingHooks, h.Name) && len(by) == 0 {
			by = append(by, "pending")
		}
		if len(by) == 0 {
			continue
		}
		p.rep.Changed = true
		hr := HookResult{Name: h.Name, TriggeredBy: by, Status: "planned"}
		switch {
		case !p.apply:
		case !p.opts.runHooks():
			hr.Status = "skipped"
			hr.Error = "hooks do not run under --root unless --hooks=run"
		default:
			if err := runHook(ctx, h); err != nil {
				hr.Status = "failed"
				hr.Error = p.env.Secrets.Redact(err.Error())
				p.fail(fmt.Errorf("hook %s: %w", h.Name, err))
			} else {
				hr.Status = "ran"
				p.env.Logger().Info("hook ran", "hook", h.Name)
				if slices.Contains(p.st.PendingHooks, h.Name) {
					p.st.DonePending(h.Name)
					p.dirty = true
				}
			}
		}
		p.rep.Hooks = append(p.rep.Hooks, hr)
	}
}

// runHook runs a hook's commands in order, stopping at the first failure,
// whose error carries the command's last lines of output.
func runHook(ctx context.Context, h *resource.Hook) error {
	timeout := h.Timeout
	if timeout == 0 {
		timeout = 2 * time.Minute
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	for _, argv := range h.Commands {
		var out bytes.Buffer
		cmd := exec.CommandContext(ctx, argv[0], argv[1:]...)
		cmd.Stdout, cmd.Stderr = &out, &out
		cmd.Env = secrets.ChildEnv(os.Environ())
		if err := cmd.Run(); err != nil {
			return fmt.Errorf("%s: %w%s", strings.Join(argv, " "), err, tail(out.String(), 10))
		}
	}
	return nil
}

// tail returns the last n lines of s, indented, or "" when s is empty.
func tail(s string, n int) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	if len(lines) == 1 && lines[0] == "" {
		return ""
	}
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return ": " + strings.Join(lines, " | ")
}
