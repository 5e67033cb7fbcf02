package agent

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"syscall"

	"github.com/homelab-agent/homelab-agent/agent/files"
	"github.com/homelab-agent/homelab-agent/agent/firewall"
	"github.com/homelab-agent/homelab-agent/agent/lab"
	"github.com/homelab-agent/homelab-agent/agent/packages"
	"github.com/homelab-agent/homelab-agent/agent/resource"
	"github.com/homelab-agent/homelab-agent/agent/role"
	"github.com/homelab-agent/homelab-agent/agent/secrets"
	"github.com/homelab-agent/homelab-agent/agent/secrets/vault"
	"github.com/homelab-agent/homelab-agent/agent/state"
)

// Plan reports what Apply would change on the host, touching nothing.
func Plan(ctx context.Context, l *lab.Lab, host string, opts Options) (*Report, error) {
	return run(ctx, l, host, opts, false)
}

// Apply converges the host in one pass. Every resource is tried even if
// another fails (unless it depends on the failed one); then every hook
// whose trigger changed runs. The error joins every failure.
func Apply(ctx context.Context, l *lab.Lab, host string, opts Options) (*Report, error) {
	unlock, err := lockRoot(opts.root())
	if err != nil {
		return nil, err
	}
	defer unlock()
	return run(ctx, l, host, opts, true)
}

type pass struct {
	opts  Options
	apply bool
	env   *resource.Env
	st    *state.State
	rep   *Report
	errs  []error
	dirty bool // state must be saved
	// absent holds the IDs of files being removed from the host.
	absent map[string]bool
}

func (p *pass) fail(err error) {
	msg := p.env.Secrets.Redact(err.Error())
	p.rep.Errors = append(p.rep.Errors, msg)
	p.errs = append(p.errs, errors.New(msg))
}

// hostSecrets is Options.Secrets, or the host's secrets loaded as a pass
// loads them (vault.LoadHost).
func (o *Options) hostSecrets(l *lab.Lab, host string) (*secrets.Store, error) {
	if o.Secrets != nil {
		return o.Secrets, nil
	}
	return vault.LoadHost(o.root(), l.Dir, host, os.Environ())
}

func run(ctx context.Context, l *lab.Lab, hostName string, opts Options, apply bool) (*Report, error) {
	if err := CheckOnly(opts.Only); err != nil {
		return nil, err
	}
	root := opts.root()
	store, err := opts.hostSecrets(l, hostName)
	if err != nil {
		return nil, err
	}
	load := state.Load
	if apply {
		load = state.Recover // a corrupt state.json never blocks a pass
	}
	st, err := load(root)
	if err != nil {
		return nil, err
	}
	if st.Recovered != "" {
		opts.logger().Error(st.Recovered)
	}
	h, out, err := Desired(l, hostName, st.Memory, opts.now())
	if err != nil {
		return nil, err
	}
	return runOutput(ctx, h, out, store, st, opts, apply)
}

// runOutput runs a pass over a built desired state.
func runOutput(ctx context.Context, h *lab.Host, out *role.Output, store *secrets.Store, st *state.State, opts Options, apply bool) (*Report, error) {
	root := opts.root()
	mode := map[bool]string{false: "plan", true: "apply"}[apply]
	p := &pass{
		opts: opts, apply: apply, st: st,
		env: &resource.Env{Root: root, Secrets: store, ManageOwner: opts.manageOwner(), Log: opts.logger()},
		rep: &Report{Version: ReportVersion, Host: h.Name, Role: h.Role, Mode: mode, Commit: opts.Commit, Trigger: opts.Trigger,
			Changes: []ChangeResult{}, Hooks: []HookResult{}, Errors: []string{}},
	}
	res := append(p.selected(out), p.orphans(out)...)
	p.rep.Skipped = []string{}
	for _, sub := range Subsystems {
		if !slices.Contains(p.opts.subsystems(), sub) && slices.ContainsFunc(out.Resources, func(r resource.Resource) bool { return r.Subsystem() == sub }) {
			p.rep.Skipped = append(p.rep.Skipped, sub)
		}
	}
	hooks := selectedHooks(out.Hooks, res)

	// Secrets first: apply changes nothing when one is missing.
	needed := neededSecrets(out, res)
	p.rep.Secrets = SecretsReport{Needed: needed, Missing: store.Missing(needed)}
	for _, c := range store.Conflicts() {
		p.rep.Secrets.Conflicts = append(p.rep.Secrets.Conflicts, c.String())
		p.opts.logger().Warn("secrets: "+c.String(), "host", h.Name)
	}
	if p.rep.Secrets.Missing == nil {
		p.rep.Secrets.Missing = []string{}
	}
	if len(p.rep.Secrets.Missing) > 0 {
		p.fail(&secrets.MissingError{Names: p.rep.Secrets.Missing})
		if apply {
			return p.rep, errors.Join(p.errs...)
		}
	}

	changed := p.resources(ctx, res, hooks)
	p.hooks(ctx, hooks, changed)

	if apply {
		p.remember(h, out)
		if p.dirty {
			if err := p.st.Save(root); err != nil {
				p.fail(err)
			}
		}
	}
	return p.rep, errors.Join(p.errs...)
}

// selected returns the resources of the pass's subsystems.
func (p *pass) selected(out *role.Output) []resource.Resource {
	keep := p.opts.subsystems()
	var res []resource.Resource
	for _, r := range out.Resources {
		if slices.Contains(keep, r.Subsystem()) {
			res = append(res, r)
		}
	}
	return res
}

// orphans returns a removal for every file an earlier pass wrote that the
// desired state no longer has. Only a pass over the files subsystem prunes.
func (p *pass) orphans(out *role.Output) []resource.Resource {
	if !slices.Contains(p.opts.subsystems(), files.Subsystem) {
		return nil
	}
	want := map[string]bool{}
	for _, r := range out.Resources {
		want[r.ID()] = true
	}
	var gone []resource.Resource
	p.absent = map[string]bool{}
	for _, id := range slices.Sorted(maps.Keys(p.st.Resources)) {
		if path, ok := strings.CutPrefix(id, "file:"); ok && !want[id] {
			gone = append(gone, &files.Absent{Path: path, Restore: p.restores(path)})
			p.absent[id] = true
		}
	}
	return gone
}

// selectedHooks keeps the hooks that watch a selected resource.
func selectedHooks(hooks []*resource.Hook, res []resource.Resource) []*resource.Hook {
	ids := map[string]bool{}
	for _, r := range res {
		ids[r.ID()] = true
	}
	var out []*resource.Hook
	for _, h := range hooks {
		if slices.ContainsFunc(h.Watch, func(id string) bool { return ids[id] }) {
			out = append(out, h)
		}
	}
	return out
}

func neededSecrets(out *role.Output, res []resource.Resource) []string {
	set := map[string]bool{}
	for _, n := range out.Secrets {
		set[n] = true
	}
	for _, r := range res {
		if su, ok := r.(resource.SecretUser); ok {
			for _, n := range su.SecretNames() {
				set[n] = true
			}
		}
	}
	names := slices.Collect(maps.Keys(set))
	sort.Strings(names)
	if names == nil {
		names = []string{}
	}
	return names
}

// resources checks (and applies) every resource; it returns the IDs that
// changed. A resource watched by a hook is checked first, and the hook is
// recorded as owed in state before the resource changes, so that a crash
// between the write and the hook still runs the hook on the next pass.
func (p *pass) resources(ctx context.Context, res []resource.Resource, hooks []*resource.Hook) map[string]bool {
	watchers := map[string][]string{}
	for _, h := range hooks {
		for _, id := range h.Watch {
			watchers[id] = append(watchers[id], h.Name)
		}
	}
	failed := map[string]bool{}
	// pf is the packages resource that failed, if one did.
	pf := ""
	changed := map[string]bool{}
	results := map[string]state.ResourceResult{}
	for _, r := range res {
		if ctx.Err() != nil {
			p.fail(fmt.Errorf("%s: not checked: %w", r.ID(), ctx.Err()))
			failed[r.ID()] = true
			continue
		}
		if dep := failedDependency(r, failed, pf); dep != "" {
			p.rep.Changes = append(p.rep.Changes, ChangeResult{
				Change: resource.Change{ID: r.ID(), Subsystem: r.Subsystem(), Summary: "not checked"},
				Status: "skipped", Error: "depends on " + dep + ", which failed"})
			failed[r.ID()] = true
			results[r.ID()] = state.ResourceResult{Status: "skipped", Error: "depends on " + dep}
			continue
		}
		ch, err := p.checkApplyKeeping(ctx, r, watchers[r.ID()])
		if err != nil {
			err = fmt.Errorf("%s: %w", r.ID(), err)
			p.fail(err)
			failed[r.ID()] = true
			if r.Subsystem() == packages.Subsystem && pf == "" {
				pf = r.ID()
			}
			sum := resource.Change{ID: r.ID(), Subsystem: r.Subsystem(), Summary: "check failed"}
			if ch != nil {
				sum = *ch
			}
			msg := p.env.Secrets.Redact(err.Error())
			p.rep.Changes = append(p.rep.Changes, ChangeResult{Change: sum, Status: "failed", Error: msg})
			results[r.ID()] = state.ResourceResult{Status: "failed", Error: msg}
			continue
		}
		if ch == nil {
			results[r.ID()] = state.ResourceResult{Status: "ok"}
			continue
		}
		if ch.Action == resource.ActionHeld || ch.Action == resource.ActionNotice {
			p.rep.Changes = append(p.rep.Changes, ChangeResult{Change: *ch, Status: ch.Action})
			results[r.ID()] = state.ResourceResult{Status: "held", Summary: ch.Summary}
			if ch.Action == resource.ActionNotice {
				results[r.ID()] = state.ResourceResult{Status: "ok"} // nothing to change
			}
			continue
		}
		changed[r.ID()] = true
		p.rep.Changed = true
		status := "planned"
		if p.apply {
			status = "applied"
			p.env.Logger().Info("changed", "resource", ch.ID, "change", p.env.Secrets.Redact(ch.Summary))
		}
		p.rep.Changes = append(p.rep.Changes, ChangeResult{Change: *ch, Status: status})
		results[r.ID()] = state.ResourceResult{Status: "changed", Summary: p.env.Secrets.Redact(ch.Summary), Changed: p.opts.now()}
	}
	if p.apply {
		p.recordResults(results)
	}
	return changed
}

// failedDependency names what r depends on that failed in this pass, or
// "". Every resource but the firewall's depends on the packages resource
// (pkgFailed, when it failed): without the programs the rest configures
// and runs, nothing of the role is half-applied; the firewall needs no
// package. A resource.Depender also depends on what it names.
func failedDependency(r resource.Resource, failed map[string]bool, pkgFailed string) string {
	if pkgFailed != "" && r.Subsystem() != packages.Subsystem && r.Subsystem() != firewall.Subsystem {
		return pkgFailed
	}
	if d, ok := r.(resource.Depender); ok {
		if i := slices.IndexFunc(d.DependsOn(), func(id string) bool { return failed[id] }); i >= 0 {
			return d.DependsOn()[i]
		}
	}
	return ""
}

func (p *pass) checkApply(ctx context.Context, r resource.Resource, hooks []string) (*resource.Change, error) {
	if !p.apply || len(hooks) == 0 || !p.opts.runHooks() {
		return checkApply(ctx, r, p.env, p.apply)
	}
	ch, err := checkApply(ctx, r, p.env, false)
	if err != nil || ch == nil || ch.Action == resource.ActionHeld || ch.Action == resource.ActionNotice {
		return ch, err
	}
	if p.st.AddPending(hooks...) {
		if err := p.st.Save(p.env.Root); err != nil {
			return ch, fmt.Errorf("recording owed hooks before the change: %w", err)
		}
	}
	return checkApply(ctx, r, p.env, true)
}

// recordResults keeps per-resource results in state; a result that only
// repeats "ok" does not make the state dirty, so a no-op pass writes nothing.
func (p *pass) recordResults(results map[string]state.ResourceResult) {
	if p.st.Resources == nil {
		p.st.Resources = map[string]state.ResourceResult{}
	}
	for id, r := range results {
		if p.absent[id] {
			if r.Status != "failed" {
				delete(p.st.Resources, id)
				p.forgetOriginal(id)
				p.dirty = true
				continue
			}
		}
		old, had := p.st.Resources[id]
		if r.Status == "ok" && had && old.Status != "failed" && old.Status != "skipped" {
			continue // keep when it last changed
		}
		if r.Status == "ok" && had {
			r.Changed = old.Changed
		}
		p.st.Resources[id] = r
		p.dirty = true
	}
	for id := range p.st.Resources {
		if _, ok := results[id]; !ok && len(p.opts.subsystems()) == len(Subsystems) {
			delete(p.st.Resources, id)
			p.dirty = true
		}
	}
}

// remember saves the host's identity, commit and the roles' memory.
func (p *pass) remember(h *lab.Host, out *role.Output) {
	st := p.st
	set := func(dst *string, v string) {
		if *dst != v {
			*dst = v
			p.dirty = true
		}
	}
	set(&st.Host, h.Name)
	set(&st.Role, h.Role)
	if p.opts.Commit != "" {
		set(&st.AppliedCommit, p.opts.Commit)
		if len(p.errs) == 0 {
			set(&st.LastGoodCommit, p.opts.Commit)
		}
	}
	mem := p.memoryOfPass(out.Memory)
	if len(mem) > 0 && !maps.Equal(st.Memory, mergeMemory(st.Memory, mem)) {
		st.Memory = mergeMemory(st.Memory, mem)
		p.dirty = true
	}
	if p.dirty {
		st.LastApply = p.opts.now().UTC()
	}
}

// memoryOfPass keeps the memory entries this pass may record: a key named
// "<subsystem>.…" belongs to that subsystem and is kept only by a pass that
// ran it (an `--only files` pass must not forget which container projects
// exist); other keys are always kept.
func (p *pass) memoryOfPass(m map[string]string) map[string]string {
	out := map[string]string{}
	for k, v := range m {
		sub, _, _ := strings.Cut(k, ".")
		if slices.Contains(Subsystems, sub) && !slices.Contains(p.opts.subsystems(), sub) {
			continue
		}
		out[k] = v
	}
	return out
}

func mergeMemory(old, add map[string]string) map[string]string {
	m := maps.Clone(old)
	if m == nil {
		m = map[string]string{}
	}
	maps.Copy(m, add)
	return m
}

// ErrLocked is returned by Apply when another apply holds the host.
var ErrLocked = errors.New("another apply is running on this host")

// lockRoot takes an exclusive lock so that two applies (the daemon and a
// person) never interleave on one host.
func lockRoot(root string) (func(), error) {
	dir := filepath.Join(root, "/var/lib/homelab-agent")
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("locking: %w", err)
	}
	f, err := os.OpenFile(filepath.Join(dir, "apply.lock"), os.O_CREATE|os.O_RDWR, 0o600)
	if err != nil {
		return nil, fmt.Errorf("locking: %w", err)
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		f.Close()
		return nil, fmt.Errorf("locking: %w (%s is held)", ErrLocked, f.Name())
	}
	return func() { syscall.Flock(int(f.Fd()), syscall.LOCK_UN); f.Close() }, nil
}
