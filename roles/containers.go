package roles

import (
	"context"
	"path/filepath"
	"slices"
	"strings"

	"github.com/homelab-agent/homelab-agent/agent/docker"
	"github.com/homelab-agent/homelab-agent/agent/lab"
)

// DataDir is where a service's data lives on the host's data disk.
func DataDir(service string) string { return "/srv/data/" + service }

// Containers returns the container resource of a role's compose project:
// the role's embedded compose file, or the host's compose: file from the
// lab repo when it names one (its folder's .env feeds interpolation).
// vars are the role's interpolation defaults; overlays are merged over
// the embedded file only.
func Containers(in Input, name, embeddedName string, embedded []byte, vars map[string]string, overlays ...docker.File) *docker.Project {
	src := docker.Source{Name: name, Vars: vars, DataDir: DataDir(name)}
	if h := in.Host; h.Compose != "" {
		src.Files = []docker.File{{Name: h.Compose, Content: h.ComposeData}}
		src.Dir = filepath.Join(in.Lab.Dir, filepath.Dir(filepath.Clean(h.Compose)))
		src.Repo = in.Lab.Dir
	} else {
		src.Files = append([]docker.File{{Name: embeddedName, Content: embedded}}, overlays...)
	}
	return &docker.Project{Source: src}
}

// AppContainers returns the container resource of an extra app from
// homelab.yaml's apps:, named after the app.
func AppContainers(l *lab.Lab, a *lab.App) *docker.Project {
	return &docker.Project{Source: docker.Source{
		Name:    a.Name,
		Files:   []docker.File{{Name: a.Compose, Content: a.ComposeData}},
		Dir:     filepath.Join(l.Dir, filepath.Dir(filepath.Clean(a.Compose))),
		Repo:    l.Dir,
		DataDir: DataDir(a.Name),
	}}
}

// PublicHost is the name a host's service is published under
// (<subdomain>.<domain>), or "" when it is not published.
func PublicHost(in Input) (host string, port int) {
	for _, s := range Services(in.Lab) {
		if s.Host == in.Host {
			return s.Subdomain + "." + in.Lab.Domain, s.Port
		}
	}
	return "", 0
}

// CheckContainers is the lab check of a role that runs containers: for
// each host with the role, an app may not take the role's project name,
// and the host's compose: override and its apps' compose files must parse
// (unsupported keys are reported with their file, line and key).
func CheckContainers(l *lab.Lab, r Role, project string, errs *lab.Errors) {
	ctx := context.Background()
	for _, h := range l.WithRole(r.Name()) {
		if h.Compose != "" {
			out, err := r.Build(Input{Lab: l, Host: h})
			if err == nil {
				for _, res := range out.Resources {
					if p, ok := res.(*docker.Project); ok {
						if err := p.Validate(ctx); err != nil {
							errs.At(h.ComposePos, "%v", err)
						}
					}
				}
			}
		}
		for _, a := range l.AppsOn(h.Name) {
			if a.Name == project {
				errs.At(a.NamePos, "app %q on host %s has the name of the host's %s role; rename the app", a.Name, h.Name, r.Name())
				continue
			}
			if err := AppContainers(l, a).Validate(ctx); err != nil {
				errs.At(a.ComposePos, "%v", err)
			}
		}
	}
}

// ProjectsMemory is the memory key under which a host remembers the
// compose projects its last pass ran.
const ProjectsMemory = "containers.projects"

// RemovedProjects returns the resource that removes the containers of
// projects the host ran on its last pass but no longer runs (an app taken
// out of homelab.yaml, a former role), or nil when there are none. A pass
// with nothing removed costs no engine call.
func RemovedProjects(in Input, now []string) *docker.Prune {
	var gone []string
	for _, p := range strings.Split(in.Memory[ProjectsMemory], ",") {
		if p != "" && !slices.Contains(now, p) {
			gone = append(gone, p)
		}
	}
	if len(gone) == 0 {
		return nil
	}
	return &docker.Prune{Projects: gone}
}
