package backup

import (
	"fmt"

	"github.com/homelab-agent/homelab-agent/roles"
)

// RestoreFixer is implemented by roles whose restored data needs a change
// before the service starts on it: state that the backup's own quiesce
// step left in the files (Nextcloud's 'maintenance' => true in
// config.php, written by `occ maintenance:mode --on` just before the
// snapshot). Restore and self-restore call it after the restored folder
// is in place and before the dumps are loaded and the service starts.
type RestoreFixer interface {
	// FixRestored edits the service's restored data folder (a host path).
	FixRestored(dataDir string) error
}

// fixRestored runs the service's role's RestoreFixer, if it has one.
func fixRestored(service, dataDir string) error {
	r, ok := roles.Lookup(service)
	if !ok {
		return nil
	}
	f, ok := r.(RestoreFixer)
	if !ok {
		return nil
	}
	if err := f.FixRestored(dataDir); err != nil {
		return fmt.Errorf("role %s: fixing the restored data: %w", service, err)
	}
	return nil
}
