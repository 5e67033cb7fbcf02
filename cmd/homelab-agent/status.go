package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/homelab-agent/homelab-agent/agent/backup"
	"github.com/homelab-agent/homelab-agent/agent/daemon"
	"github.com/homelab-agent/homelab-agent/agent/images"
	"github.com/homelab-agent/homelab-agent/agent/state"
)

func newStatus() *cobra.Command {
	var configPath, root, addr, repo string
	var asJSON, asFleet bool
	var peers []string
	c := &cobra.Command{
		Use:   "status",
		Short: "Ask the local agent what it applied, from which commit, and what failed",
		Long: `status asks the running agent (GET /status on its listen address) and prints
the applied, last good and head commits, a refused commit with its reason
(homelab.yaml:LINE:COL lines), sync staleness and each resource's result.
--json prints the agent's JSON as is. The exit status is 1 when the agent
cannot be reached (what state.json says is printed instead), when the head
is refused, the last sync failed or is stale, the last pass failed, or a
backup, prune or check failed or is stale (older than twice its interval).

--fleet asks every host of the lab instead (GET /fleet/status on its lab IP,
signed with the lab's FLEET_KEY secret, from this host's secrets or
HOMELAB_SECRET_FLEET_KEY) and prints one line per host: role, wave, applied
and last good commit, health, last backup, sync, drift; then the problems.
It exits 1 when any host is unreachable, refused a commit, is unhealthy,
stale, or has a failing backup.`,
		Example: `  homelab-agent status
  homelab-agent status --json | jq .last_good_commit
  homelab-agent status --fleet
  homelab-agent status --fleet --repo ./lab --peer media=127.0.0.1:19123`,
		Args: noArgs,
		RunE: func(c *cobra.Command, _ []string) error {
			cfg, err := daemonConfig(c, configPath, root)
			if err != nil {
				return err
			}
			if asFleet {
				return fleetStatus(c, cfg, repo, peers, asJSON)
			}
			if addr == "" {
				addr = cfg.Listen
			}
			body, err := fetchStatus(c.Context(), addr)
			out := c.OutOrStdout()
			if err != nil {
				fmt.Fprintf(c.ErrOrStderr(), "homelab-agent: the agent is not reachable at %s: %v\n", addr, err)
				if st, serr := state.Load(cfg.Root); serr == nil {
					fmt.Fprintf(out, "from %s:\n", state.Path)
					fmt.Fprintf(out, "  applied    %s\n  last good  %s\n", orDefault(st.AppliedCommit, "-"), orDefault(st.LastGoodCommit, "-"))
					if st.BadCommit != "" {
						fmt.Fprintf(out, "  refused    %s\n%s", st.BadCommit, indent(st.BadReason, "    "))
					}
				}
				return silentError
			}
			var s daemon.Status
			if err := json.Unmarshal(body, &s); err != nil {
				return fmt.Errorf("reading the agent's status: %w", err)
			}
			if asJSON {
				out.Write(body)
			} else {
				writeStatus(out, &s, time.Now())
			}
			if unhealthy(&s) {
				return silentError
			}
			return nil
		},
	}
	c.Flags().StringVar(&configPath, "config", daemon.ConfigPath, "the agent's config file (for its listen address)")
	c.Flags().StringVar(&root, "root", "/", "prefix for host paths (where the config and state are)")
	c.Flags().StringVar(&addr, "addr", "", "the agent's address (default: listen from the config)")
	c.Flags().BoolVar(&asJSON, "json", false, "print the status as JSON")
	c.Flags().BoolVar(&asFleet, "fleet", false, "every host of the lab, one line each")
	c.Flags().StringVar(&repo, "repo", "", "with --fleet: the lab repo (default: the agent's clone)")
	c.Flags().StringArrayVar(&peers, "peer", nil, "with --fleet: HOST=ADDR, where a host's agent answers (default: its lab IP and the agent's port)")
	return c
}

func fetchStatus(ctx context.Context, addr string) ([]byte, error) {
	if host, port, err := net.SplitHostPort(addr); err == nil && (host == "" || host == "0.0.0.0" || host == "::") {
		addr = net.JoinHostPort("127.0.0.1", port)
	}
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, "GET", "http://"+addr+"/status", nil)
	if err != nil {
		return nil, err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("GET /status: %s", resp.Status)
	}
	return io.ReadAll(resp.Body)
}

// unhealthy reports whether the status shows a problem (exit status 1).
func unhealthy(s *daemon.Status) bool {
	return s.Stale || s.SyncError != "" || s.LastError != "" || (s.BadCommit != "" && s.BadCommit == s.HeadCommit) ||
		(s.Backup != nil && len(s.Backup.Problems) > 0) || (s.Health != nil && !s.Health.OK) ||
		slices.ContainsFunc(s.Images, func(i daemon.ImageStatus) bool { return i.Last != nil && i.Last.Result != images.ResultUpdated })
}

// writeStatus prints the status for a person.
func writeStatus(w io.Writer, s *daemon.Status, now time.Time) {
	fmt.Fprintf(w, "host       %s (%s)\nrepo       %s (branch %s, every %s)\n", s.Host, orDefault(s.Role, "?"), s.Repo, s.Branch, s.Interval)
	fmt.Fprintf(w, "applied    %s\n", commitNote(s.AppliedCommit, s.AppliedCommit == s.LastGoodCommit && s.AppliedCommit != ""))
	fmt.Fprintf(w, "last good  %s\n", orDefault(s.LastGoodCommit, "-"))
	fmt.Fprintf(w, "head       %s\n", orDefault(s.HeadCommit, "-"))
	if h := s.Health; h != nil {
		if h.OK {
			fmt.Fprintf(w, "health     ok (%d probes, %s)\n", len(h.Results), h.CheckedAt.Local().Format("15:04:05"))
		} else {
			fmt.Fprintf(w, "UNHEALTHY  %s\n", h.Failure)
		}
	}
	if s.Waiting != "" {
		fmt.Fprintf(w, "waiting    %s\n", s.Waiting)
	}
	if d := s.Drift; d != nil {
		fmt.Fprintf(w, "drift      %d repaired, last %s: %s\n", d.Repaired, d.Last.Local().Format("2006-01-02 15:04:05"), strings.Join(d.LastChanges, "; "))
	}
	for _, warning := range s.Warnings {
		fmt.Fprintf(w, "WARNING    %s\n", warning)
	}
	if s.RemoteCommit != "" {
		fmt.Fprintf(w, "server     %s (refused)\n", s.RemoteCommit)
	}
	if s.BadCommit != "" {
		fmt.Fprintf(w, "refused    %s:\n%s", s.BadCommit, indent(s.BadReason, "    "))
	}
	sync := "never"
	if !s.LastSyncOK.IsZero() {
		sync = fmt.Sprintf("%s (%s ago)", s.LastSyncOK.Format(time.RFC3339), now.Sub(s.LastSyncOK).Round(time.Second))
	}
	fmt.Fprintf(w, "last sync  %s\n", sync)
	if s.Stale {
		fmt.Fprintf(w, "STALE      no successful sync for %s\n", (time.Duration(s.StaleSeconds) * time.Second).Round(time.Second))
	}
	if s.SyncError != "" {
		fmt.Fprintf(w, "sync error %s\n", s.SyncError)
	}
	if !s.NextSync.IsZero() && s.NextSync.After(now) {
		fmt.Fprintf(w, "next sync  in %s\n", s.NextSync.Sub(now).Round(time.Second))
	}
	count := map[string]int{}
	for _, r := range s.Resources {
		count[r.Status]++
	}
	fmt.Fprintf(w, "resources  %d: %d ok, %d changed, %d failed, %d skipped\n", len(s.Resources), count["ok"], count["changed"], count["failed"], count["skipped"])
	for _, r := range s.Resources {
		if r.Status == "failed" || r.Status == "skipped" {
			fmt.Fprintf(w, "  %s %s: %s\n", r.Status, r.ID, r.Error)
		}
	}
	if s.LastError != "" {
		fmt.Fprintf(w, "last error\n%s", indent(s.LastError, "    "))
	}
	if s.Backup != nil {
		writeBackup(w, s.Backup, now)
	}
	writeImages(w, s.Images)
}

// writeImages prints each service's image: what runs, an available
// update, the last update and its result (a failed one in capitals).
func writeImages(w io.Writer, list []daemon.ImageStatus) {
	for i, im := range list {
		head := "           "
		if i == 0 {
			head = "images     "
		}
		running := orDefault(im.Running, im.Image)
		fmt.Fprintf(w, "%s%s/%s: %s %s (%s)", head, im.Project, im.Service, running, orDefault(im.Digest, "no digest"), orDefault(string(im.Policy), "off"))
		if im.Available != "" {
			fmt.Fprintf(w, ", update available %s", im.Available)
		}
		if im.CheckError != "" {
			fmt.Fprintf(w, ", CHECK FAILED: %s", im.CheckError)
		}
		fmt.Fprintln(w)
		if u := im.Last; u != nil {
			mark := "last update"
			if u.Result != images.ResultUpdated {
				mark = "LAST UPDATE " + strings.ToUpper(u.Result)
			}
			fmt.Fprintf(w, "             %s %s: %s -> %s", mark, u.At.Format(time.RFC3339), u.From, u.To)
			if u.Error != "" {
				fmt.Fprintf(w, ": %s", u.Error)
			}
			fmt.Fprintln(w)
		}
		if pd := im.Pending; pd != nil {
			fmt.Fprintf(w, "             update in progress since %s: %s -> %s (judged at the agent's next start if it stops first)\n", pd.At.Format(time.RFC3339), pd.From, pd.To)
		}
	}
}

// writeBackup prints the backup section: settings, each service's last
// runs, prune and check, and the problems.
func writeBackup(w io.Writer, b *daemon.BackupStatus, now time.Time) {
	fmt.Fprintf(w, "backup     %s, schedule %q (+%s), prune %q, check %q\n", b.Repository, b.Schedule, b.HostDelay, b.PruneSchedule, b.CheckSchedule)
	switch {
	case !b.Scheduled:
		fmt.Fprintf(w, "           not scheduled by this agent (a folder --root runs the scheduler only with --only backup)\n")
	case !b.NextBackup.IsZero():
		fmt.Fprintf(w, "           next backup %s (in %s)\n", b.NextBackup.Format(time.RFC3339), b.NextBackup.Sub(now).Round(time.Second))
	}
	ago := func(t time.Time) string {
		return fmt.Sprintf("%s (%s ago)", t.Format(time.RFC3339), now.Sub(t).Round(time.Second))
	}
	line := func(name string, r backup.Record, stale bool) {
		state := "ok"
		switch {
		case r.Failing():
			state = "FAILED"
		case stale:
			state = "STALE"
		case r.LastRun.IsZero():
			state = "never run"
		}
		fmt.Fprintf(w, "  %-10s %s", name, state)
		if !r.LastSuccess.IsZero() {
			fmt.Fprintf(w, ", last success %s", ago(r.LastSuccess))
			if r.SnapshotID != "" {
				fmt.Fprintf(w, ", snapshot %.8s, %s added", r.SnapshotID, backup.HumanBytes(r.BytesAdded))
			}
		}
		if r.DurationSeconds > 0 {
			fmt.Fprintf(w, ", took %s", (time.Duration(r.DurationSeconds * float64(time.Second))).Round(time.Millisecond))
		}
		fmt.Fprintln(w)
		if r.Failing() {
			fmt.Fprintf(w, "    failed %s: %s\n", ago(r.LastFailure), r.LastError)
		}
	}
	for _, s := range b.Services {
		line(s.Service, s.Record, s.Stale)
	}
	for _, m := range []struct {
		name string
		r    *backup.Record
	}{{"prune", b.Prune}, {"check", b.Check}} {
		if m.r != nil {
			line(m.name, *m.r, false)
		} else {
			line(m.name, backup.Record{}, false)
		}
	}
	if b.Error != "" {
		fmt.Fprintf(w, "  error      %s\n", b.Error)
	}
	for _, p := range b.Problems {
		fmt.Fprintf(w, "  PROBLEM    %s\n", p)
	}
}

func commitNote(c string, good bool) string {
	if c == "" {
		return "-"
	}
	if good {
		return c + " (good)"
	}
	return c
}

func indent(s, pre string) string {
	var b strings.Builder
	for _, l := range strings.Split(strings.TrimRight(s, "\n"), "\n") {
		b.WriteString(pre + l + "\n")
	}
	return b.String()
}
