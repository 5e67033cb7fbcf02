// Package immich is the immich role: immich-server, machine learning,
// Valkey and PostgreSQL with VectorChord, as upstream's compose file runs
// them, with the library and database on the data disk. Its database is
// backed up as a pg_dumpall stream (roles.PostgresDump), its live
// PostgreSQL folder left out of the file backup.
package immich

import (
	_ "embed"
	"strconv"
	"time"

	"github.com/homelab-agent/homelab-agent/agent/backup"
	"github.com/homelab-agent/homelab-agent/agent/lab"
	"github.com/homelab-agent/homelab-agent/agent/resource"
	"github.com/homelab-agent/homelab-agent/agent/role"
	"github.com/homelab-agent/homelab-agent/roles"
)

//go:embed compose.yaml
var composeFile []byte

// Project is the compose project; Database is the PostgreSQL service,
// named as in upstream's compose file.
const (
	Project  = "immich"
	Database = "database"
)

// DataDir holds the photo library and the database on the data disk.
var DataDir = lab.DataDir(Project)

// Role is the immich role.
type Role struct{}

func init() { role.Register(Role{}) }

var (
	_ role.Role      = Role{}
	_ role.Exposer   = Role{}
	_ role.Validator = Role{}
)

// Dump is the database's pg_dumpall stream.
var Dump = roles.PostgresDump{Project: Project, Service: Database, Name: "immich-database.sql"}

// Name implements role.Role.
func (Role) Name() string { return "immich" }

// DefaultExpose implements role.Exposer.
func (Role) DefaultExpose() (string, int) { return "immich", 2283 }

// Build implements role.Role with upstream example.env's variables; the
// data folder is a stateful service whose database is also dumped.
func (Role) Build(in role.Input) (*role.Output, error) {
	_, port := role.PublicHost(in)
	vars := map[string]string{
		"UPLOAD_LOCATION":  DataDir + "/library",
		"DB_DATA_LOCATION": DataDir + "/postgres",
		"IMMICH_VERSION":   "release",
		"DB_USERNAME":      "postgres",
		"DB_DATABASE_NAME": "immich",
		"HTTP_PORT":        strconv.Itoa(port),
	}
	p := roles.Containers(in, Project, "roles/immich/compose.yaml", composeFile, vars)
	res := []resource.Resource{p}
	if in.Host.Compose == "" {
		// The database user's password is a credential the role owns.
		res = []resource.Resource{roles.PostgresPassword(p, Database, vars["DB_USERNAME"], "IMMICH_DB_PASSWORD"), p}
	}
	return &role.Output{
		Resources: res,
		Health:    roles.AppHealth(in, "/api/server/ping", 120*time.Second),
		Stateful: []backup.Service{{Name: Project, Dump: Dump,
			// The dump covers the live database folder.
			Excludes: []string{vars["DB_DATA_LOCATION"]}}},
	}, nil
}

// Validate implements role.Validator.
func (r Role) Validate(l *lab.Lab, errs *lab.Errors) { roles.CheckContainers(l, r, Project, errs) }
