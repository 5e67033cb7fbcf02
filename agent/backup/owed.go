package backup

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/google/renameio/v2"
)

// OwedDir holds, per service, the snapshot whose database dumps a
// self-restore put the files of in place but has not loaded yet
// (relative to the host root). While a service's file is there, its
// restore:<service> resource loads the dumps before the service starts,
// pass after pass, so a crash or a failed load never lets the service
// start on restored files without their database.
const OwedDir = "/var/lib/homelab-agent/restore-owed"

func owedPath(root, svc string) string { return filepath.Join(root, OwedDir, svc) }

// owe records that the dumps of snapshot id are still to be loaded.
func owe(root, svc, id string) error {
	p := owedPath(root, svc)
	if err := os.MkdirAll(filepath.Dir(p), 0o700); err != nil {
		return fmt.Errorf("recording the dumps owed to %s: %w", svc, err)
	}
	if err := renameio.WriteFile(p, []byte(id+"\n"), 0o600); err != nil {
		return fmt.Errorf("recording the dumps owed to %s: %w", svc, err)
	}
	return nil
}

// paid removes the record: the dumps are loaded (or a person restored).
func paid(root, svc string) error {
	if err := os.Remove(owedPath(root, svc)); err != nil && !errors.Is(err, os.ErrNotExist) {
		return fmt.Errorf("clearing the dumps owed to %s: %w", svc, err)
	}
	return nil
}

// owed returns the snapshot ID whose dumps are owed to svc, "" for none.
func owed(root, svc string) (string, error) {
	b, err := os.ReadFile(owedPath(root, svc))
	if errors.Is(err, os.ErrNotExist) {
		return "", nil
	}
	if err != nil {
		return "", err
	}
	return strings.TrimSpace(string(b)), nil
}

// LoadOwed loads the dumps a self-restore left owed to the job's service
// (see OwedDir), never forced: into a database that holds data it is
// refused (KindNotEmpty) and stays owed. It reports whether any was owed.
func (r *Runner) LoadOwed(ctx context.Context, j Job) (bool, *RestoreResult, error) {
	id, err := owed(r.Config.Root, j.Service)
	if err != nil || id == "" {
		return false, nil, err
	}
	op := "restore " + j.Service
	unlock, err := r.exclusive(ctx)
	if err != nil {
		return true, nil, err
	}
	defer unlock()
	repo, err := r.open(ctx)
	if err != nil {
		return true, nil, err
	}
	defer repo.Close()
	plan, err := r.planRestore(ctx, repo, j.Service, id)
	if err != nil {
		return true, nil, err
	}
	res := &RestoreResult{Plan: plan}
	warnings, lerr := r.loadDumps(ctx, repo, j, plan.Dumps, false)
	res.Warnings = warnings
	if lerr != nil {
		lerr.Msg += fmt.Sprintf("; the files of snapshot %s are in place and %s stays stopped until its dumps load", plan.Snapshot.ShortID, j.Service)
		return true, res, lerr
	}
	if err := paid(r.Config.Root, j.Service); err != nil {
		return true, res, &Error{Op: op, Code: -1, Kind: KindFailed, Msg: err.Error()}
	}
	return true, res, nil
}
