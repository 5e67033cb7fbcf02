package gitsync

import (
	"sort"

	"github.com/go-git/go-git/v5/plumbing/object"
)

// ChangedFiles lists the paths that differ between two commits of the
// clone (added, modified, deleted or renamed), sorted: what a new head
// changed since the applied one, for the report's trigger.
func (s *Syncer) ChangedFiles(from, to string) ([]string, error) {
	a, err := s.Commit(from)
	if err != nil {
		return nil, err
	}
	b, err := s.Commit(to)
	if err != nil {
		return nil, err
	}
	ta, err := a.Tree()
	if err != nil {
		return nil, err
	}
	tb, err := b.Tree()
	if err != nil {
		return nil, err
	}
	changes, err := object.DiffTree(ta, tb)
	if err != nil {
		return nil, err
	}
	seen := map[string]bool{}
	var out []string
	for _, c := range changes {
		for _, name := range []string{c.From.Name, c.To.Name} {
			if name != "" && !seen[name] {
				seen[name] = true
				out = append(out, name)
			}
		}
	}
	sort.Strings(out)
	return out, nil
}
