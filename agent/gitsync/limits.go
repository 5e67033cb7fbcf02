package gitsync

import (
	"fmt"
	"io"

	"github.com/go-git/go-git/v5"
	"github.com/go-git/go-git/v5/plumbing"
	"github.com/go-git/go-git/v5/plumbing/filemode"
	"github.com/go-git/go-git/v5/plumbing/object"

	"github.com/homelab-agent/homelab-agent/agent/bounded"
)

// Default limits on a commit's content, checked from the object headers
// before anything is checked out or read (Config overrides them).
const (
	// DefaultMaxBlob is the largest file a commit may hold.
	DefaultMaxBlob = 16 << 20
	// DefaultMaxCheckout is how much a commit's files may add up to.
	DefaultMaxCheckout = 128 << 20
	// DefaultMaxFiles is how many files a commit may hold.
	DefaultMaxFiles = 10000
)

// ContentError says that a commit is over one of the content limits; it
// is the commit's fault (the daemon marks the commit bad).
type ContentError struct {
	Commit string
	// File is the path that broke the limit.
	File string
	Msg  string
}

func (e *ContentError) Error() string {
	return fmt.Sprintf("commit %s: %s: %s", short(e.Commit), e.File, e.Msg)
}

func (s *Syncer) limits() (blob, total int64, files int) {
	return cmpOr(s.cfg.MaxBlob, DefaultMaxBlob), cmpOr(s.cfg.MaxCheckout, DefaultMaxCheckout), int(cmpOr(int64(s.cfg.MaxFiles), DefaultMaxFiles))
}

func cmpOr(v, def int64) int64 {
	if v > 0 {
		return v
	}
	return def
}

// walkFiles calls f for every file (regular, executable or link) of the
// commit's tree with its size, read from the object's header only.
func walkFiles(r *git.Repository, commit plumbing.Hash, f func(name string, e object.TreeEntry, size int64) error) error {
	c, err := r.CommitObject(commit)
	if err != nil {
		return fmt.Errorf("reading commit %s: %w", short(commit.String()), err)
	}
	t, err := c.Tree()
	if err != nil {
		return fmt.Errorf("reading tree of %s: %w", short(commit.String()), err)
	}
	w := object.NewTreeWalker(t, true, nil)
	defer w.Close()
	for {
		name, e, err := w.Next()
		if err == io.EOF {
			return nil
		}
		if err != nil {
			return fmt.Errorf("reading tree of %s: %w", short(commit.String()), err)
		}
		if !e.Mode.IsFile() {
			continue // folders, submodules
		}
		size, err := r.Storer.EncodedObjectSize(e.Hash)
		if err != nil {
			return fmt.Errorf("reading %s: %w", name, err)
		}
		if err := f(name, e, size); err != nil {
			return err
		}
	}
}

// checkContent refuses a commit whose files break the limits, naming
// the first file that does, before anything of it is written or read.
func (s *Syncer) checkContent(commit plumbing.Hash) error {
	maxBlob, maxTotal, maxFiles := s.limits()
	var total int64
	n := 0
	return walkFiles(s.repo, commit, func(name string, e object.TreeEntry, size int64) error {
		n++
		total += size
		switch {
		case size > maxBlob:
			return &ContentError{Commit: commit.String(), File: name,
				Msg: fmt.Sprintf("file of %d bytes is larger than the limit of %s on a file of the lab repo", size, bounded.Size(maxBlob))}
		case total > maxTotal:
			return &ContentError{Commit: commit.String(), File: name,
				Msg: fmt.Sprintf("with this file the commit's files add up to more than the limit of %s", bounded.Size(maxTotal))}
		case n > maxFiles:
			return &ContentError{Commit: commit.String(), File: name,
				Msg: fmt.Sprintf("the commit holds more than the limit of %d files", maxFiles)}
		}
		return nil
	})
}

// readAll reads every file of the commit within the limits, to prove the
// clone holds them; files past a limit are only checked to exist (a
// commit over the limits is refused by Checkout, not re-cloned for ever).
func readAll(r *git.Repository, commit plumbing.Hash, maxBlob, maxTotal int64) error {
	var total int64
	return walkFiles(r, commit, func(name string, e object.TreeEntry, size int64) error {
		if size > maxBlob || total+size > maxTotal || e.Mode == filemode.Submodule {
			return nil
		}
		total += size
		b, err := r.BlobObject(e.Hash)
		if err != nil {
			return fmt.Errorf("reading %s: %w", name, err)
		}
		rd, err := b.Reader()
		if err != nil {
			return fmt.Errorf("reading %s: %w", name, err)
		}
		defer rd.Close()
		if _, err := io.Copy(io.Discard, rd); err != nil {
			return fmt.Errorf("reading %s: %w", name, err)
		}
		return nil
	})
}
