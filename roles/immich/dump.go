package immich

import (
	"context"
	"io"

	"github.com/homelab-agent/homelab-agent/agent/docker"
	"github.com/homelab-agent/homelab-agent/roles"
)

// DumpName implements roles.Dumper.
func (Role) DumpName() string { return "immich-database.sql" }

// Dump implements roles.Dumper: pg_dumpall --clean --if-exists in the
// database container, as the user the container was created with
// (POSTGRES_USER), streamed to w.
func (Role) Dump(ctx context.Context, q roles.QuiesceEnv, w io.Writer) error {
	user, ok, err := docker.Env(ctx, q.Docker, Project, Database, "POSTGRES_USER")
	if err != nil {
		return err
	}
	if !ok || user == "" {
		user = "postgres"
	}
	return docker.Exec(ctx, q.Docker, Project, Database, "", []string{"pg_dumpall", "--clean", "--if-exists", "--username=" + user}, w)
}

// DumpRestore implements roles.DumpRestorer: psql in the database container
// replays pg_dumpall's script (it drops and recreates the databases).
func (Role) DumpRestore() (string, []string) {
	return Database, []string{"sh", "-c", `exec psql --quiet --username="${POSTGRES_USER:-postgres}" --dbname=postgres`}
}

var _ roles.DumpRestorer = Role{}
