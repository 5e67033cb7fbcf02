package agent

import (
	"context"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"github.com/homelab-agent/homelab-agent/agent/files"
	"github.com/homelab-agent/homelab-agent/agent/resource"
	"github.com/homelab-agent/homelab-agent/agent/state"
)

// Files that were on the host before the agent: the first time a pass
// manages a file path that already holds a file, that file is kept as
// <path>.homelab-agent-orig and the path is listed in state.json's
// originals; when the path leaves the lab repo the original is put back
// instead of the path being deleted. Pruning deletes only files the agent
// created.

// checkApplyKeeping is checkApply that first keeps the original of a file
// the agent has never managed, and says so in the change.
func (p *pass) checkApplyKeeping(ctx context.Context, r resource.Resource, hooks []string) (*resource.Change, error) {
	f, ok := r.(*files.File)
	if !ok || !p.firstTime(r.ID(), f.Path) {
		return p.checkApply(ctx, r, hooks)
	}
	keepAs := filepath.Base(f.Path) + files.OrigSuffix
	note := "the file that was there is kept as " + keepAs
	if !p.apply {
		if !exists(p.env.Path(f.Path)) {
			return p.checkApply(ctx, r, hooks)
		}
		ch, err := p.checkApply(ctx, r, hooks)
		return withNote(ch, err, r, "would keep the file that is there as "+keepAs, "update")
	}
	kept, err := files.KeepOriginal(p.env, f.Path)
	if err != nil {
		return nil, err
	}
	if kept {
		p.st.Originals = append(p.st.Originals, f.Path)
		slices.Sort(p.st.Originals)
	}
	// Saved before the write: after a crash, the next pass must neither
	// forget the original nor take the agent's own file for one.
	if p.st.Resources == nil {
		p.st.Resources = map[string]state.ResourceResult{}
	}
	p.st.Resources[r.ID()] = state.ResourceResult{Status: "changed", Summary: "first write", Changed: p.opts.now()}
	if err := p.st.Save(p.env.Root); err != nil {
		return nil, err
	}
	ch, err := p.checkApply(ctx, r, hooks)
	if !kept {
		return ch, err
	}
	return withNote(ch, err, r, note, "update")
}

// firstTime reports whether a file resource has never been managed: no
// result in state other than a failure, and no original kept.
func (p *pass) firstTime(id, path string) bool {
	if slices.Contains(p.st.Originals, path) {
		return false
	}
	old, had := p.st.Resources[id]
	return !had || old.Status == "failed" || old.Status == "skipped"
}

// forgetOriginal drops a pruned path from the kept originals.
func (p *pass) forgetOriginal(id string) {
	path, _ := strings.CutPrefix(id, "file:")
	if i := slices.Index(p.st.Originals, path); i >= 0 {
		p.st.Originals = slices.Delete(p.st.Originals, i, i+1)
		p.dirty = true
	}
}

// restores reports whether a pruned path gets its original back.
func (p *pass) restores(path string) bool { return slices.Contains(p.st.Originals, path) }

func withNote(ch *resource.Change, err error, r resource.Resource, note, action string) (*resource.Change, error) {
	if err != nil {
		return ch, err
	}
	if ch == nil {
		return &resource.Change{ID: r.ID(), Subsystem: r.Subsystem(), Action: action, Summary: note}, nil
	}
	ch.Summary += "; " + note
	return ch, nil
}

func exists(path string) bool {
	fi, err := os.Lstat(path)
	return err == nil && !fi.IsDir()
}
