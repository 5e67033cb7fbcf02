package roles

import (
	"path/filepath"

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

// CheckAppNames reports apps on hosts with the role that would share the
// role's compose project name (and so its containers).
func CheckAppNames(l *lab.Lab, role, project string, errs *lab.Errors) {
	for _, h := range l.WithRole(role) {
		for _, a := range l.AppsOn(h.Name) {
			if a.Name == project {
				errs.At(a.NamePos, "app %q on host %s has the name of the host's %s role; rename the app", a.Name, h.Name, role)
			}
		}
	}
}
