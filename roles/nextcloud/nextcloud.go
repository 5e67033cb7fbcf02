// Package nextcloud is the nextcloud role: Nextcloud (apache image) with
// PostgreSQL, Redis and a cron container, configured to sit behind the
// lab's Traefik (trusted proxies, overwrite host and protocol).
package nextcloud

import (
	_ "embed"
	"strconv"
	"strings"

	"github.com/homelab-agent/homelab-agent/agent/lab"
	"github.com/homelab-agent/homelab-agent/agent/resource"
	"github.com/homelab-agent/homelab-agent/roles"
)

//go:embed compose.yaml
var composeFile []byte

// Project is the role's compose project name; App is the service occ runs in.
const (
	Project = "nextcloud"
	App     = "app"
)

// Role is the nextcloud role.
type Role struct{}

func init() { roles.Register(Role{}) }

var (
	_ roles.Role      = Role{}
	_ roles.Exposer   = Role{}
	_ roles.Validator = Role{}
	_ roles.Quiescer  = Role{}
)

// Name implements roles.Role.
func (Role) Name() string { return "nextcloud" }

// DefaultExpose implements roles.Exposer.
func (Role) DefaultExpose() (string, int) { return "nextcloud", 80 }

// Build implements roles.Role: the compose project with the trusted
// domain, trusted proxies and the overwrite settings Nextcloud needs
// behind a TLS-terminating proxy.
func (r Role) Build(in roles.Input) (*roles.Output, error) {
	host, port := roles.PublicHost(in)
	var proxies []string
	for _, p := range in.Lab.WithRole("traefik") {
		proxies = append(proxies, p.IP.String())
	}
	vars := map[string]string{
		"DATA_DIR":        roles.DataDir(Project),
		"PUBLIC_HOST":     host,
		"HTTP_PORT":       strconv.Itoa(port),
		"TRUSTED_PROXIES": strings.Join(proxies, " "),
	}
	p := roles.Containers(in, Project, "roles/nextcloud/compose.yaml", composeFile, vars)
	return &roles.Output{Resources: []resource.Resource{p}}, nil
}

// Validate implements roles.Validator.
func (r Role) Validate(l *lab.Lab, errs *lab.Errors) { roles.CheckContainers(l, r, Project, errs) }
