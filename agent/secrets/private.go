package secrets

import (
	"fmt"
	"os"
	"syscall"
)

// CheckPrivate refuses a file that others could read or change: its mode
// must give nothing to group and others, and its owner must be root (or
// the user the agent runs as, for a --root tree owned by a developer).
// A file owned by another user could be rewritten by that user to feed
// the agent secrets or settings.
func CheckPrivate(path string) error {
	f, err := os.Open(path)
	if err != nil {
		return err
	}
	defer f.Close()
	return checkPrivate(f, path)
}

func checkPrivate(f *os.File, path string) error {
	fi, err := f.Stat()
	if err != nil {
		return err
	}
	if fi.Mode().Perm()&0o077 != 0 {
		return fmt.Errorf("%s is readable by others (mode %#o); run chmod 600 %s", path, fi.Mode().Perm(), path)
	}
	if st, ok := fi.Sys().(*syscall.Stat_t); ok && st.Uid != 0 && int(st.Uid) != os.Geteuid() {
		return fmt.Errorf("%s is owned by uid %d, not root; run chown root:root %s", path, st.Uid, path)
	}
	return nil
}
