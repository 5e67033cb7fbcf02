package roles

import (
	"context"
	"fmt"
	"path/filepath"
	"time"

	"github.com/homelab-agent/homelab-agent/agent/docker"
	"github.com/homelab-agent/homelab-agent/agent/health"
	"github.com/homelab-agent/homelab-agent/agent/lab"
	"github.com/homelab-agent/homelab-agent/agent/role"
)

// Containers returns the container resource of a role's compose project:
// the role's embedded compose file, or the host's compose: file from the
// lab repo when it names one (its folder's .env feeds interpolation).
// vars are the role's interpolation defaults; overlays are merged over
// the embedded file only.
func Containers(in role.Input, name, embeddedName string, embedded []byte, vars map[string]string, overlays ...docker.File) *docker.Project {
	src := docker.Source{Name: name, Vars: vars, DataDir: lab.DataDir(name)}
	if h := in.Host; h.Compose != "" {
		src.Files = []docker.File{{Name: h.Compose, Content: h.ComposeData}}
		src.Dir = filepath.Join(in.Lab.Dir, filepath.Dir(filepath.Clean(h.Compose)))
		src.Repo = in.Lab.Dir
	} else {
		src.Files = append([]docker.File{{Name: embeddedName, Content: embedded}}, overlays...)
	}
	return &docker.Project{Source: src}
}

// CheckContainers is the lab check of a role that runs containers: for
// each host with the role, an app may not take the role's project name,
// and the host's compose: override and its apps' compose files must parse
// (unsupported keys are reported with their file, line and key).
func CheckContainers(l *lab.Lab, r role.Role, project string, errs *lab.Errors) {
	ctx := context.Background()
	for _, h := range l.WithRole(r.Name()) {
		deep := l.ChecksProjectsOf(h.Name)
		if h.Compose != "" && deep {
			out, err := r.Build(role.Input{Lab: l, Host: h})
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
			if a.ComposeData == nil || !deep {
				continue // no compose file read (the lab's checks said why), or not this pass's host
			}
			if err := docker.AppProject(l.Dir, a).Validate(ctx); err != nil {
				errs.At(a.ComposePos, "%v", err)
			}
		}
	}
}

// AppHealth is the health spec of a role's web app: a GET of path on the
// port the host publishes it on, from the host itself, named after the
// role ("jellyfin /health"). deadline is how long the app may take to
// answer after a change (a cold start of Immich or Nextcloud is slow).
func AppHealth(in role.Input, path string, deadline time.Duration) health.Spec {
	_, port := role.PublicHost(in)
	if port == 0 {
		return health.Spec{}
	}
	return health.Spec{Deadline: deadline, Probes: []health.Probe{health.HTTP{
		Name: in.Host.Role + " " + path,
		URL:  fmt.Sprintf("http://127.0.0.1:%d%s", port, path),
	}}}
}
