package backup

import (
	"context"
	"io"
	"os"
	"path/filepath"
	"strings"
)

// Hooks is what HostJobs needs to attach the services' quiesce steps and
// database dumps to a host's jobs.
type Hooks struct {
	// Env is handed to the services' Quiescer and Dumper (the Docker
	// client they act through).
	Env Env
	// DumpCommand returns the argv restic runs (--stdin-from-command) to
	// stream a service's dump: the agent itself, `homelab-agent
	// backup-dump --service S ...`, which calls the service's Dumper.
	DumpCommand func(service string) []string
}

// HostJobs returns jobs with each declared quiesce step (Nextcloud's
// maintenance mode, stopping Jellyfin) and database dump (Nextcloud, Immich) attached.
func HostJobs(jobs []Job, h Hooks) []Job {
	out := make([]Job, len(jobs))
	for i, j := range jobs {
		d := j.Declared
		if d.Quiesce != nil {
			j.Quiesce = QuiesceOf(d.Quiesce, h.Env)
		}
		if d.Dump != nil && h.DumpCommand != nil {
			dump := dumpOf(d.Dump)
			dump.Command = h.DumpCommand(j.Service)
			j.Dumps = append(j.Dumps, dump)
		}
		out[i] = j
	}
	return out
}

// dumpOf is the Dump a declared Dumper makes, without its Command: what a
// restore needs.
func dumpOf(d Dumper) Dump {
	dump := Dump{Name: strings.TrimSuffix(d.DumpName(), ".sql"), Check: d.DumpCheck()}
	dump.Container, dump.Restore = d.DumpRestore()
	return dump
}

// restoring returns j with the restore side of its declared dump (no
// dump command) when it has none attached: a self-restore's job.
func restoring(j Job) Job {
	if len(j.Dumps) == 0 && j.Declared.Dump != nil {
		j.Dumps = []Dump{dumpOf(j.Declared.Dump)}
	}
	return j
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

// WriteDump streams the dump of the named service among svcs to w; it is
// what the backup-dump command runs for restic.
func WriteDump(ctx context.Context, svcs []Service, name string, env Env, w io.Writer) error {
	for _, s := range svcs {
		if s.Name != name {
			continue
		}
		if s.Dump == nil {
			return &Error{Kind: KindConfig, Op: "dump", Code: -1, Msg: "service " + name + " has no database dump"}
		}
		return s.Dump.Dump(ctx, env, w)
	}
	return &Error{Kind: KindConfig, Op: "dump", Code: -1, Msg: "unknown service " + name}
}
