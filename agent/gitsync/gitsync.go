// Package gitsync keeps a local clone of the lab repo in step with its
// server using go-git: it clones once, then on every poll lists the
// remote's refs (one cheap round trip) and fetches only when the branch
// moved. It refuses non-fast-forward updates unless told otherwise,
// re-clones a clone that is corrupt or was left half-written, checks out
// any commit for the engine to load, and verifies commit signatures
// (verify.go).
package gitsync

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"

	"github.com/go-git/go-git/v5"
	"github.com/go-git/go-git/v5/config"
	"github.com/go-git/go-git/v5/plumbing"
	"github.com/go-git/go-git/v5/plumbing/object"
	"github.com/go-git/go-git/v5/plumbing/transport"
)

// Dir is the clone's host path (under the agent's root).
const Dir = "/var/lib/homelab-agent/repo"

// fetchedRef holds what the last fetch brought, accepted or not; the
// remote-tracking ref holds the last accepted head.
const fetchedRef = plumbing.ReferenceName("refs/homelab-agent/fetched")

// Config says what to keep in sync and where.
type Config struct {
	// URL is the repo: https://, ssh://, user@host:path, or a local path.
	URL string
	// Branch is followed (default "main").
	Branch string
	// Dir is the local clone's folder.
	Dir  string
	Auth Auth
	// AllowForcePush accepts a head that does not descend from the last
	// accepted one.
	AllowForcePush bool
	// Log receives re-clone notices; nil discards.
	Log *slog.Logger
	// MaxBlob, MaxCheckout and MaxFiles limit a commit's content: the
	// largest file, the files' total size and their number (0: the
	// Default… limits). Checkout refuses a commit over one.
	MaxBlob, MaxCheckout int64
	MaxFiles             int
}

// Result is the outcome of one Sync.
type Result struct {
	// Head is the accepted head of the branch.
	Head string
	// Remote is the branch's head on the server (differs from Head when a
	// force-push was refused).
	Remote string
	// Fetched says whether objects were transferred (clone or fetch).
	Fetched bool
	// Cloned says whether the clone was (re)made.
	Cloned bool
	// Forced says whether a non-fast-forward was accepted.
	Forced bool
}

// ForcePushError is returned when the branch moved to a commit that does
// not descend from the last accepted head.
type ForcePushError struct {
	From, To string
}

func (e *ForcePushError) Error() string {
	return fmt.Sprintf("refusing non-fast-forward update %s -> %s (force-push); set allow_force_push: true to accept it", short(e.From), short(e.To))
}

// Syncer keeps one clone in step. It is not safe for concurrent use.
type Syncer struct {
	cfg  Config
	auth transport.AuthMethod
	repo *git.Repository
	// kept lists refs over one SSH connection kept between polls (SSH
	// repos only; keptssh.go).
	kept *keptSSH
	// fetchFails counts fetches that failed in a row while the ref listing
	// worked: the clone may be damaged where open's check does not look.
	fetchFails int
}

// maxFetchFailures is how many failed fetches in a row (with the server
// answering ref listings) make the clone be made afresh.
const maxFetchFailures = 3

// New checks the configuration and builds the auth method; it touches
// neither the network nor the disk.
func New(cfg Config) (*Syncer, error) {
	if cfg.URL == "" {
		return nil, errors.New("gitsync: no repo configured")
	}
	if cfg.Branch == "" {
		cfg.Branch = "main"
	}
	if cfg.Log == nil {
		cfg.Log = slog.New(slog.DiscardHandler)
	}
	url, auth, err := prepare(cfg.URL, cfg.Auth)
	if err != nil {
		return nil, err
	}
	cfg.URL = url
	s := &Syncer{cfg: cfg, auth: auth}
	if KindOf(cfg.URL) == KindSSH {
		if s.kept, err = newKeptSSH(cfg.URL, auth); err != nil {
			return nil, err
		}
	}
	return s, nil
}

func (s *Syncer) branchRef() plumbing.ReferenceName {
	return plumbing.NewBranchReferenceName(s.cfg.Branch)
}

func (s *Syncer) acceptedRef() plumbing.ReferenceName {
	return plumbing.NewRemoteReferenceName("origin", s.cfg.Branch)
}

// Sync brings the clone up to date: clone when there is no usable clone,
// else list the remote's refs and fetch only if the branch moved.
func (s *Syncer) Sync(ctx context.Context) (Result, error) {
	var res Result
	if s.repo == nil || s.fetchFails >= maxFetchFailures {
		err := fmt.Errorf("%d fetches failed in a row", s.fetchFails)
		if s.fetchFails < maxFetchFailures {
			err = s.open()
		}
		if err != nil {
			if !errors.Is(err, errNoClone) {
				s.cfg.Log.Warn("local clone is unusable; cloning again", "dir", s.cfg.Dir, "reason", err)
			}
			if err := s.clone(ctx); err != nil {
				return res, err
			}
			s.fetchFails = 0
			res.Cloned, res.Fetched = true, true
		}
	}
	remote, err := s.listHead(ctx)
	if err != nil {
		return res, err
	}
	res.Remote = remote.String()
	fetched, _ := s.repo.Reference(fetchedRef, true)
	if fetched == nil || fetched.Hash() != remote {
		spec := config.RefSpec("+" + s.branchRef().String() + ":" + fetchedRef.String())
		err := s.repo.FetchContext(ctx, &git.FetchOptions{RemoteName: "origin", RefSpecs: []config.RefSpec{spec},
			Auth: s.auth, Tags: git.NoTags})
		if err != nil && !errors.Is(err, git.NoErrAlreadyUpToDate) {
			s.repo = nil // re-open (and re-check) next time
			if ctx.Err() == nil {
				s.fetchFails++
			}
			return res, fmt.Errorf("fetching %s: %w", Redact(s.cfg.URL), err)
		}
		s.fetchFails = 0
		res.Fetched = true
		if err := s.setRef(fetchedRef, remote); err != nil {
			return res, err
		}
	}
	accepted, err := s.repo.Reference(s.acceptedRef(), true)
	if err != nil {
		return res, fmt.Errorf("reading accepted head: %w", err)
	}
	res.Head = accepted.Hash().String()
	if accepted.Hash() == remote {
		return res, nil
	}
	ff, err := s.isAncestor(accepted.Hash(), remote)
	if err != nil {
		return res, err
	}
	if !ff {
		if !s.cfg.AllowForcePush {
			return res, &ForcePushError{From: accepted.Hash().String(), To: remote.String()}
		}
		res.Forced = true
	}
	if err := s.setRef(s.acceptedRef(), remote); err != nil {
		return res, err
	}
	res.Head = remote.String()
	return res, nil
}

// listHead asks the server for the branch's head: one ref advertisement,
// no object transfer.
func (s *Syncer) listHead(ctx context.Context) (plumbing.Hash, error) {
	if s.kept != nil {
		refs, err := s.kept.listRefs(ctx)
		if err != nil {
			return plumbing.ZeroHash, fmt.Errorf("listing refs of %s: %w", Redact(s.cfg.URL), err)
		}
		if h, ok := refs[s.branchRef()]; ok {
			return h, nil
		}
		return plumbing.ZeroHash, fmt.Errorf("listing refs of %s: branch %q not found", Redact(s.cfg.URL), s.cfg.Branch)
	}
	rem, err := s.repo.Remote("origin")
	if err != nil {
		return plumbing.ZeroHash, fmt.Errorf("reading remote: %w", err)
	}
	refs, err := rem.ListContext(ctx, &git.ListOptions{Auth: s.auth})
	if err != nil {
		return plumbing.ZeroHash, fmt.Errorf("listing refs of %s: %w", Redact(s.cfg.URL), err)
	}
	for _, r := range refs {
		if r.Name() == s.branchRef() {
			return r.Hash(), nil
		}
	}
	return plumbing.ZeroHash, fmt.Errorf("listing refs of %s: branch %q not found", Redact(s.cfg.URL), s.cfg.Branch)
}

func (s *Syncer) setRef(name plumbing.ReferenceName, h plumbing.Hash) error {
	if err := s.repo.Storer.SetReference(plumbing.NewHashReference(name, h)); err != nil {
		return fmt.Errorf("updating %s: %w", name, err)
	}
	return nil
}

// isAncestor reports whether old is new or one of its ancestors.
func (s *Syncer) isAncestor(old, new plumbing.Hash) (bool, error) {
	if old == new {
		return true, nil
	}
	oc, err := s.repo.CommitObject(old)
	if err != nil {
		return false, fmt.Errorf("reading commit %s: %w", short(old.String()), err)
	}
	nc, err := s.repo.CommitObject(new)
	if err != nil {
		return false, fmt.Errorf("reading commit %s: %w", short(new.String()), err)
	}
	return oc.IsAncestor(nc)
}

var errNoClone = errors.New("no clone yet")

// open opens the clone and checks that the accepted head's commit and
// every file of its tree can be read: a clone that fails is re-made.
func (s *Syncer) open() error {
	if _, err := os.Stat(s.cfg.Dir); errors.Is(err, os.ErrNotExist) {
		return errNoClone
	}
	r, err := git.PlainOpen(s.cfg.Dir)
	if err != nil {
		return err
	}
	if err := s.check(r); err != nil {
		return err
	}
	if rem, err := r.Remote("origin"); err != nil || len(rem.Config().URLs) == 0 || rem.Config().URLs[0] != s.cfg.URL {
		return fmt.Errorf("clone is of another repo")
	}
	s.repo = r
	return nil
}

func (s *Syncer) check(r *git.Repository) error {
	ref, err := r.Reference(s.acceptedRef(), true)
	if err != nil {
		return fmt.Errorf("reading %s: %w", s.acceptedRef(), err)
	}
	maxBlob, maxTotal, _ := s.limits()
	return readAll(r, ref.Hash(), maxBlob, maxTotal)
}

// clone makes a fresh clone next to Dir and renames it into place, so
// that a crash mid-clone never leaves a half-written clone at Dir.
func (s *Syncer) clone(ctx context.Context) error {
	tmp := s.cfg.Dir + ".tmp"
	if err := os.RemoveAll(tmp); err != nil {
		return fmt.Errorf("cloning: %w", err)
	}
	if err := os.MkdirAll(filepath.Dir(s.cfg.Dir), 0o700); err != nil {
		return fmt.Errorf("cloning: %w", err)
	}
	r, err := git.PlainCloneContext(ctx, tmp, false, &git.CloneOptions{URL: s.cfg.URL, Auth: s.auth,
		ReferenceName: s.branchRef(), SingleBranch: true, NoCheckout: true, Tags: git.NoTags})
	if err != nil {
		os.RemoveAll(tmp)
		return fmt.Errorf("cloning %s: %w", Redact(s.cfg.URL), err)
	}
	ref, err := r.Reference(s.acceptedRef(), true)
	if err != nil {
		return fmt.Errorf("cloning %s: %w", Redact(s.cfg.URL), err)
	}
	if err := r.Storer.SetReference(plumbing.NewHashReference(fetchedRef, ref.Hash())); err != nil {
		return fmt.Errorf("cloning: %w", err)
	}
	if err := os.RemoveAll(s.cfg.Dir); err != nil {
		return fmt.Errorf("replacing the old clone: %w", err)
	}
	if err := os.Rename(tmp, s.cfg.Dir); err != nil {
		return fmt.Errorf("cloning: %w", err)
	}
	if err := syncDir(filepath.Dir(s.cfg.Dir)); err != nil {
		return err
	}
	r, err = git.PlainOpen(s.cfg.Dir)
	if err != nil {
		return fmt.Errorf("opening the new clone: %w", err)
	}
	s.repo = r
	return nil
}

func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	d.Sync()
	return nil
}

// Checkout makes the clone's work tree exactly the commit's tree (tracked
// files replaced, untracked ones removed) and returns the folder. A commit
// over the content limits is refused with a *ContentError naming the file.
func (s *Syncer) Checkout(commit string) (string, error) {
	if s.repo == nil {
		if err := s.open(); err != nil {
			return "", fmt.Errorf("checking out %s: %w", short(commit), err)
		}
	}
	if err := s.checkContent(plumbing.NewHash(commit)); err != nil {
		var ce *ContentError
		if !errors.As(err, &ce) {
			s.repo = nil
			err = fmt.Errorf("checking out %s: %w", short(commit), err)
		}
		return "", err
	}
	wt, err := s.repo.Worktree()
	if err != nil {
		return "", fmt.Errorf("checking out %s: %w", short(commit), err)
	}
	if err := wt.Checkout(&git.CheckoutOptions{Hash: plumbing.NewHash(commit), Force: true}); err != nil {
		s.repo = nil
		return "", fmt.Errorf("checking out %s: %w", short(commit), err)
	}
	if err := wt.Clean(&git.CleanOptions{Dir: true}); err != nil {
		return "", fmt.Errorf("checking out %s: %w", short(commit), err)
	}
	return s.cfg.Dir, nil
}

// IsAncestor reports whether commit old is new or one of its ancestors;
// an old commit the clone does not have is no ancestor.
func (s *Syncer) IsAncestor(old, new string) (bool, error) {
	if s.repo == nil {
		if err := s.open(); err != nil {
			return false, err
		}
	}
	if _, err := s.repo.CommitObject(plumbing.NewHash(old)); errors.Is(err, plumbing.ErrObjectNotFound) {
		return false, nil
	}
	return s.isAncestor(plumbing.NewHash(old), plumbing.NewHash(new))
}

// Commit returns a commit of the clone.
func (s *Syncer) Commit(hash string) (*object.Commit, error) {
	if s.repo == nil {
		if err := s.open(); err != nil {
			return nil, err
		}
	}
	c, err := s.repo.CommitObject(plumbing.NewHash(hash))
	if err != nil {
		return nil, fmt.Errorf("reading commit %s: %w", short(hash), err)
	}
	return c, nil
}

func short(h string) string {
	if len(h) > 12 {
		return h[:12]
	}
	return h
}
