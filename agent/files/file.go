// Package files owns the file resource: content, mode and owner of one
// host file, compared byte for byte and written atomically (temp file,
// fsync, rename, fsync of the folder) only when something differs.
package files

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"unicode/utf8"

	"github.com/aymanbagabas/go-udiff"
	"github.com/google/renameio/v2"

	"github.com/homelab-agent/homelab-agent/agent/resource"
	"github.com/homelab-agent/homelab-agent/agent/secrets"
)

// Subsystem is the name --only uses for files.
const Subsystem = "files"

// File is the desired state of one host file.
type File struct {
	// Path is the absolute path on the host.
	Path string
	// Content is the file's bytes; ${secret:NAME} references are resolved
	// when the file is checked, so rendered content never holds a value.
	Content []byte
	// Mode is the permission bits (0644 when zero).
	Mode fs.FileMode
	// Owner and Group are user and group names or numeric IDs ("" keeps root).
	Owner, Group string
}

var _ resource.Resource = (*File)(nil)

// ID implements resource.Resource.
func (f *File) ID() string { return "file:" + f.Path }

// Subsystem implements resource.Resource.
func (f *File) Subsystem() string { return Subsystem }

func (f *File) mode() fs.FileMode {
	if f.Mode == 0 {
		return 0o644
	}
	return f.Mode.Perm()
}

// CheckApply implements resource.Resource: content, then mode, then owner.
func (f *File) CheckApply(ctx context.Context, env *resource.Env, apply bool) (*resource.Change, error) {
	want, err := env.Secrets.Expand(string(f.Content))
	if err != nil {
		return nil, fmt.Errorf("%s: %w", f.Path, err)
	}
	path := env.Path(f.Path)
	uid, gid := -1, -1
	if env.ManageOwner {
		if uid, gid, err = lookupOwner(env.Root, f.Owner, f.Group); err != nil {
			return nil, fmt.Errorf("%s: %w", f.Path, err)
		}
	}
	fi, err := os.Lstat(path)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		ch := &resource.Change{ID: f.ID(), Subsystem: Subsystem, Action: "create",
			Summary: fmt.Sprintf("create (mode %#o%s)", f.mode(), ownerNote(f, env)),
			Diff:    f.diff(env, "", false)}
		if apply {
			if err := write(path, []byte(want), f.mode(), uid, gid); err != nil {
				return nil, err
			}
		}
		return ch, nil
	case err != nil:
		return nil, fmt.Errorf("inspecting %s: %w", f.Path, err)
	case fi.IsDir():
		return nil, fmt.Errorf("%s is a directory; refusing to replace it with a file", f.Path)
	}

	var old []byte
	if fi.Mode().IsRegular() {
		if old, err = os.ReadFile(path); err != nil {
			return nil, fmt.Errorf("reading %s: %w", f.Path, err)
		}
	}
	var what []string
	contentDiffers := !fi.Mode().IsRegular() || !bytes.Equal(old, []byte(want))
	if contentDiffers {
		what = append(what, "content")
		if !fi.Mode().IsRegular() {
			what[0] = "replace " + fi.Mode().Type().String() + " with a regular file"
		}
	}
	modeDiffers := fi.Mode().IsRegular() && fi.Mode().Perm() != f.mode()
	if modeDiffers {
		what = append(what, fmt.Sprintf("mode %#o -> %#o", fi.Mode().Perm(), f.mode()))
	}
	ownerDiffers := false
	if st, ok := fi.Sys().(*syscall.Stat_t); ok && env.ManageOwner && fi.Mode().IsRegular() {
		if (uid >= 0 && int(st.Uid) != uid) || (gid >= 0 && int(st.Gid) != gid) {
			ownerDiffers = true
			what = append(what, fmt.Sprintf("owner %d:%d -> %d:%d", st.Uid, st.Gid, uid, gid))
		}
	}
	if len(what) == 0 {
		return nil, nil
	}
	ch := &resource.Change{ID: f.ID(), Subsystem: Subsystem, Action: "update", Summary: strings.Join(what, ", ")}
	if contentDiffers {
		ch.Diff = f.diff(env, string(old), true)
	}
	if !apply {
		return ch, nil
	}
	if contentDiffers {
		return ch, write(path, []byte(want), f.mode(), uid, gid)
	}
	if modeDiffers {
		if err := os.Chmod(path, f.mode()); err != nil {
			return nil, fmt.Errorf("setting mode of %s: %w", f.Path, err)
		}
	}
	if ownerDiffers {
		if err := os.Lchown(path, uid, gid); err != nil {
			return nil, fmt.Errorf("setting owner of %s: %w", f.Path, err)
		}
	}
	return ch, nil
}

func ownerNote(f *File, env *resource.Env) string {
	if !env.ManageOwner || (f.Owner == "" && f.Group == "") {
		return ""
	}
	return ", owner " + orRoot(f.Owner) + ":" + orRoot(f.Group)
}

func orRoot(s string) string {
	if s == "" {
		return "root"
	}
	return s
}

// write replaces path atomically: temp file in the same folder, mode and
// owner set on the temp file, fsync, rename, fsync of the folder.
func write(path string, data []byte, mode fs.FileMode, uid, gid int) error {
	dir := filepath.Dir(path)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return fmt.Errorf("creating %s: %w", dir, err)
	}
	removeStaleTemps(path)
	t, err := renameio.NewPendingFile(path, renameio.WithStaticPermissions(mode))
	if err != nil {
		return fmt.Errorf("writing %s: %w", path, err)
	}
	defer t.Cleanup()
	if _, err := t.Write(data); err != nil {
		return fmt.Errorf("writing %s: %w", path, err)
	}
	if uid >= 0 || gid >= 0 {
		if err := t.Chown(uid, gid); err != nil {
			return fmt.Errorf("setting owner of %s: %w", path, err)
		}
	}
	if err := t.CloseAtomicallyReplace(); err != nil {
		return fmt.Errorf("writing %s: %w", path, err)
	}
	return syncDir(dir)
}

// removeStaleTemps deletes temp files an earlier write of path left behind
// when the agent was killed between creating and renaming them
// (".<name><digits>", renameio's naming). Applies never overlap, so no
// other writer owns them.
func removeStaleTemps(path string) {
	prefix := "." + filepath.Base(path)
	matches, _ := filepath.Glob(filepath.Join(filepath.Dir(path), "."+globEscape(filepath.Base(path))+"*"))
	for _, m := range matches {
		suffix := strings.TrimPrefix(filepath.Base(m), prefix)
		if suffix != "" && strings.Trim(suffix, "0123456789") == "" {
			if fi, err := os.Lstat(m); err == nil && fi.Mode().IsRegular() {
				os.Remove(m)
			}
		}
	}
}

func globEscape(s string) string {
	r := strings.NewReplacer(`*`, `\*`, `?`, `\?`, `[`, `\[`, `\`, `\\`)
	return r.Replace(s)
}

func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return fmt.Errorf("syncing %s: %w", dir, err)
	}
	defer d.Close()
	if err := d.Sync(); err != nil && !errors.Is(err, syscall.EINVAL) {
		return fmt.Errorf("syncing %s: %w", dir, err)
	}
	return nil
}

// diff is the content diff shown in plans and reports: secret lines are
// hidden by position (secretdiff.go), then any known value left is
// redacted.
func (f *File) diff(env *resource.Env, old string, existed bool) string {
	d, err := diffWithSecrets(f.Path, old, string(f.Content), env.Secrets, existed)
	if err != nil {
		return "" // Expand succeeded before: cannot happen
	}
	return env.Secrets.Redact(d)
}

// unified returns a unified diff of a file's old and new content.
func unified(path, old, new string, existed bool) string {
	if !utf8.ValidString(old) || !utf8.ValidString(new) {
		return fmt.Sprintf("Binary files differ (%d -> %d bytes)\n", len(old), len(new))
	}
	from := "a" + path
	if !existed {
		from = "/dev/null"
	}
	return udiff.Unified(from, "b"+path, old, new)
}

// SecretNames implements resource.SecretUser.
func (f *File) SecretNames() []string { return secrets.Names(string(f.Content)) }

var _ resource.SecretUser = (*File)(nil)

// Render implements resource.Renderer.
func (f *File) Render() []resource.Rendered {
	return []resource.Rendered{{Path: f.Path, Content: f.Content, Mode: f.mode()}}
}

var _ resource.Renderer = (*File)(nil)
