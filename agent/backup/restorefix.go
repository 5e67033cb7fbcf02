package backup

import "fmt"

// RestoreFixer is declared (Service.Fixer) by services whose restored data needs a change
// before the service starts on it: state that the backup's own quiesce
// step left in the files (Nextcloud's 'maintenance' => true in
// config.php, written by `occ maintenance:mode --on` just before the
// snapshot). Restore and self-restore call it after the restored folder
// is in place and before the dumps are loaded and the service starts.
type RestoreFixer interface {
	// FixRestored edits the service's restored data folder (a host path).
	FixRestored(dataDir string) error
}

// fixRestored runs the service's declared RestoreFixer, if it has one.
func fixRestored(svc Service, dataDir string) error {
	if svc.Fixer == nil {
		return nil
	}
	if err := svc.Fixer.FixRestored(dataDir); err != nil {
		return fmt.Errorf("%s: fixing the restored data: %w", svc.Name, err)
	}
	return nil
}
