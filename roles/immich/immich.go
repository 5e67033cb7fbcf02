// Package immich is the immich role: immich-server, machine learning,
// Valkey and PostgreSQL with VectorChord, as upstream's compose file runs
// them, with the library and database on the data disk. Its database is
// backed up as a pg_dumpall stream (see Dump).
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
	_ backup.Dumper  = dump{}
)

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
	return &role.Output{
		Resources: []resource.Resource{p},
		Health:    roles.AppHealth(in, "/api/server/ping", 120*time.Second),
		Stateful:  []backup.Service{{Name: Project, Dump: dump{}}},
	}, nil
}

// Validate implements role.Validator.
func (r Role) Validate(l *lab.Lab, errs *lab.Errors) { roles.CheckContainers(l, r, Project, errs) }
