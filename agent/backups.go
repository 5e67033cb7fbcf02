package agent

import (
	"context"
	"fmt"
	"io"
	"log/slog"

	"github.com/homelab-agent/homelab-agent/agent/backup"
	"github.com/homelab-agent/homelab-agent/agent/clock"
	"github.com/homelab-agent/homelab-agent/agent/docker"
	"github.com/homelab-agent/homelab-agent/agent/lab"
	"github.com/homelab-agent/homelab-agent/agent/resource"
	"github.com/homelab-agent/homelab-agent/agent/role"
	"github.com/homelab-agent/homelab-agent/agent/secrets"
)

// Backups is a host's backups as a lab commit declares them: the
// resolved settings and one job per stateful service the host's role
// declares. The CLI's backup commands and the daemon's scheduler both
// start from it.
type Backups struct {
	Lab    *lab.Lab
	Host   *lab.Host
	Config backup.Config
	// Services are the stateful services the role declares.
	Services []backup.Service
	// Jobs are the plain jobs (no quiesce steps or dumps attached).
	Jobs []backup.Job
}

// HostBackups resolves the host's backups; root prefixes host paths.
func HostBackups(l *lab.Lab, host, root string) (*Backups, error) {
	h := l.Hosts.Get(host)
	if h == nil {
		return nil, fmt.Errorf("host %q is not in %s", host, lab.LabFile)
	}
	cfg, err := backup.ConfigFor(l, host, root)
	if err != nil {
		return nil, err
	}
	svcs, err := statefulOf(l, h)
	if err != nil {
		return nil, err
	}
	return &Backups{Lab: l, Host: h, Config: cfg, Services: svcs, Jobs: backup.Jobs(cfg, svcs)}, nil
}

// statefulOf returns the stateful services the host's role declares.
func statefulOf(l *lab.Lab, h *lab.Host) ([]backup.Service, error) {
	r, ok := role.Lookup(h.Role)
	if !ok {
		return nil, fmt.Errorf("host %s: unknown role %q", h.Name, h.Role)
	}
	out, err := r.Build(role.Input{Lab: l, Host: h})
	if err != nil {
		return nil, fmt.Errorf("role %s: %w", r.Name(), err)
	}
	return out.Stateful, nil
}

// HookedJobs returns the jobs with the services' quiesce steps and dumps
// attached, acting on the machine's Docker Engine. repoDir is the lab
// checkout the dump command (backup-dump) loads. Under a folder root
// there are no containers to quiesce: the plain jobs are returned.
func (b *Backups) HookedJobs(repoDir string) ([]backup.Job, error) {
	if b.Config.Root != "/" {
		return b.Jobs, nil
	}
	cli, err := docker.Shared()
	if err != nil {
		return nil, err
	}
	return backup.HostJobs(b.Jobs, backup.Hooks{
		Env:         backup.Env{Lab: b.Lab, Host: b.Host, Docker: cli},
		DumpCommand: backup.DumpCommand(b.Host.Name, repoDir, b.Config.Root),
	}), nil
}

// WriteDump streams the named service's database dump to w: what the
// hidden backup-dump command runs for restic.
func (b *Backups) WriteDump(ctx context.Context, service string, w io.Writer) error {
	cli, err := docker.Shared()
	if err != nil {
		return err
	}
	return backup.WriteDump(ctx, b.Services, service, backup.Env{Lab: b.Lab, Host: b.Host, Docker: cli}, w)
}

// Control returns the Docker Engine's ServiceControl for `restore` on this
// host: a database container that is missing (removed by hand) is
// created from the service's compose project as a pass would make it,
// with the host's secrets, before the dump is loaded into it.
func (b *Backups) Control(store *secrets.Store, log *slog.Logger) (*backup.DockerControl, error) {
	ctl, err := backup.NewDockerControl()
	if err != nil {
		return nil, err
	}
	env := &resource.Env{Root: b.Config.Root, Secrets: store, Log: log}
	ctl.Create = func(ctx context.Context, service, component string) error {
		_, out, err := Desired(b.Lab, b.Host.Name, nil, clock.Real.Now())
		if err != nil {
			return err
		}
		for _, r := range out.Resources {
			if p, ok := r.(*docker.Project); ok && p.Name == service {
				return p.Up(ctx, env, component)
			}
		}
		return fmt.Errorf("host %s runs no compose project %s", b.Host.Name, service)
	}
	return ctl, nil
}
