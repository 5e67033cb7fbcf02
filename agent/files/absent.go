package files

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"

	"github.com/homelab-agent/homelab-agent/agent/lab"
	"github.com/homelab-agent/homelab-agent/agent/resource"
)

// Absent is a file the agent wrote in an earlier pass that the lab repo no
// longer asks for: the pass removes it, so that removing something from the
// repo removes it from the host. Nothing under lab.DataRoot is ever removed.
// When the path held a file before the agent first managed it (Restore),
// that file, kept as <path>.homelab-agent-orig, is put back instead.
type Absent struct {
	Path    string
	Restore bool
}

var _ resource.Resource = (*Absent)(nil)

// ID implements resource.Resource; it is the ID the file had when wanted.
func (a *Absent) ID() string { return "file:" + a.Path }

// Subsystem implements resource.Resource.
func (a *Absent) Subsystem() string { return Subsystem }

// CheckApply implements resource.Resource.
func (a *Absent) CheckApply(ctx context.Context, env *resource.Env, apply bool) (*resource.Change, error) {
	clean := filepath.Clean(a.Path)
	if clean == lab.DataRoot || strings.HasPrefix(clean, lab.DataRoot+"/") {
		return nil, nil // data is never deleted by the agent
	}
	path := env.Path(clean)
	if a.Restore {
		if _, err := os.Lstat(path + OrigSuffix); err == nil {
			ch := &resource.Change{ID: a.ID(), Subsystem: Subsystem, Action: "update",
				Summary: "restore the file that was there before homelab-agent (" + filepath.Base(clean) + OrigSuffix + ")"}
			if apply {
				if _, err := restoreOriginal(path); err != nil {
					return nil, fmt.Errorf("restoring %s: %w", a.Path, err)
				}
			}
			return ch, nil
		}
	}
	fi, err := os.Lstat(path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("inspecting %s: %w", a.Path, err)
	}
	if fi.IsDir() {
		return nil, nil
	}
	ch := &resource.Change{ID: a.ID(), Subsystem: Subsystem, Action: "delete", Summary: "delete (no longer in the lab repo)"}
	if apply {
		if err := os.Remove(path); err != nil {
			return nil, fmt.Errorf("removing %s: %w", a.Path, err)
		}
		if err := syncDir(filepath.Dir(path)); err != nil {
			return nil, err
		}
	}
	return ch, nil
}
