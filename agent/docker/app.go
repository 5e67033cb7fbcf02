package docker

import (
	"path/filepath"

	"github.com/homelab-agent/homelab-agent/agent/lab"
)

// AppProject returns the container resource of an extra app from
// homelab.yaml's apps:, named after the app; dir is the lab repo's folder.
func AppProject(dir string, a *lab.App) *Project {
	return &Project{Source: Source{
		Name:    a.Name,
		Files:   []File{{Name: a.Compose, Content: a.ComposeData}},
		Dir:     filepath.Join(dir, filepath.Dir(filepath.Clean(a.Compose))),
		Repo:    dir,
		DataDir: lab.DataDir(a.Name),
	}, OwnUpdates: a.Updates}
}
