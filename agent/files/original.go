package files

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"syscall"

	"github.com/homelab-agent/homelab-agent/agent/resource"
)

// OrigSuffix names the copy of a file that was on the host before the
// agent first managed its path: <path>.homelab-agent-orig.
const OrigSuffix = ".homelab-agent-orig"

// KeepOriginal copies what is at a host path the agent is about to manage
// for the first time to <path>.homelab-agent-orig (content, mode, owner;
// a symbolic link as a link), so that it can be put back when the path
// leaves the lab repo. It reports whether an original is kept: false when
// nothing (or a folder) is at path. An original already kept is never
// overwritten, so a pass cut short and repeated keeps the true original.
func KeepOriginal(env *resource.Env, hostPath string) (bool, error) {
	path := env.Path(filepath.Clean(hostPath))
	orig := path + OrigSuffix
	if _, err := os.Lstat(orig); err == nil {
		return true, nil
	}
	fi, err := os.Lstat(path)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return false, nil
	case err != nil:
		return false, fmt.Errorf("inspecting %s: %w", hostPath, err)
	case fi.IsDir():
		return false, nil
	case fi.Mode()&fs.ModeSymlink != 0:
		target, err := os.Readlink(path)
		if err != nil {
			return false, fmt.Errorf("keeping the original %s: %w", hostPath, err)
		}
		if err := os.Symlink(target, orig); err != nil {
			return false, fmt.Errorf("keeping the original %s: %w", hostPath, err)
		}
		return true, syncDir(filepath.Dir(path))
	case !fi.Mode().IsRegular():
		return false, nil // a device or socket is not replaced as content
	}
	data, err := os.ReadFile(path)
	if err != nil {
		return false, fmt.Errorf("keeping the original %s: %w", hostPath, err)
	}
	uid, gid := -1, -1
	if st, ok := fi.Sys().(*syscall.Stat_t); ok && os.Geteuid() == 0 {
		uid, gid = int(st.Uid), int(st.Gid)
	}
	if err := write(orig, data, fi.Mode().Perm(), uid, gid); err != nil {
		return false, fmt.Errorf("keeping the original %s: %w", hostPath, err)
	}
	return true, nil
}

// restoreOriginal puts <path>.homelab-agent-orig back at path (one
// rename) and reports whether there was one.
func restoreOriginal(path string) (bool, error) {
	orig := path + OrigSuffix
	if _, err := os.Lstat(orig); errors.Is(err, fs.ErrNotExist) {
		return false, nil
	} else if err != nil {
		return false, err
	}
	if err := os.Rename(orig, path); err != nil {
		return false, err
	}
	return true, syncDir(filepath.Dir(path))
}
