package immich

import (
	"context"
	"io"

	"github.com/homelab-agent/homelab-agent/agent/backup"
	"github.com/homelab-agent/homelab-agent/agent/docker"
)

// dump is the database's pg_dumpall stream.
type dump struct{}

// DumpName implements backup.Dumper.
func (dump) DumpName() string { return "immich-database.sql" }

// Dump implements backup.Dumper: pg_dumpall --clean --if-exists in the
// database container, as the user the container was created with
// (POSTGRES_USER), streamed to w.
func (dump) Dump(ctx context.Context, q backup.Env, w io.Writer) error {
	user, ok, err := docker.Env(ctx, q.Docker, Project, Database, "POSTGRES_USER")
	if err != nil {
		return err
	}
	if !ok || user == "" {
		user = "postgres"
	}
	return docker.Exec(ctx, q.Docker, Project, Database, "", []string{"pg_dumpall", "--clean", "--if-exists", "--username=" + user}, w)
}

// DumpRestore implements backup.Dumper: psql in the database container
// replays pg_dumpall's script (it drops and recreates the databases).
func (dump) DumpRestore() (string, []string) {
	return Database, []string{"sh", "-c", `exec psql --quiet --username="${POSTGRES_USER:-postgres}" --dbname=postgres`}
}
