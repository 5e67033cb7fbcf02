// Package immich is the immich role: immich-server, machine learning,
// Valkey and PostgreSQL with VectorChord, as upstream's compose file runs
// them, with the library and database on the data disk.
package immich

import (
	"github.com/homelab-agent/homelab-agent/agent/files"
	"github.com/homelab-agent/homelab-agent/agent/resource"
	"github.com/homelab-agent/homelab-agent/roles"
)

// EnvPath is the environment file upstream's compose file reads (.env).
const EnvPath = "/etc/homelab-agent/immich/immich.env"

// DataDir holds the photo library and the database on the data disk.
const DataDir = "/srv/data/immich"

// Role is the immich role.
type Role struct{}

func init() { roles.Register(Role{}) }

var (
	_ roles.Role    = Role{}
	_ roles.Exposer = Role{}
)

// Name implements roles.Role.
func (Role) Name() string { return "immich" }

// DefaultExpose implements roles.Exposer.
func (Role) DefaultExpose() (string, int) { return "immich", 2283 }

// Build implements roles.Role with upstream example.env's variables.
func (Role) Build(in roles.Input) (*roles.Output, error) {
	env := roles.EnvFile("immich.env", map[string]string{
		"UPLOAD_LOCATION":  DataDir + "/library",
		"DB_DATA_LOCATION": DataDir + "/postgres",
		"IMMICH_VERSION":   "release",
		"DB_PASSWORD":      "${secret:IMMICH_DB_PASSWORD}",
		"DB_USERNAME":      "postgres",
		"DB_DATABASE_NAME": "immich",
	})
	return &roles.Output{Resources: []resource.Resource{
		&files.File{Path: EnvPath, Content: env, Mode: 0o600},
	}}, nil
}
