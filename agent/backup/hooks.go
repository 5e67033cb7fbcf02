package backup

import (
	"context"
	"io"
	"os"
	"path/filepath"
	"strings"
	"sync"

	"github.com/homelab-agent/homelab-agent/agent/lab"
	"github.com/homelab-agent/homelab-agent/roles"
)

// Hooks is what HostJobs needs to attach the roles' quiesce steps and
// database dumps to a host's jobs.
type Hooks struct {
	// Quiesce is handed to the roles' Quiescer and Dumper (the Docker
	// client they act through).
	Quiesce roles.QuiesceEnv
	// DumpCommand returns the argv restic runs (--stdin-from-command) to
	// stream a service's dump: the agent itself, `homelab-agent
	// backup-dump --service S ...`, which calls the role's Dumper.
	DumpCommand func(service string) []string
}

// HostJobs returns the host's jobs with each role's quiesce step (Nextcloud's
// maintenance mode, stopping Jellyfin) and database dump (Immich) attached.
func HostJobs(l *lab.Lab, host string, h Hooks) []Job {
	jobs := Jobs(l, host)
	for i := range jobs {
		j := &jobs[i]
		r, ok := roles.Lookup(j.Service)
		if !ok {
			continue
		}
		if q, ok := r.(roles.Quiescer); ok {
			j.Quiesce = quiesceOf(q, h.Quiesce)
		}
		if d, ok := r.(roles.Dumper); ok && h.DumpCommand != nil {
			dump := Dump{Name: strings.TrimSuffix(d.DumpName(), ".sql"), Command: h.DumpCommand(j.Service)}
			if dr, ok := r.(roles.DumpRestorer); ok {
				dump.Container, dump.Restore = dr.DumpRestore()
			}
			j.Dumps = append(j.Dumps, dump)
		}
	}
	return jobs
}

// quiesceOf adapts a role's Quiescer: After runs the resume step Quiesce
// returned, even when Quiesce itself failed half-way.
func quiesceOf(q roles.Quiescer, env roles.QuiesceEnv) *Quiesce {
	var mu sync.Mutex
	var resume func(context.Context) error
	return &Quiesce{
		Before: func(ctx context.Context) error {
			r, err := q.Quiesce(ctx, env)
			mu.Lock()
			resume = r
			mu.Unlock()
			return err
		},
		After: func(ctx context.Context) error {
			mu.Lock()
			r := resume
			resume = nil
			mu.Unlock()
			if r == nil {
				return nil
			}
			return r(ctx)
		},
	}
}

// DumpCommand returns Hooks.DumpCommand for this binary: restic runs
// `<this binary> backup-dump --host H --repo R --root ROOT --service S`
// (a hidden command that calls WriteDump). repo is the lab repo checkout
// the dump command loads.
func DumpCommand(host, repo, root string) func(service string) []string {
	self, err := os.Executable()
	if err != nil {
		self = os.Args[0]
	}
	if abs, err := filepath.Abs(repo); err == nil {
		repo = abs
	}
	return func(service string) []string {
		return []string{self, "backup-dump", "--host", host, "--repo", repo, "--root", root, "--service", service}
	}
}

// WriteDump streams the service's dump (the role's Dumper) to w; it is what
// the backup-dump command runs for restic.
func WriteDump(ctx context.Context, service string, env roles.QuiesceEnv, w io.Writer) error {
	r, ok := roles.Lookup(service)
	if !ok {
		return &Error{Kind: KindConfig, Op: "dump", Code: -1, Msg: "unknown service " + service}
	}
	d, ok := r.(roles.Dumper)
	if !ok {
		return &Error{Kind: KindConfig, Op: "dump", Code: -1, Msg: "service " + service + " has no database dump"}
	}
	return d.Dump(ctx, env, w)
}
