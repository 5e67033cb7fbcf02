package backup

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"

	"github.com/homelab-agent/homelab-agent/agent/docker"
	"github.com/homelab-agent/homelab-agent/agent/resource"
)

// SelfRestore is the resource that gives a replaced VM its data back: when
// the service's data folder is missing or empty and the repository holds
// a snapshot of the service from this host, apply restores the latest one.
// It belongs to the containers subsystem and must come before the
// service's containers in the role's output, so that the data is in place
// before their first start. backup.auto_restore: false turns it off.
//
// A service with a database dump is restored in this order: the files,
// then the dump's database service alone (created from Project, the
// service's compose project, and started), the dump loaded once the
// database accepts connections, and then the project's pass starts the
// rest. The dump is never forced: a self-restore runs on an empty data
// folder, so the database it starts is freshly initialised; one that
// holds data anyway (kept outside the data folder by a compose override)
// refuses the dump. Until the dumps are loaded they are owed (OwedDir):
// each pass tries again and the project stays skipped.
type SelfRestore struct {
	Config Config
	Job    Job
	// Project is the service's compose project (RequireRestores links it):
	// it creates the database container before the project's first pass.
	Project *docker.Project
}

var (
	_ resource.Resource   = (*SelfRestore)(nil)
	_ resource.SecretUser = (*SelfRestore)(nil)
)

// SelfRestores returns a host's self-restore resources, one per backup
// job. It is pure.
func SelfRestores(cfg Config, jobs []Job) []resource.Resource {
	if !cfg.Enabled() || !cfg.AutoRestore {
		return nil
	}
	var out []resource.Resource
	for _, j := range jobs {
		out = append(out, &SelfRestore{Config: cfg, Job: j})
	}
	return out
}

// RequireRestores makes each service's container project
// (containers:<service>) depend on the service's restore:<service> in
// rs, so that a failed self-restore skips the project instead of starting
// the service on an empty data folder, and links the restore to the
// project (SelfRestore.Project), which starts the database for the dump.
func RequireRestores(rs []resource.Resource) {
	restores := map[string]*SelfRestore{}
	for _, r := range rs {
		if s, ok := r.(*SelfRestore); ok {
			restores[s.Job.Service] = s
		}
	}
	for _, r := range rs {
		p, ok := r.(*docker.Project)
		if !ok || restores[p.Name] == nil {
			continue
		}
		restores[p.Name].Project = p
		if !slices.Contains(p.Requires, "restore:"+p.Name) {
			p.Requires = append(p.Requires, "restore:"+p.Name)
		}
	}
}

// control is the self-restore's ServiceControl: none for a service
// without a dump (its files are all there is), else the Docker Engine,
// creating the database container from the project when it is missing.
func (s *SelfRestore) control(env *resource.Env, j Job) (ServiceControl, error) {
	if len(j.Dumps) == 0 || s.Project == nil {
		return nil, nil
	}
	cli, err := s.Project.Client()
	if err != nil {
		return nil, err
	}
	return &DockerControl{Client: cli, Create: func(ctx context.Context, _, component string) error {
		return s.Project.Up(ctx, env, component)
	}}, nil
}

// ID implements resource.Resource.
func (s *SelfRestore) ID() string { return "restore:" + s.Job.Service }

// Subsystem implements resource.Resource.
func (s *SelfRestore) Subsystem() string { return "containers" }

// SecretNames implements resource.SecretUser.
func (s *SelfRestore) SecretNames() []string { return s.Config.SecretNames() }

// CheckApply implements resource.Resource. With data in the folder it
// does nothing and asks the repository nothing.
func (s *SelfRestore) CheckApply(ctx context.Context, env *resource.Env, apply bool) (*resource.Change, error) {
	if !s.Config.AutoRestore || !s.Config.Enabled() {
		return nil, nil
	}
	cfg := s.Config
	cfg.Root = env.Root
	if cfg.Root == "" {
		cfg.Root = "/"
	}
	r := &Runner{Config: cfg, Secrets: env.Secrets, Log: env.Log}
	j := restoring(s.Job)
	if id, err := owed(cfg.Root, j.Service); err != nil || id != "" {
		if err != nil {
			return nil, fmt.Errorf("%s: %w", s.ID(), err)
		}
		return s.loadOwed(ctx, env, r, j, id, apply)
	}
	dir := filepath.Join(cfg.Root, DataDir(s.Job.Service))
	empty, err := dirEmpty(dir)
	if err == nil && !empty {
		return nil, nil
	}
	if err != nil && !errors.Is(err, os.ErrNotExist) {
		return nil, fmt.Errorf("%s: %w", s.ID(), err)
	}
	change := &resource.Change{ID: s.ID(), Subsystem: s.Subsystem(), Action: "create"}
	if !apply {
		snaps, err := r.Snapshots(ctx, s.Job.Service)
		if cfg.Init && errors.Is(err, ErrKind(KindNoRepository)) {
			return nil, nil
		}
		if err != nil {
			return nil, err
		}
		var latest *Snapshot
		for i := range snaps {
			if snaps[i].Dump() == "" && (latest == nil || snaps[i].Time.After(latest.Time)) {
				latest = &snaps[i]
			}
		}
		if latest == nil {
			return nil, nil
		}
		change.Summary = fmt.Sprintf("data folder %s is empty: restore snapshot %s of %s", DataDir(s.Job.Service), latest.ShortID, latest.Time.UTC().Format("2006-01-02 15:04 UTC"))
		return change, nil
	}
	if r.Control, err = s.control(env, j); err != nil {
		return nil, fmt.Errorf("%s: %w", s.ID(), err)
	}
	ok, res, err := r.SelfRestore(ctx, j)
	if err != nil || !ok {
		return nil, err
	}
	change.Summary = fmt.Sprintf("data folder %s was empty: restored snapshot %s of %s", DataDir(s.Job.Service), res.Plan.Snapshot.ShortID, res.Plan.Snapshot.Time.UTC().Format("2006-01-02 15:04 UTC"))
	if len(res.Warnings) == 0 {
		for _, d := range res.Plan.Dumps {
			change.Summary += fmt.Sprintf(" and loaded its database dump %s", d.Dump())
		}
	}
	for _, w := range res.Warnings {
		change.Summary += "; " + w
	}
	return change, nil
}

// loadOwed is CheckApply when a self-restore's dumps are still owed.
func (s *SelfRestore) loadOwed(ctx context.Context, env *resource.Env, r *Runner, j Job, id string, apply bool) (*resource.Change, error) {
	short := id[:min(8, len(id))]
	change := &resource.Change{ID: s.ID(), Subsystem: s.Subsystem(), Action: "update",
		Summary: fmt.Sprintf("the database dumps of snapshot %s are still to be loaded into %s", short, j.Service)}
	if !apply {
		return change, nil
	}
	var err error
	if r.Control, err = s.control(env, j); err != nil {
		return change, fmt.Errorf("%s: %w", s.ID(), err)
	}
	if _, _, err := r.LoadOwed(ctx, j); err != nil {
		return change, err
	}
	change.Summary = fmt.Sprintf("loaded the database dumps of snapshot %s into %s", short, j.Service)
	return change, nil
}
