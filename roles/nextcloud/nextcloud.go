// Package nextcloud is the nextcloud role: Nextcloud (apache image) with
// PostgreSQL, Redis and a cron container, configured to sit behind the
// lab's Traefik (trusted proxies, overwrite host and protocol). Its
// data folder is backed up in maintenance mode, its database as a
// pg_dumpall stream (roles.PostgresDump) with the live PostgreSQL folder
// left out of the file backup.
package nextcloud

import (
	_ "embed"
	"strconv"
	"strings"
	"time"

	"github.com/homelab-agent/homelab-agent/agent/backup"
	"github.com/homelab-agent/homelab-agent/agent/images"
	"github.com/homelab-agent/homelab-agent/agent/lab"
	"github.com/homelab-agent/homelab-agent/agent/resource"
	"github.com/homelab-agent/homelab-agent/agent/role"
	"github.com/homelab-agent/homelab-agent/roles"
)

//go:embed compose.yaml
var composeFile []byte

// Project is the role's compose project name; App is the service occ
// runs in; Database the PostgreSQL service, whose user's password is
// SecretDBPassword.
const (
	Project          = "nextcloud"
	App              = "app"
	Database         = "db"
	SecretDBPassword = "NEXTCLOUD_DB_PASSWORD"
)

// Role is the nextcloud role.
type Role struct{}

func init() { role.Register(Role{}) }

var (
	_ role.Role       = Role{}
	_ role.Exposer    = Role{}
	_ role.Validator  = Role{}
	_ backup.Quiescer = quiesce{}
)

// Dump is the database's pg_dumpall stream.
var Dump = roles.PostgresDump{Project: Project, Service: Database, Name: "nextcloud-database.sql"}

// Name implements role.Role.
func (Role) Name() string { return "nextcloud" }

// DefaultExpose implements role.Exposer.
func (Role) DefaultExpose() (string, int) { return "nextcloud", 80 }

// Build implements role.Role: the compose project with the trusted
// domain, trusted proxies and the overwrite settings Nextcloud needs
// behind a TLS-terminating proxy, and its data folder as a stateful
// service backed up in maintenance mode, its database as a dump.
func (r Role) Build(in role.Input) (*role.Output, error) {
	host, port := role.PublicHost(in)
	var proxies []string
	for _, p := range role.HostsPlaying(in.Lab, role.ReverseProxy) {
		proxies = append(proxies, p.IP.String())
	}
	vars := map[string]string{
		"DATA_DIR":        lab.DataDir(Project),
		"PUBLIC_HOST":     host,
		"HTTP_PORT":       strconv.Itoa(port),
		"TRUSTED_PROXIES": strings.Join(proxies, " "),
	}
	p := roles.Containers(in, Project, "roles/nextcloud/compose.yaml", composeFile, vars)
	// Nextcloud refuses to skip a major version, and a new image serves
	// only after `occ upgrade` ran.
	p.UpdateDefaults = map[string]images.Rules{
		"app":  {MajorStep: true, After: []string{"php", "occ", "upgrade"}, AfterUser: occUser},
		"cron": {MajorStep: true},
	}
	res := []resource.Resource{p}
	if in.Host.Compose == "" {
		// The database user's and the admin's passwords are credentials
		// the role owns.
		res = []resource.Resource{roles.PostgresPassword(p, Database, "nextcloud", SecretDBPassword), adminPassword(p), p}
	}
	return &role.Output{
		Resources: res,
		Health:    roles.AppHealth(in, "/status.php", 120*time.Second),
		Stateful: []backup.Service{{Name: Project, Quiesce: quiesce{}, Fixer: r, Dump: Dump,
			// The dump covers the live database folder.
			Excludes: []string{vars["DATA_DIR"] + "/postgres"}}},
	}, nil
}

// Validate implements role.Validator.
func (r Role) Validate(l *lab.Lab, errs *lab.Errors) { roles.CheckContainers(l, r, Project, errs) }
