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
type SelfRestore struct {
	Config Config
	Job    Job
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
// the service on an empty data folder.
func RequireRestores(rs []resource.Resource) {
	restores := map[string]bool{}
	for _, r := range rs {
		if s, ok := r.(*SelfRestore); ok {
			restores[s.Job.Service] = true
		}
	}
	for _, r := range rs {
		if p, ok := r.(*docker.Project); ok && restores[p.Name] && !slices.Contains(p.Requires, "restore:"+p.Name) {
			p.Requires = append(p.Requires, "restore:"+p.Name)
		}
	}
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
	dir := filepath.Join(cfg.Root, DataDir(s.Job.Service))
	empty, err := dirEmpty(dir)
	if err == nil && !empty {
		return nil, nil
	}
	if err != nil && !errors.Is(err, os.ErrNotExist) {
		return nil, fmt.Errorf("%s: %w", s.ID(), err)
	}
	r := &Runner{Config: cfg, Secrets: env.Secrets, Log: env.Log}
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
	ok, res, err := r.SelfRestore(ctx, s.Job)
	if err != nil || !ok {
		return nil, err
	}
	change.Summary = fmt.Sprintf("data folder %s was empty: restored snapshot %s of %s", DataDir(s.Job.Service), res.Plan.Snapshot.ShortID, res.Plan.Snapshot.Time.UTC().Format("2006-01-02 15:04 UTC"))
	return change, nil
}
