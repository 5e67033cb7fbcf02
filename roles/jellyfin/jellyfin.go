// Package jellyfin is the jellyfin role: Jellyfin with /config and /cache
// on the data disk, the media library under /srv/data/jellyfin/media and,
// with `gpu: true` on the host, /dev/dri passed through for hardware
// transcoding. Its backup stops the container and starts it again.
package jellyfin

import (
	"context"
	_ "embed"
	"strconv"
	"time"

	"github.com/homelab-agent/homelab-agent/agent/backup"
	"github.com/homelab-agent/homelab-agent/agent/docker"
	"github.com/homelab-agent/homelab-agent/agent/lab"
	"github.com/homelab-agent/homelab-agent/agent/resource"
	"github.com/homelab-agent/homelab-agent/agent/role"
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

func init() { role.Register(Role{}) }

var (
	_ role.Role         = Role{}
	_ role.Exposer      = Role{}
	_ role.Validator    = Role{}
	_ role.Configurable = Role{}
	_ backup.Quiescer   = quiesce{}
)

// GPUKey is the host key that passes /dev/dri into the container.
const GPUKey = "gpu"

// Name implements role.Role.
func (Role) Name() string { return "jellyfin" }

// DefaultExpose implements role.Exposer.
func (Role) DefaultExpose() (string, int) { return "jellyfin", 8096 }

// Settings implements role.Configurable: `gpu: true` on a jellyfin host.
func (Role) Settings() []lab.Setting {
	return []lab.Setting{{Key: GPUKey, Host: true, New: func() any { return new(bool) }}}
}

// Build implements role.Role: the published URL clients are told about,
// and the data folder as a stateful service stopped for its backup.
func (r Role) Build(in role.Input) (*role.Output, error) {
	host, port := role.PublicHost(in)
	url := ""
	if host != "" {
		url = "https://" + host
	}
	vars := map[string]string{
		"DATA_DIR":   lab.DataDir(Project),
		"PUBLIC_URL": url,
		"HTTP_PORT":  strconv.Itoa(port),
	}
	var overlays []docker.File
	if *lab.HostSettingOf[bool](in.Host, GPUKey) {
		overlays = append(overlays, docker.File{Name: "roles/jellyfin/compose.gpu.yaml", Content: gpuFile})
	}
	p := roles.Containers(in, Project, "roles/jellyfin/compose.yaml", composeFile, vars, overlays...)
	return &role.Output{
		Resources: []resource.Resource{p},
		Health:    roles.AppHealth(in, "/health", 90*time.Second),
		Stateful:  []backup.Service{{Name: Project, Quiesce: quiesce{}}},
	}, nil
}

// Validate implements role.Validator: a host with `gpu: true` that
// bootstrap creates must name the GPU Proxmox passes into it (vm.hostpci).
func (r Role) Validate(l *lab.Lab, errs *lab.Errors) {
	roles.CheckContainers(l, r, Project, errs)
	for _, h := range l.WithRole(r.Name()) {
		if *lab.HostSettingOf[bool](h, GPUKey) && h.VM != nil && h.VM.VMID != 0 && h.VM.HostPCI == "" {
			errs.At(h.Settings.Pos(GPUKey), "host %s: gpu: true needs vm.hostpci, the GPU Proxmox passes into the VM (e.g. hostpci: 0000:00:02.0 or mapping=igpu)", h.Name)
		}
	}
}

// quiesce stops Jellyfin for its backup: its SQLite databases are only
// consistent at rest.
type quiesce struct{}

// Quiesce implements backup.Quiescer.
func (quiesce) Quiesce(ctx context.Context, q backup.Env) (func(context.Context) error, error) {
	resume := func(ctx context.Context) error { return docker.Start(ctx, q.Docker, Project, Service) }
	return resume, docker.Stop(ctx, q.Docker, Project, Service)
}
