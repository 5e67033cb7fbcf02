package roles

import (
	"context"
	"strings"

	"github.com/docker/docker/client"

	"github.com/homelab-agent/homelab-agent/agent/docker"
	"github.com/homelab-agent/homelab-agent/agent/resource"
	"github.com/homelab-agent/homelab-agent/agent/rotate"
)

// Rotation is a credential the role owns whose change is applied inside
// one of the project's containers: apply runs with the project's engine
// client and the new value before the containers are recreated. The
// project requires it: when it fails, the containers are not recreated
// with the new value, the old one keeps working, and the error, with both
// values replaced by placeholders, says so. how is for the plan:
// "secret NAME changed (rotate: how)".
func Rotation(p *docker.Project, secret, how string, apply func(ctx context.Context, cli *client.Client, new string) error) *rotate.Credential {
	c := &rotate.Credential{Secret: secret, How: how, Sub: docker.Subsystem,
		Apply: func(ctx context.Context, env *resource.Env, old, new string) error {
			cli, err := p.Client()
			if err != nil {
				return err
			}
			if err := apply(ctx, cli, new); err != nil {
				// The command may quote its input; never pass a value on.
				msg := strings.ReplaceAll(strings.ReplaceAll(err.Error(), new, "«new value»"), old, "«old value»")
				return errorString(msg)
			}
			return nil
		}}
	p.Requires = append(p.Requires, c.ID())
	return c
}

// PostgresPassword is a PostgreSQL user's password as a credential the
// role owns (a Rotation): on a change, `ALTER ROLE CURRENT_USER WITH
// PASSWORD` runs in the project's database container over its local
// socket (trusted in the official image, so the old password is not
// needed), as the image's POSTGRES_USER, with the statement on stdin
// (never in an argv). user is for the plan: "ALTER ROLE <user>". Only for
// the role's own compose file: a host's compose: override may name its
// services differently.
func PostgresPassword(p *docker.Project, service, user, secret string) *rotate.Credential {
	return Rotation(p, secret, "ALTER ROLE "+user, func(ctx context.Context, cli *client.Client, new string) error {
		sql := "ALTER ROLE CURRENT_USER WITH PASSWORD '" + strings.ReplaceAll(new, "'", "''") + "';\n"
		return docker.ExecStdin(ctx, cli, p.Name, service, []string{"sh", "-c",
			`exec psql -X -v ON_ERROR_STOP=1 -v VERBOSITY=terse --quiet --username="${POSTGRES_USER:-postgres}" --dbname=postgres`},
			strings.NewReader(sql))
	})
}

type errorString string

func (e errorString) Error() string { return string(e) }
