package docker

import (
	"path/filepath"

	"github.com/homelab-agent/homelab-agent/agent/bounded"
	"github.com/homelab-agent/homelab-agent/agent/repofs"
)

// readRepo reads rel (relative to Dir) inside the lab repo: through an
// os.Root at Repo (at Dir when Repo is unset), so a link that leads out of
// the repo is refused (repofs.ErrOutside), never followed.
func (s *Source) readRepo(rel, name string) ([]byte, error) {
	top := s.Repo
	if top == "" {
		top = s.Dir
	}
	inRepo, err := filepath.Rel(top, filepath.Join(s.Dir, rel))
	if err != nil {
		return nil, err
	}
	return repofs.ReadFileLimit(top, inRepo, name, bounded.RepoFile)
}
