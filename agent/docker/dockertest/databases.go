package dockertest

import (
	"context"
	"strings"
	"testing"

	"github.com/homelab-agent/homelab-agent/internal/debimage"
)

// databases is the recipe of the image that stands for the official
// PostgreSQL and Redis images: Debian's own packages (the major versions
// are Debian's: PostgreSQL 17 and Redis 8 in trixie), with entrypoints
// that keep the official images' contract. Postgres and Redis derive an
// image each from it with its own CMD.
var databases = debimage.Recipe{
	Name:     "homelab-agent-databases",
	Packages: []string{"postgresql", "redis-server", "gosu"},
	Files: map[string]string{
		"/usr/local/bin/docker-entrypoint.sh": postgresEntrypoint,
		"/usr/local/bin/redis-entrypoint.sh":  redisEntrypoint,
	},
	// Debian's package makes a cluster of its own; the image starts empty
	// as the official one does, and finds its binaries without pg_wrapper.
	Script: `rm -rf /var/lib/postgresql/* /etc/postgresql/*
ln -s "$(ls -d /usr/lib/postgresql/[0-9]* | sort -V | tail -1)" /usr/lib/postgresql/current
mkdir -p /var/lib/postgresql/data /var/run/postgresql /data
chown postgres:postgres /var/lib/postgresql/data /var/run/postgresql
chown redis:redis /data`,
	Changes: []string{
		"ENV PATH=/usr/lib/postgresql/current/bin:/usr/local/bin:/usr/bin:/bin:/usr/sbin:/sbin",
		"ENV PGDATA=/var/lib/postgresql/data",
		"ENV LANG=C.UTF-8",
	},
}

// postgresEntrypoint is the official image's docker-entrypoint.sh in
// short: POSTGRES_PASSWORD (or POSTGRES_HOST_AUTH_METHOD=trust) is
// required on an empty data folder, initdb runs there as POSTGRES_USER
// with POSTGRES_INITDB_ARGS, POSTGRES_DB (default: the user) is created,
// local connections are trusted and remote ones need the password; then
// postgres runs as the postgres user. /docker-entrypoint-initdb.d is not
// supported.
const postgresEntrypoint = `#!/bin/sh
set -e
if [ "${1#-}" != "$1" ]; then set -- postgres "$@"; fi
if [ "$1" != postgres ]; then exec "$@"; fi
shift
: "${PGDATA:=/var/lib/postgresql/data}"
export PGDATA
if [ "$(id -u)" = 0 ]; then
	mkdir -p "$PGDATA" /var/run/postgresql
	find "$PGDATA" ! -user postgres -exec chown postgres:postgres '{}' +
	chmod 700 "$PGDATA"
	chown postgres:postgres /var/run/postgresql
	chmod 3777 /var/run/postgresql
	exec gosu postgres "$0" postgres "$@"
fi
if [ ! -s "$PGDATA/PG_VERSION" ]; then
	if [ -z "$POSTGRES_PASSWORD" ] && [ "$POSTGRES_HOST_AUTH_METHOD" != trust ]; then
		echo >&2 'Error: Database is uninitialized and superuser password is not specified.'
		echo >&2 '       You must specify POSTGRES_PASSWORD to a non-empty value for the superuser.'
		exit 1
	fi
	user=${POSTGRES_USER:-postgres}
	pw=$(mktemp)
	printf '%s\n' "$POSTGRES_PASSWORD" >"$pw"
	initdb --username="$user" --pwfile="$pw" --auth-local=trust $POSTGRES_INITDB_ARGS
	rm -f "$pw"
	printf '\nhost all all all %s\n' "${POSTGRES_HOST_AUTH_METHOD:-scram-sha-256}" >>"$PGDATA/pg_hba.conf"
	printf "\nlisten_addresses = '*'\n" >>"$PGDATA/postgresql.conf"
	db=${POSTGRES_DB:-$user}
	if [ "$db" != postgres ]; then
		pg_ctl -D "$PGDATA" -o "-c listen_addresses=''" -w start
		psql -v ON_ERROR_STOP=1 --username="$user" --dbname=postgres --set db="$db" <<-'SQL'
			CREATE DATABASE :"db";
		SQL
		pg_ctl -D "$PGDATA" -m fast -w stop
	fi
	echo 'PostgreSQL init process complete; ready for start up.'
fi
exec postgres "$@"
`

// redisEntrypoint runs redis-server as the redis user in /data, as the
// official image does.
const redisEntrypoint = `#!/bin/sh
set -e
if [ "${1#-}" != "$1" ]; then set -- redis-server "$@"; fi
if [ "$1" = redis-server ] && [ "$(id -u)" = 0 ]; then
	find /data ! -user redis -exec chown redis '{}' +
	exec gosu redis "$@"
fi
exec "$@"
`

// Postgres returns the tag of the PostgreSQL image (see databases),
// building it on first use.
func Postgres(t testing.TB) string {
	return derived(t, "postgres", `ENTRYPOINT ["docker-entrypoint.sh"]
STOPSIGNAL SIGINT
EXPOSE 5432
CMD ["postgres"]`)
}

// Redis returns the tag of the Redis image (see databases), building it
// on first use.
func Redis(t testing.TB) string {
	return derived(t, "redis", `WORKDIR /data
ENTRYPOINT ["redis-entrypoint.sh"]
EXPOSE 6379
CMD ["redis-server", "--protected-mode", "no"]`)
}

// derived builds "FROM <databases image>" plus tail as
// homelab-agent-<name>:<hash of both>, unless it exists.
func derived(t testing.TB, name, tail string) string {
	t.Helper()
	cli := Client(t)
	base := debimage.Build(t, databases)
	tag := "homelab-agent-" + name + ":" + strings.SplitN(base, ":", 2)[1]
	buildMu.Lock()
	defer buildMu.Unlock()
	if built[tag] {
		return tag
	}
	ctx := context.Background()
	if _, err := cli.ImageInspect(ctx, tag); err == nil {
		built[tag] = true
		return tag
	}
	buildContext(t, cli, tag, "FROM "+base+"\n"+tail+"\n", nil)
	built[tag] = true
	return tag
}

// ImageFor names the image a compose file's image name is tagged with:
// Debian's PostgreSQL for a */postgres repository, Debian's Redis for
// */redis and */valkey, the stand-in for everything else.
func ImageFor(t testing.TB, name string) string {
	t.Helper()
	repo := name
	if i := strings.LastIndex(repo, "/"); i >= 0 {
		repo = repo[i+1:]
	}
	if i := strings.IndexAny(repo, ":@"); i >= 0 {
		repo = repo[:i]
	}
	switch repo {
	case "postgres":
		return Postgres(t)
	case "redis", "valkey":
		return Redis(t)
	}
	return Standin(t)
}
