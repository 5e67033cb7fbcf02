package main

import (
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"path/filepath"
	"runtime"
	"syscall"

	"github.com/spf13/cobra"

	"github.com/homelab-agent/homelab-agent/agent"
	"github.com/homelab-agent/homelab-agent/agent/daemon"
)

// daemonConfig loads agent.yaml: --config when given, else
// <root>/etc/homelab-agent/agent.yaml, which may be absent when the
// environment sets everything (HOMELAB_AGENT_*).
func daemonConfig(c *cobra.Command, path, root string) (*daemon.Config, error) {
	optional := !c.Flags().Changed("config")
	if optional {
		path = filepath.Join(root, daemon.ConfigPath)
	}
	cfg, err := daemon.LoadConfig(path, optional, os.Environ())
	if err != nil {
		return nil, usageError{err}
	}
	if c.Flags().Changed("root") {
		cfg.Root = root
	}
	return cfg, nil
}

func newRun() *cobra.Command {
	var configPath, root, hooks string
	var only []string
	var quiet bool
	c := &cobra.Command{
		Use:   "run",
		Short: "Run the agent: follow the lab repo and converge this host",
		Long: `run is the long-running agent (a systemd Type=notify service). It clones the
lab repo into /var/lib/homelab-agent/repo, then every interval (default 15s,
with jitter) asks the server for the branch head and fetches only when it
moved. A new head is verified (trusted_keys), validated and applied; a head
that fails any of these is refused until a newer one arrives, and the host
stays on, or returns to, the last good commit. It serves GET /healthz,
GET /status, GET /metrics and POST /hooks/git on listen (default
127.0.0.1:9123). For a host with backups it runs the backup scheduler of
the last good commit (under a folder --root only with --only backup).
SIGTERM finishes the resource in progress, interrupts a running backup
(its quiesce step is undone) and exits.

Config: agent.yaml keys repo, branch, host, interval, listen, root,
auth.{ssh_key,known_hosts,token}, trusted_keys, webhook_secret,
allow_force_push; each also from HOMELAB_AGENT_<KEY> (see docs/daemon.md).`,
		Example: `  homelab-agent run --config /etc/homelab-agent/agent.yaml
  HOMELAB_AGENT_REPO=/srv/lab.git HOMELAB_AGENT_HOST=dns1 homelab-agent run --root /tmp/dns1`,
		Args: noArgs,
		RunE: func(c *cobra.Command, _ []string) error {
			// No heap profile is ever taken from the daemon: without
			// sampling its buckets cost no resident memory.
			runtime.MemProfileRate = 0
			cfg, err := daemonConfig(c, configPath, root)
			if err != nil {
				return err
			}
			if err := agent.CheckOnly(only); err != nil {
				return usageError{err}
			}
			switch agent.HookMode(hooks) {
			case agent.HooksAuto, agent.HooksRun, agent.HooksSkip:
			default:
				return usageError{fmt.Errorf("--hooks must be auto, run or skip, got %q", hooks)}
			}
			level := slog.LevelInfo
			if quiet {
				level = slog.LevelWarn
			}
			d, err := daemon.New(daemon.Options{Config: cfg, Only: only, Hooks: agent.HookMode(hooks),
				Log: daemon.NewLogger(c.ErrOrStderr(), level)})
			if err != nil {
				return usageError{err}
			}
			ctx, stop := signal.NotifyContext(c.Context(), syscall.SIGTERM, os.Interrupt)
			defer stop()
			return d.Run(ctx, nil)
		},
	}
	c.Flags().StringVar(&configPath, "config", daemon.ConfigPath, "the agent's config file")
	c.Flags().StringVar(&root, "root", "/", "prefix for every host path (overrides the config's root)")
	c.Flags().StringSliceVar(&only, "only", nil, "limit every pass to subsystems: files,firewall,containers,backup")
	c.Flags().StringVar(&hooks, "hooks", "auto", "run reload hooks: auto (only when the root is /), run, skip")
	c.Flags().BoolVarP(&quiet, "quiet", "q", false, "log only warnings and errors")
	c.RegisterFlagCompletionFunc("only", cobra.FixedCompletions(agent.Subsystems, cobra.ShellCompDirectiveNoFileComp))
	c.RegisterFlagCompletionFunc("hooks", cobra.FixedCompletions([]string{"auto", "run", "skip"}, cobra.ShellCompDirectiveNoFileComp))
	c.MarkFlagFilename("config", "yaml", "yml")
	c.MarkFlagDirname("root")
	return c
}
