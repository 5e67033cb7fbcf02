package main

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"slices"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"
	"golang.org/x/sys/unix"

	"github.com/homelab-agent/homelab-agent/agent"
	"github.com/homelab-agent/homelab-agent/agent/backup"
	"github.com/homelab-agent/homelab-agent/agent/secrets/vault"
)

// backupCmd holds what backup, snapshots and restore share.
type backupCmd struct {
	hostFlags
	service string
	// backups is what runner loaded.
	backups *agent.Backups
}

func (b *backupCmd) register(c *cobra.Command) {
	b.hostFlags.register(c, true, false)
	c.Flags().StringVar(&b.service, "service", "", "only this service (default: every stateful service of the host)")
}

// runner loads the lab and builds the host's backup runner and jobs.
func (b *backupCmd) runner(c *cobra.Command) (*backup.Runner, []backup.Job, error) {
	l, err := b.load()
	if err != nil {
		return nil, nil, labOrUsage(c, err)
	}
	hb, err := agent.HostBackups(l, b.host, b.root)
	if err != nil {
		return nil, nil, err
	}
	b.backups = hb
	cfg := hb.Config
	if !cfg.Enabled() {
		return nil, nil, fmt.Errorf("backup.repository is not set in homelab.yaml: the lab has no backups")
	}
	store, err := vault.LoadHost(cfg.Root, l.Dir, b.host, os.Environ())
	if err != nil {
		return nil, nil, err
	}
	// On the real host the services' quiesce steps and dumps act on the
	// Docker Engine; a folder --root has no containers to quiesce.
	jobs, err := hb.HookedJobs(b.repo)
	if err != nil {
		return nil, nil, err
	}
	if b.service != "" {
		var names []string
		for _, j := range jobs {
			names = append(names, j.Service)
		}
		if !slices.Contains(names, b.service) {
			return nil, nil, usageError{fmt.Errorf("host %s backs up no service %q (its services: %s)", b.host, b.service, orNone(names))}
		}
		jobs = slices.DeleteFunc(jobs, func(j backup.Job) bool { return j.Service != b.service })
	}
	r := &backup.Runner{Config: cfg, Secrets: store, Log: logger(c.ErrOrStderr(), b.verbose)}
	return r, jobs, nil
}

func newBackup() *cobra.Command {
	var b backupCmd
	c := &cobra.Command{
		Use:   "backup",
		Short: "Back up the host's stateful services now",
		Long: `backup runs the host's backup jobs now, as the daemon does on schedule: for
each stateful service it quiesces the service, streams its database dumps and
backs up /srv/data/<service>/ with restic, then records the outcome (see
homelab-agent status). The exit status is 1 if any service failed.`,
		Example: `  homelab-agent backup --host cloud
  homelab-agent backup --host photos --service immich -v`,
		Args: noArgs,
		RunE: func(c *cobra.Command, _ []string) error {
			r, jobs, err := b.runner(c)
			if err != nil {
				return err
			}
			if len(jobs) == 0 {
				fmt.Fprintf(c.OutOrStdout(), "host %s has no stateful service to back up\n", b.host)
				return nil
			}
			failed := false
			for _, res := range r.Backup(c.Context(), jobs) {
				if res.Err != nil {
					failed = true
					fmt.Fprintf(c.OutOrStdout(), "%s: FAILED after %s: %v\n", res.Service, res.Duration.Round(time.Millisecond), res.Err)
					continue
				}
				fmt.Fprintf(c.OutOrStdout(), "%s: snapshot %.8s, %s added, %d files, %s\n", res.Service, res.SnapshotID, backup.HumanBytes(res.BytesAdded), res.Files, res.Duration.Round(time.Millisecond))
			}
			if failed {
				return silentError
			}
			return nil
		},
	}
	b.register(c)
	return c
}

func newSnapshots() *cobra.Command {
	var b backupCmd
	var asJSON bool
	c := &cobra.Command{
		Use:   "snapshots",
		Short: "List the host's snapshots in the repository",
		Long: `snapshots lists the restic snapshots this host made, oldest first: the files
of each service and, as their own snapshots taken at the same time, its
database dumps. --json prints restic's snapshot objects.`,
		Example: `  homelab-agent snapshots --host cloud
  homelab-agent snapshots --host photos --service immich --json`,
		Args: noArgs,
		RunE: func(c *cobra.Command, _ []string) error {
			r, _, err := b.runner(c)
			if err != nil {
				return err
			}
			snaps, err := r.Snapshots(c.Context(), b.service)
			if err != nil {
				return err
			}
			if asJSON {
				if snaps == nil {
					snaps = []backup.Snapshot{}
				}
				e := json.NewEncoder(c.OutOrStdout())
				e.SetIndent("", "  ")
				return e.Encode(snaps)
			}
			w := tabwriter.NewWriter(c.OutOrStdout(), 0, 4, 2, ' ', 0)
			fmt.Fprintln(w, "ID\tTIME\tSERVICE\tCONTENT\tSIZE")
			for _, s := range snaps {
				content, size := "files", ""
				if d := s.Dump(); d != "" {
					content = "dump " + d
				}
				if s.Summary != nil {
					size = backup.HumanBytes(s.Summary.TotalBytesProcessed)
				}
				fmt.Fprintf(w, "%s\t%s\t%s\t%s\t%s\n", s.ShortID, s.Time.Local().Format("2006-01-02 15:04:05"), s.Service(), content, size)
			}
			return w.Flush()
		},
	}
	b.register(c)
	c.Flags().BoolVar(&asJSON, "json", false, "print the snapshots as JSON")
	return c
}

func newRestore() *cobra.Command {
	var b backupCmd
	var snapshot string
	var yes, force bool
	c := &cobra.Command{
		Use:   "restore",
		Short: "Bring a service's data back from a snapshot",
		Long: `restore stops the service's containers, restores the snapshot into a
temporary folder on the data disk (/srv/data/.restore-<service>-<time>),
verifies it (restic restore --verify), moves the current data aside to
/srv/data/<service>.pre-restore-<time> and the restored data in its place
(renames, on the same disk), loads the database dumps taken with the
snapshot, starts the service and waits until it is healthy.

A service backed up with a database dump (Nextcloud, Immich) is restored
in this order: the files, then the database container alone, a wait until
it accepts connections (pg_isready), the dump (psql -v ON_ERROR_STOP=1: a
statement that fails fails the restore with psql's message, and the
service is not started), then the rest of the service. A dump is loaded
only into a database that holds no tables yet (as after a files restore,
which sets the old database folder aside); over one that holds data the
restore stops with what it found, unless --force is given.

The previous data is never deleted: once the service works, remove the
pre-restore folder yourself (rm -rf /srv/data/<service>.pre-restore-<time>).
Without --yes, restore shows what it will do and asks.`,
		Example: `  homelab-agent restore --host cloud
  homelab-agent restore --host photos --service immich --snapshot 4f2a9c1e --yes`,
		Args: noArgs,
		RunE: func(c *cobra.Command, _ []string) error {
			r, jobs, err := b.runner(c)
			if err != nil {
				return err
			}
			switch {
			case len(jobs) == 0:
				return fmt.Errorf("host %s has no stateful service to restore", b.host)
			case len(jobs) > 1 && b.service == "":
				return usageError{fmt.Errorf("host %s has several services: choose one with --service", b.host)}
			}
			if r.Config.Root == "/" {
				ctl, err := b.backups.Control(r.Secrets, r.Log)
				if err != nil {
					return err
				}
				r.Control = ctl
			}
			out := c.OutOrStdout()
			in := bufio.NewReader(c.InOrStdin())
			opts := backup.RestoreOptions{Job: jobs[0], Snapshot: snapshot, Force: force, Progress: c.ErrOrStderr(), Terminal: isTerminal(c.ErrOrStderr())}
			opts.Confirm = func(p *backup.RestorePlan) bool {
				p.Describe(out)
				if yes {
					return true
				}
				fmt.Fprint(out, "Proceed? [y/N] ")
				answer, _ := in.ReadString('\n')
				answer = strings.ToLower(strings.TrimSpace(answer))
				return answer == "y" || answer == "yes"
			}
			res, err := r.Restore(c.Context(), opts)
			if res != nil {
				for _, w := range res.Warnings {
					fmt.Fprintf(c.ErrOrStderr(), "warning: %s\n", w)
				}
			}
			if err != nil {
				return err
			}
			p := res.Plan
			fmt.Fprintf(out, "restored %s from snapshot %s in %s\n", p.Service, p.Snapshot.ShortID, res.Duration.Round(time.Millisecond))
			if !p.DataEmpty {
				fmt.Fprintf(out, "the previous data is kept in %s; remove it once the service works: rm -rf %s\n", p.PreRestore, p.PreRestore)
			}
			return nil
		},
	}
	b.register(c)
	c.Flags().StringVar(&snapshot, "snapshot", "latest", "snapshot ID (or a unique prefix), or latest")
	c.Flags().BoolVar(&yes, "yes", false, "do not ask for confirmation")
	c.Flags().BoolVar(&force, "force", false, "load the database dumps even into a database that already holds data (replacing it)")
	return c
}

func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	if !ok {
		return false
	}
	_, err := unix.IoctlGetTermios(int(f.Fd()), unix.TCGETS)
	return err == nil
}

func newBackupDump() *cobra.Command {
	var b backupCmd
	c := &cobra.Command{
		Use:    "backup-dump",
		Short:  "Write a service's database dump to stdout (run by restic during a backup)",
		Hidden: true,
		Args:   noArgs,
		RunE: func(c *cobra.Command, _ []string) error {
			if b.service == "" {
				return usageError{fmt.Errorf("--service is required")}
			}
			l, err := b.load()
			if err != nil {
				return labOrUsage(c, err)
			}
			hb, err := agent.HostBackups(l, b.host, b.root)
			if err != nil {
				return err
			}
			return hb.WriteDump(c.Context(), b.service, c.OutOrStdout())
		},
	}
	b.register(c)
	return c
}
