package nextcloud

import (
	"context"

	"github.com/docker/docker/client"

	"github.com/homelab-agent/homelab-agent/agent/docker"
	"github.com/homelab-agent/homelab-agent/agent/rotate"
	"github.com/homelab-agent/homelab-agent/roles"
)

// SecretAdminPassword is the password of Nextcloud's admin user, Admin
// (NEXTCLOUD_ADMIN_USER in the role's compose file).
const (
	SecretAdminPassword = "NEXTCLOUD_ADMIN_PASSWORD"
	Admin               = "admin"
)

// adminPassword is the admin's password as a credential the role owns.
// The image reads NEXTCLOUD_ADMIN_PASSWORD only when it installs
// Nextcloud; afterwards the password lives in the database. On a change,
// `occ user:resetpassword --password-from-env admin` runs in the app
// container as www-data with the new value in OC_PASS (never in an
// argv), before the containers are recreated with it.
func adminPassword(p *docker.Project) *rotate.Credential {
	return roles.Rotation(p, SecretAdminPassword, "occ user:resetpassword "+Admin, func(ctx context.Context, cli *client.Client, new string) error {
		return docker.ExecEnv(ctx, cli, Project, App, occUser,
			[]string{"php", "occ", "user:resetpassword", "--password-from-env", Admin}, []string{"OC_PASS=" + new}, nil)
	})
}
