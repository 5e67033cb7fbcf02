// Package jellyfin is the jellyfin role: Jellyfin with /config and /cache
// on the data disk and the media library under /srv/data/jellyfin/media.
package jellyfin

import (
	"github.com/homelab-agent/homelab-agent/agent/files"
	"github.com/homelab-agent/homelab-agent/agent/resource"
	"github.com/homelab-agent/homelab-agent/roles"
)

// EnvPath is the environment file the Jellyfin container reads.
const EnvPath = "/etc/homelab-agent/jellyfin/jellyfin.env"

// Role is the jellyfin role.
type Role struct{}

func init() { roles.Register(Role{}) }

var (
	_ roles.Role    = Role{}
	_ roles.Exposer = Role{}
)

// Name implements roles.Role.
func (Role) Name() string { return "jellyfin" }

// DefaultExpose implements roles.Exposer.
func (Role) DefaultExpose() (string, int) { return "jellyfin", 8096 }

// Build implements roles.Role: the published URL clients are told about.
func (r Role) Build(in roles.Input) (*roles.Output, error) {
	url := ""
	for _, s := range roles.Services(in.Lab) {
		if s.Host == in.Host {
			url = roles.ServiceURL(s.Subdomain, in.Lab.Domain)
			break
		}
	}
	env := roles.EnvFile("jellyfin.env", map[string]string{
		"JELLYFIN_PublishedServerUrl": url,
	})
	return &roles.Output{Resources: []resource.Resource{
		&files.File{Path: EnvPath, Content: env, Mode: 0o644},
	}}, nil
}
