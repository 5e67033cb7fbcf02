// Package jellyfin is the jellyfin role: Jellyfin with /config and /cache
// on the data disk, the media library under /srv/data/jellyfin/media and,
// with `gpu: true` on the host, /dev/dri passed through for hardware
// transcoding. Its backup stops the container and starts it again.
package jellyfin

import (
	"context"
	_ "embed"
	"strconv"

	"github.com/homelab-agent/homelab-agent/agent/docker"
	"github.com/homelab-agent/homelab-agent/agent/lab"
	"github.com/homelab-agent/homelab-agent/agent/resource"
	"github.com/homelab-agent/homelab-agent/roles"
)

var (
	//go:embed compose.yaml
	composeFile []byte
	//go:embed compose.gpu.yaml
	gpuFile []byte
)

// Project is the compose project; Service is the Jellyfin service.
const (
	Project = "jellyfin"
	Service = "jellyfin"
)

// Role is the jellyfin role.
type Role struct{}

func init() { roles.Register(Role{}) }

var (
	_ roles.Role      = Role{}
	_ roles.Exposer   = Role{}
	_ roles.Validator = Role{}
	_ roles.Quiescer  = Role{}
)

// Name implements roles.Role.
func (Role) Name() string { return "jellyfin" }

// DefaultExpose implements roles.Exposer.
func (Role) DefaultExpose() (string, int) { return "jellyfin", 8096 }

// Build implements roles.Role: the published URL clients are told about.
func (r Role) Build(in roles.Input) (*roles.Output, error) {
	host, port := roles.PublicHost(in)
	url := ""
	if host != "" {
		url = "https://" + host
	}
	vars := map[string]string{
		"DATA_DIR":   roles.DataDir(Project),
		"PUBLIC_URL": url,
		"HTTP_PORT":  strconv.Itoa(port),
	}
	var overlays []docker.File
	if in.Host.GPU {
		overlays = append(overlays, docker.File{Name: "roles/jellyfin/compose.gpu.yaml", Content: gpuFile})
	}
	p := roles.Containers(in, Project, "roles/jellyfin/compose.yaml", composeFile, vars, overlays...)
	return &roles.Output{Resources: []resource.Resource{p}}, nil
}

// Validate implements roles.Validator.
func (r Role) Validate(l *lab.Lab, errs *lab.Errors) { roles.CheckContainers(l, r, Project, errs) }

// Quiesce implements roles.Quiescer: Jellyfin's SQLite databases are
// only consistent at rest, so the container stops for the backup.
func (Role) Quiesce(ctx context.Context, q roles.QuiesceEnv) (func(context.Context) error, error) {
	resume := func(ctx context.Context) error { return docker.Start(ctx, q.Docker, Project, Service) }
	return resume, docker.Stop(ctx, q.Docker, Project, Service)
}
