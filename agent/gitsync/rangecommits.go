package gitsync

import (
	"errors"
	"fmt"

	"github.com/go-git/go-git/v5/plumbing"
	"github.com/go-git/go-git/v5/plumbing/object"
	"github.com/go-git/go-git/v5/plumbing/storer"
)

// maxRange bounds the commits Range returns; a longer range is an error.
const maxRange = 20000

// Range returns every commit reachable from to that is not reachable from
// from (git rev-list from..to), newest first, merges' other parents
// included. An empty from, or one the clone does not have (history
// rewritten), gives every ancestor of to.
func (s *Syncer) Range(from, to string) ([]*object.Commit, error) {
	if s.repo == nil {
		if err := s.open(); err != nil {
			return nil, err
		}
	}
	known := map[plumbing.Hash]bool{}
	if from != "" {
		fc, err := s.repo.CommitObject(plumbing.NewHash(from))
		switch {
		case errors.Is(err, plumbing.ErrObjectNotFound):
		case err != nil:
			return nil, fmt.Errorf("reading commit %s: %w", short(from), err)
		default:
			err := object.NewCommitPreorderIter(fc, nil, nil).ForEach(func(c *object.Commit) error {
				known[c.Hash] = true
				return nil
			})
			if err != nil {
				return nil, fmt.Errorf("reading the history of %s: %w", short(from), err)
			}
		}
	}
	tc, err := s.repo.CommitObject(plumbing.NewHash(to))
	if err != nil {
		return nil, fmt.Errorf("reading commit %s: %w", short(to), err)
	}
	var out []*object.Commit
	seen := map[plumbing.Hash]bool{}
	queue := []*object.Commit{tc}
	for len(queue) > 0 {
		c := queue[0]
		queue = queue[1:]
		if seen[c.Hash] || known[c.Hash] {
			continue
		}
		seen[c.Hash] = true
		out = append(out, c)
		if len(out) > maxRange {
			return nil, fmt.Errorf("more than %d commits between %s and %s", maxRange, short(from), short(to))
		}
		err := c.Parents().ForEach(func(p *object.Commit) error {
			queue = append(queue, p)
			return nil
		})
		if err != nil && !errors.Is(err, storer.ErrStop) {
			return nil, fmt.Errorf("reading the parents of %s: %w", short(c.Hash.String()), err)
		}
	}
	return out, nil
}
