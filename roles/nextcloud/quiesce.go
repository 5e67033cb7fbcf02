package nextcloud

import (
	"context"

	"github.com/homelab-agent/homelab-agent/agent/backup"
	"github.com/homelab-agent/homelab-agent/agent/docker"
)

// occUser runs occ as the web server's user (www-data in the official image).
const occUser = "33"

// quiesce turns maintenance mode on for the backup, off again in resume.
type quiesce struct{}

// Quiesce implements backup.Quiescer.
func (quiesce) Quiesce(ctx context.Context, q backup.Env) (func(context.Context) error, error) {
	occ := func(ctx context.Context, mode string) error {
		return docker.Exec(ctx, q.Docker, Project, App, occUser, []string{"php", "occ", "maintenance:mode", mode}, nil)
	}
	resume := func(ctx context.Context) error { return occ(ctx, "--off") }
	return resume, occ(ctx, "--on")
}
