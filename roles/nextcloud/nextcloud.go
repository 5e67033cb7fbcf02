// Package nextcloud is the nextcloud role: Nextcloud (apache image) with
// PostgreSQL and Redis, configured to sit behind the lab's Traefik.
package nextcloud

import (
	"strings"

	"github.com/homelab-agent/homelab-agent/agent/files"
	"github.com/homelab-agent/homelab-agent/agent/resource"
	"github.com/homelab-agent/homelab-agent/roles"
)

// EnvPath is the environment file the Nextcloud containers read.
const EnvPath = "/etc/homelab-agent/nextcloud/nextcloud.env"

// Role is the nextcloud role.
type Role struct{}

func init() { roles.Register(Role{}) }

var (
	_ roles.Role    = Role{}
	_ roles.Exposer = Role{}
)

// Name implements roles.Role.
func (Role) Name() string { return "nextcloud" }

// DefaultExpose implements roles.Exposer.
func (Role) DefaultExpose() (string, int) { return "nextcloud", 80 }

// Build implements roles.Role: trusted domain, trusted proxies and the
// overwrite settings Nextcloud needs behind a TLS-terminating proxy.
func (r Role) Build(in roles.Input) (*roles.Output, error) {
	l := in.Lab
	host := publicHost(in, r)
	var proxies []string
	for _, p := range l.WithRole("traefik") {
		proxies = append(proxies, p.IP.String())
	}
	env := roles.EnvFile("nextcloud.env", map[string]string{
		"NEXTCLOUD_TRUSTED_DOMAINS": host,
		"TRUSTED_PROXIES":           strings.Join(proxies, " "),
		"OVERWRITEHOST":             host,
		"OVERWRITEPROTOCOL":         "https",
		"OVERWRITECLIURL":           "https://" + host,
		"NEXTCLOUD_ADMIN_USER":      "admin",
		"NEXTCLOUD_ADMIN_PASSWORD":  "${secret:NEXTCLOUD_ADMIN_PASSWORD}",
		"POSTGRES_HOST":             "db",
		"POSTGRES_DB":               "nextcloud",
		"POSTGRES_USER":             "nextcloud",
		"POSTGRES_PASSWORD":         "${secret:NEXTCLOUD_DB_PASSWORD}",
		"REDIS_HOST":                "redis",
	})
	return &roles.Output{Resources: []resource.Resource{
		&files.File{Path: EnvPath, Content: env, Mode: 0o600},
	}}, nil
}

// publicHost is the name the service is published under.
func publicHost(in roles.Input, e roles.Exposer) string {
	for _, s := range roles.Services(in.Lab) {
		if s.Host == in.Host {
			return s.Subdomain + "." + in.Lab.Domain
		}
	}
	sub, _ := e.DefaultExpose()
	return sub + "." + in.Lab.Domain
}
