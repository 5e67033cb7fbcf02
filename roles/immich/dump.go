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
// replays pg_dumpall's script (it drops and recreates the databases) once
// the server accepts connections over TCP (while it initialises, the
// official image's entrypoint runs a server on the socket only).
// ON_ERROR_STOP makes a script that fails fail the restore with psql's
// message. The script's DROP ROLE and CREATE ROLE of the user psql runs as
// are left out: PostgreSQL refuses to drop the current user, and it exists
// (the ALTER ROLE that follows still sets its attributes and password).
func (dump) DumpRestore() (string, []string) {
	return Database, []string{"sh", "-c", restoreScript}
}

const restoreScript = `u="${POSTGRES_USER:-postgres}" i=0
until pg_isready -q --host=127.0.0.1 --username="$u" --dbname=postgres; do
	i=$((i+1)); [ $i -lt 120 ] || { echo "PostgreSQL did not accept connections in 120s" >&2; exit 1; }; sleep 1
done
sed -e "/^\(DROP ROLE IF EXISTS\|CREATE ROLE\) \"\\{0,1\\}$u\"\\{0,1\\};$/d" | exec psql -v ON_ERROR_STOP=1 --quiet --output=/dev/null --username="$u" --dbname=postgres`
