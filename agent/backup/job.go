// Package backup owns the backup subsystem: restic driven through its CLI
// with --json. It backs up each stateful service's data folder
// (/srv/data/<service>/) and its database dumps on a schedule, keeps the
// repository tidy (forget --prune, check --read-data-subset), records the
// outcome of every run for status and notifications, and restores a
// service's data: on demand, and by itself when a replaced VM comes up
// with an empty data folder.
//
// It knows no role: roles declare their stateful services (Service, with
// their Quiescer and Dumper), and the engine hands them in. Seams for the
// rest of the agent: Jobs (pure, from the declared services), HostJobs
// (Job.Quiesce and Job.Dumps), ServiceControl (the Docker Engine stops and
// starts a service's containers during a restore), Scheduler.Run (the
// daemon), Status (the daemon's /status and /metrics).
package backup

import (
	"context"
	"slices"

	"github.com/homelab-agent/homelab-agent/agent/lab"
)

// Job is one service's backup: plain data, so that the engine, the daemon
// and tests can build and inspect it.
type Job struct {
	// Service names the service; its data is /srv/data/<Service>/.
	Service string
	// Host is the lab host name restic records (--host).
	Host string
	// Paths are host paths to back up, each under /srv/data/<Service>.
	Paths []string
	// Excludes are restic --exclude patterns (e.g. a live database folder
	// that a dump covers).
	Excludes []string
	// Tags are extra restic tags; service:<Service> is always added.
	Tags []string
	// Quiesce makes the data consistent for the time of the backup
	// (maintenance mode, a stopped container); nil for none.
	Quiesce *Quiesce
	// Dumps are database dumps streamed into the repository, each as its
	// own snapshot taken at the same time as the files.
	Dumps []Dump
	// Declared is the service as its role declared it (for the schedule
	// file and HostJobs).
	Declared Service
}

// Quiesce brackets a backup. After always runs once Before was called,
// whether Before, the dumps or the backup failed.
type Quiesce struct {
	Before func(ctx context.Context) error
	After  func(ctx context.Context) error
}

// Dump is a database dump. Command runs on the host and writes the dump to
// its stdout (restic backup --stdin-from-command); a failing command fails
// the backup. Restore feeds the dump back on stdin.
type Dump struct {
	// Name becomes the file name in the snapshot: <Name>.sql.
	Name string
	// Command is the dump command's argv, e.g. docker exec immich_postgres
	// pg_dumpall --clean --if-exists -U postgres.
	Command []string
	// Container is the service's container that loads the dump (the
	// value of LabelComponent), e.g. "database".
	Container string
	// Restore is the argv run inside Container with the dump on stdin,
	// e.g. psql -U postgres -d postgres.
	Restore []string
	// Check is the argv run inside Container before Restore: it prints
	// what the database already holds, nothing when it is empty (see
	// Dumper.DumpCheck). Empty for no check.
	Check []string
}

// Filename is the dump's name inside its snapshot.
func (d Dump) Filename() string { return d.Name + ".sql" }

// DataDir is a service's data folder as a host path.
func DataDir(service string) string { return lab.DataDir(service) }

// Jobs returns a host's backup jobs: one per stateful service its roles
// declare, none when the lab configures no backups. It is pure; HostJobs
// attaches the quiesce steps and dumps.
func Jobs(c Config, svcs []Service) []Job {
	if !c.Enabled() {
		return nil
	}
	var jobs []Job
	for _, s := range svcs {
		jobs = append(jobs, Job{
			Service:  s.Name,
			Host:     c.Host,
			Paths:    []string{DataDir(s.Name)},
			Excludes: slices.Clone(s.Excludes),
			Declared: s,
		})
	}
	return jobs
}

func (j Job) tags() []string {
	return append([]string{"service:" + j.Service}, j.Tags...)
}
