package main

import (
	"fmt"
	"os"
	"path/filepath"

	"github.com/spf13/cobra"

	"github.com/homelab-agent/homelab-agent/agent"
	"github.com/homelab-agent/homelab-agent/agent/daemon"
	"github.com/homelab-agent/homelab-agent/agent/gitsync"
	"github.com/homelab-agent/homelab-agent/agent/lab"
	"github.com/homelab-agent/homelab-agent/agent/state"
)

// hostFlags are the flags of every command that acts on one host.
type hostFlags struct {
	host, repo, root string
	only             []string
	hooks            string
	verbose          bool
}

func (f *hostFlags) register(c *cobra.Command, withRoot, withOnly bool) {
	c.Flags().StringVar(&f.host, "host", "", "the host of homelab.yaml to act on (default on a guest: agent.yaml's host)")
	c.Flags().StringVar(&f.repo, "repo", "", "the lab repo folder (default on a guest: the agent's last good commit, else .)")
	if withRoot {
		c.Flags().StringVar(&f.root, "root", "/", "prefix for every host path (apply a host into a folder)")
		c.Flags().StringVar(&f.hooks, "hooks", "auto", "run reload hooks: auto (only when --root is /), run, skip")
		c.Flags().BoolVarP(&f.verbose, "verbose", "v", false, "log each change")
	}
	if withOnly {
		c.Flags().StringSliceVar(&f.only, "only", nil, "limit the pass to subsystems: files,firewall,containers,backup")
	}
	c.RegisterFlagCompletionFunc("only", cobra.FixedCompletions(agent.Subsystems, cobra.ShellCompDirectiveNoFileComp))
	c.RegisterFlagCompletionFunc("hooks", cobra.FixedCompletions([]string{"auto", "run", "skip"}, cobra.ShellCompDirectiveNoFileComp))
	c.RegisterFlagCompletionFunc("host", f.completeHosts)
	c.MarkFlagDirname("repo")
	c.MarkFlagDirname("root")
}

// completeHosts offers the host names of the lab repo given by --repo.
func (f *hostFlags) completeHosts(c *cobra.Command, _ []string, _ string) ([]string, cobra.ShellCompDirective) {
	f.guestDefaults()
	l, err := agent.LoadLab(f.repo)
	if err != nil {
		return nil, cobra.ShellCompDirectiveNoFileComp
	}
	var names []string
	for _, h := range l.Hosts {
		names = append(names, h.Name+"\t"+h.Role)
	}
	return names, cobra.ShellCompDirectiveNoFileComp
}

// guestDefaults fills --host and --repo on a guest: from agent.yaml
// (under --root) its host, and the agent's last good commit, exported from
// its clone without touching the daemon's work tree. Elsewhere --repo is
// the current folder.
func (f *hostFlags) guestDefaults() error {
	root := f.root
	if root == "" {
		root = "/"
	}
	if f.host != "" && f.repo != "" {
		return nil
	}
	cfg, err := daemon.LoadConfig(filepath.Join(root, daemon.ConfigPath), true, os.Environ())
	guest := err == nil && cfg.Host != ""
	if f.host == "" && guest {
		f.host = cfg.Host
	}
	if f.repo != "" {
		return nil
	}
	f.repo = "."
	if !guest {
		return nil
	}
	st, err := state.Load(root)
	if err != nil || st.LastGoodCommit == "" {
		return nil
	}
	dir, err := gitsync.Export(root, filepath.Join(root, gitsync.Dir), st.LastGoodCommit)
	if err != nil {
		return fmt.Errorf("reading the last good commit from the agent's clone: %w", err)
	}
	f.repo = dir
	return nil
}

// load checks the flags and loads the lab: all of homelab.yaml, and the
// compose projects of --host only when the pass runs containers.
func (f *hostFlags) load() (*lab.Lab, error) {
	if err := f.guestDefaults(); err != nil {
		return nil, err
	}
	if f.host == "" {
		return nil, usageError{fmt.Errorf("--host is required (no agent.yaml with a host on this machine)")}
	}
	if err := agent.CheckOnly(f.only); err != nil {
		return nil, usageError{err}
	}
	switch agent.HookMode(f.hooks) {
	case "", agent.HooksAuto, agent.HooksRun, agent.HooksSkip:
	default:
		return nil, usageError{fmt.Errorf("--hooks must be auto, run or skip, got %q", f.hooks)}
	}
	return agent.LoadFor(f.repo, f.host, agent.Options{Root: f.root, Only: f.only})
}

func (f *hostFlags) options(c *cobra.Command) agent.Options {
	return agent.Options{
		Root:  f.root,
		Only:  f.only,
		Hooks: agent.HookMode(f.hooks),
		Log:   logger(c.ErrOrStderr(), f.verbose),
	}
}
