package roles

import (
	"context"
	"io"

	"github.com/homelab-agent/homelab-agent/agent/backup"
	"github.com/homelab-agent/homelab-agent/agent/docker"
)

// PostgresDump is the backup.Dumper of a role whose database is a
// PostgreSQL container of the official image's contract (POSTGRES_USER is
// the superuser; the socket and 127.0.0.1 are trusted): pg_dumpall
// streamed to restic, loaded back with psql. Nextcloud and Immich use it.
type PostgresDump struct {
	// Project is the compose project, Service its database service.
	Project, Service string
	// Name is the dump's file name in the snapshot (immich-database.sql).
	Name string
}

var _ backup.Dumper = PostgresDump{}

// DumpName implements backup.Dumper.
func (d PostgresDump) DumpName() string { return d.Name }

// Dump implements backup.Dumper: pg_dumpall --clean --if-exists in the
// database container, as the user the container was created with
// (POSTGRES_USER), streamed to w.
func (d PostgresDump) Dump(ctx context.Context, q backup.Env, w io.Writer) error {
	user, ok, err := docker.Env(ctx, q.Docker, d.Project, d.Service, "POSTGRES_USER")
	if err != nil {
		return err
	}
	if !ok || user == "" {
		user = "postgres"
	}
	return docker.Exec(ctx, q.Docker, d.Project, d.Service, "", []string{"pg_dumpall", "--clean", "--if-exists", "--username=" + user}, w)
}

// DumpRestore implements backup.Dumper: psql in the database container
// replays pg_dumpall's script (it drops and recreates the databases) once
// the server accepts connections over TCP (while it initialises, the
// official image's entrypoint runs a server on the socket only).
// ON_ERROR_STOP makes a script that fails fail the restore with psql's
// message. The script's DROP ROLE and CREATE ROLE of the user psql runs as
// are left out: PostgreSQL refuses to drop the current user, and it exists
// (the ALTER ROLE that follows still sets its attributes and password).
func (d PostgresDump) DumpRestore() (string, []string) {
	return d.Service, []string{"sh", "-c", pgReady + pgLoad}
}

// DumpCheck implements backup.Dumper: once the server accepts
// connections, it prints "<database>: <n> tables" for each database that
// holds tables of its own (not the catalogs', not an extension's), and
// nothing for a cluster as initdb and the image's entrypoint left it.
func (d PostgresDump) DumpCheck() []string {
	return []string{"sh", "-c", pgReady + pgCheck}
}

// pgReady waits up to 120 s for the server to accept connections over TCP.
const pgReady = `u="${POSTGRES_USER:-postgres}" i=0
until pg_isready -q --host=127.0.0.1 --username="$u" --dbname=postgres; do
	i=$((i+1)); [ $i -lt 120 ] || { echo "PostgreSQL did not accept connections in 120s" >&2; exit 1; }; sleep 1
done
`

const pgLoad = `sed -e "/^\(DROP ROLE IF EXISTS\|CREATE ROLE\) \"\\{0,1\\}$u\"\\{0,1\\};$/d" | exec psql -X -v ON_ERROR_STOP=1 --quiet --output=/dev/null --username="$u" --dbname=postgres`

const pgCheck = `dbs=$(psql -X -v ON_ERROR_STOP=1 -At --username="$u" --dbname=postgres -c "SELECT datname FROM pg_database WHERE datallowconn AND NOT datistemplate ORDER BY 1") || exit 1
printf '%s\n' "$dbs" | while IFS= read -r db; do
	[ -n "$db" ] || continue
	n=$(psql -X -v ON_ERROR_STOP=1 -At --username="$u" --dbname="$db" -c "SELECT count(*) FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace WHERE c.relkind IN ('r', 'p') AND n.nspname NOT IN ('pg_catalog', 'information_schema') AND n.nspname NOT LIKE 'pg\_toast%' AND NOT EXISTS (SELECT 1 FROM pg_depend d WHERE d.classid = 'pg_class'::regclass AND d.objid = c.oid AND d.deptype = 'e')") || exit 1
	[ "$n" = 0 ] || echo "$db: $n tables"
done`
