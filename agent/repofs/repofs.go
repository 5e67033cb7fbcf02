// Package repofs reads files of the lab repo without ever leaving it:
// every read goes through an os.Root opened at the repo's top folder, so
// a committed symlink (or a ../ path) that leads outside the repo is
// refused by the kernel-checked walk, never followed to /etc/shadow or a
// host's secrets.env.
package repofs

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"

	"github.com/homelab-agent/homelab-agent/agent/bounded"
)

var (
	// ErrOutside is returned for a path that leads out of the repo (a
	// link to an absolute path or through "..").
	ErrOutside = errors.New("it leads out of the lab repo (a symbolic link or \"..\" pointing outside)")
	// ErrNotRegular is returned for a folder, device or socket.
	ErrNotRegular = errors.New("it is not a regular file")
)

// ReadFile reads rel (slash or OS separated, relative to repo) inside
// repo. Links inside the repo are followed; a link or path that leaves
// it is ErrOutside; a missing file wraps fs.ErrNotExist. Errors name rel,
// never what a link points at.
func ReadFile(repo, rel string) ([]byte, error) {
	root, err := os.OpenRoot(repo)
	if err != nil {
		return nil, fmt.Errorf("opening the lab repo: %w", err)
	}
	defer root.Close()
	name := filepath.Clean(filepath.FromSlash(rel))
	// Stat first: opening a FIFO would block.
	fi, err := root.Stat(name)
	if err != nil {
		return nil, classify(rel, err)
	}
	if !fi.Mode().IsRegular() {
		return nil, fmt.Errorf("%s: %w", rel, ErrNotRegular)
	}
	data, err := root.ReadFile(name)
	if err != nil {
		return nil, classify(rel, err)
	}
	return data, nil
}

// ReadFileLimit is ReadFile for a file of at most limit bytes: a larger
// one is a *bounded.TooLargeError naming it as name, found from its size
// before any of it is read, and never more than limit+1 bytes are read.
func ReadFileLimit(repo, rel, name string, limit int64) ([]byte, error) {
	root, err := os.OpenRoot(repo)
	if err != nil {
		return nil, fmt.Errorf("opening the lab repo: %w", err)
	}
	defer root.Close()
	clean := filepath.Clean(filepath.FromSlash(rel))
	fi, err := root.Stat(clean)
	if err != nil {
		return nil, classify(rel, err)
	}
	if !fi.Mode().IsRegular() {
		return nil, fmt.Errorf("%s: %w", rel, ErrNotRegular)
	}
	if fi.Size() > limit {
		return nil, &bounded.TooLargeError{Name: name, Size: fi.Size(), Limit: limit}
	}
	f, err := root.Open(clean)
	if err != nil {
		return nil, classify(rel, err)
	}
	defer f.Close()
	data, err := io.ReadAll(io.LimitReader(f, limit+1))
	if err != nil {
		return nil, fmt.Errorf("%s: %w", rel, err)
	}
	if int64(len(data)) > limit { // it grew since Stat
		return nil, &bounded.TooLargeError{Name: name, Size: int64(len(data)), Limit: limit}
	}
	return data, nil
}

// Size is a file's size inside the repo (links inside followed).
func Size(repo, rel string) (int64, error) {
	root, err := os.OpenRoot(repo)
	if err != nil {
		return 0, fmt.Errorf("opening the lab repo: %w", err)
	}
	defer root.Close()
	fi, err := root.Stat(filepath.Clean(filepath.FromSlash(rel)))
	if err != nil {
		return 0, classify(rel, err)
	}
	if !fi.Mode().IsRegular() {
		return 0, fmt.Errorf("%s: %w", rel, ErrNotRegular)
	}
	return fi.Size(), nil
}

// classify turns os.Root's errors into ones that say what happened in
// the repo's terms.
func classify(rel string, err error) error {
	if errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("%s: %w", rel, fs.ErrNotExist)
	}
	var pe *fs.PathError
	if errors.As(err, &pe) && pe.Err != nil && pe.Err.Error() == "path escapes from parent" {
		return fmt.Errorf("%s: %w", rel, ErrOutside)
	}
	return fmt.Errorf("%s: %w", rel, err)
}
