package roles

import (
	"context"
	"strings"

	"github.com/homelab-agent/homelab-agent/agent/docker"
	"github.com/homelab-agent/homelab-agent/agent/resource"
	"github.com/homelab-agent/homelab-agent/agent/rotate"
)

// PostgresPassword is a PostgreSQL user's password as a credential the
// role owns: on a change, `ALTER ROLE CURRENT_USER WITH PASSWORD` runs in
// the project's database container over its local socket (trusted in the
// official image, so the old password is not needed), as the image's
// POSTGRES_USER, with the statement on stdin (never in an argv). The
// project requires it: when it fails, the containers are not recreated
// with the new value and the old one keeps working. user is for the plan:
// "ALTER ROLE <user>". Only for the role's own compose file: a host's
// compose: override may name its services differently.
func PostgresPassword(p *docker.Project, service, user, secret string) *rotate.Credential {
	c := &rotate.Credential{Secret: secret, How: "ALTER ROLE " + user, Sub: docker.Subsystem,
		Apply: func(ctx context.Context, env *resource.Env, old, new string) error {
			connect := p.Connect
			if connect == nil {
				connect = docker.Shared
			}
			cli, err := connect()
			if err != nil {
				return err
			}
			sql := "ALTER ROLE CURRENT_USER WITH PASSWORD '" + strings.ReplaceAll(new, "'", "''") + "';\n"
			err = docker.ExecStdin(ctx, cli, p.Name, service, []string{"sh", "-c",
				`exec psql -X -v ON_ERROR_STOP=1 -v VERBOSITY=terse --quiet --username="${POSTGRES_USER:-postgres}" --dbname=postgres`},
				strings.NewReader(sql))
			if err != nil {
				// psql may quote the statement; never pass a value on.
				msg := strings.ReplaceAll(strings.ReplaceAll(err.Error(), new, "«new value»"), old, "«old value»")
				return errorString(msg)
			}
			return nil
		}}
	p.Requires = append(p.Requires, c.ID())
	return c
}

type errorString string

func (e errorString) Error() string { return string(e) }
