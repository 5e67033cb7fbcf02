package nextcloud

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"syscall"

	"github.com/google/renameio/v2"

	"github.com/homelab-agent/homelab-agent/agent/backup"
)

var _ backup.RestoreFixer = Role{}

// maintenanceOn matches the line `occ maintenance:mode --on` leaves in config.php.
var maintenanceOn = regexp.MustCompile(`(?m)^(\s*'maintenance'\s*=>\s*)true(\s*,)`)

// FixRestored implements backup.RestoreFixer: a snapshot is taken while
// Quiesce holds Nextcloud in maintenance mode, so the restored config.php
// says 'maintenance' => true and Nextcloud would stay closed. This turns it
// off in the file (the containers are not running yet), keeping the
// file's mode and owner. A folder without config.php is left alone.
func (Role) FixRestored(dataDir string) error {
	path := filepath.Join(dataDir, "html", "config", "config.php")
	fi, err := os.Stat(path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		return err
	}
	data, err := os.ReadFile(path)
	if err != nil {
		return err
	}
	if !maintenanceOn.Match(data) {
		return nil
	}
	data = maintenanceOn.ReplaceAll(data, []byte("${1}false${2}"))
	t, err := renameio.NewPendingFile(path, renameio.WithStaticPermissions(fi.Mode().Perm()))
	if err != nil {
		return fmt.Errorf("turning maintenance mode off in %s: %w", path, err)
	}
	defer t.Cleanup()
	if _, err := t.Write(data); err != nil {
		return fmt.Errorf("turning maintenance mode off in %s: %w", path, err)
	}
	if st, ok := fi.Sys().(*syscall.Stat_t); ok {
		if err := t.Chown(int(st.Uid), int(st.Gid)); err != nil {
			return fmt.Errorf("turning maintenance mode off in %s: %w", path, err)
		}
	}
	if err := t.CloseAtomicallyReplace(); err != nil {
		return fmt.Errorf("turning maintenance mode off in %s: %w", path, err)
	}
	return nil
}
