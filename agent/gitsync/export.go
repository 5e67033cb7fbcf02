package gitsync

import (
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"

	git "github.com/go-git/go-git/v5"
	"github.com/go-git/go-git/v5/plumbing"
	"github.com/go-git/go-git/v5/plumbing/filemode"
	"github.com/go-git/go-git/v5/plumbing/object"
)

// ExportDir is where Export keeps a commit's files for the commands run by
// hand on a guest, relative to the host root: lab-<commit>.
const ExportDir = "/var/lib/homelab-agent"

// Export writes commit's tree from the clone at cloneDir into
// <root>/var/lib/homelab-agent/lab-<commit>/ (once; later calls reuse it)
// and returns that folder. The daemon's work tree is never touched, so a
// command on a guest reads the last good commit while the daemon checks
// out another. Older exports are removed.
func Export(root, cloneDir, commit string) (string, error) {
	if len(commit) < 12 {
		return "", fmt.Errorf("exporting %q: not a commit hash", commit)
	}
	base := filepath.Join(root, ExportDir)
	dest := filepath.Join(base, "lab-"+commit)
	if fi, err := os.Stat(dest); err == nil && fi.IsDir() {
		return dest, nil
	}
	repo, err := git.PlainOpen(cloneDir)
	if err != nil {
		return "", fmt.Errorf("opening the agent's clone %s: %w", cloneDir, err)
	}
	c, err := repo.CommitObject(plumbing.NewHash(commit))
	if err != nil {
		return "", fmt.Errorf("reading commit %s: %w", short(commit), err)
	}
	tree, err := c.Tree()
	if err != nil {
		return "", err
	}
	tmp, err := os.MkdirTemp(base, ".lab-export-")
	if err != nil {
		return "", err
	}
	defer os.RemoveAll(tmp)
	err = tree.Files().ForEach(func(f *object.File) error {
		p := filepath.Join(tmp, filepath.FromSlash(f.Name))
		if !strings.HasPrefix(p, tmp+string(filepath.Separator)) {
			return fmt.Errorf("path %q leaves the repo", f.Name)
		}
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			return err
		}
		if f.Mode == filemode.Symlink {
			target, err := f.Contents()
			if err != nil {
				return err
			}
			return os.Symlink(target, p)
		}
		mode := os.FileMode(0o644)
		if f.Mode == filemode.Executable {
			mode = 0o755
		}
		r, err := f.Reader()
		if err != nil {
			return err
		}
		defer r.Close()
		w, err := os.OpenFile(p, os.O_WRONLY|os.O_CREATE|os.O_EXCL, mode)
		if err != nil {
			return err
		}
		if _, err := io.Copy(w, r); err != nil {
			w.Close()
			return err
		}
		return w.Close()
	})
	if err != nil {
		return "", fmt.Errorf("exporting commit %s: %w", short(commit), err)
	}
	if err := os.Rename(tmp, dest); err != nil && !errors.Is(err, os.ErrExist) {
		if _, serr := os.Stat(dest); serr != nil { // another command won the race
			return "", err
		}
	}
	old, _ := filepath.Glob(filepath.Join(base, "lab-*"))
	for _, o := range old {
		if o != dest {
			os.RemoveAll(o)
		}
	}
	return dest, nil
}
