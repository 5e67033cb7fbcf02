package main

import (
	"fmt"
	"runtime"
	"runtime/debug"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/homelab-agent/homelab-agent/agent"
	"github.com/homelab-agent/homelab-agent/agent/lab"
	"github.com/homelab-agent/homelab-agent/agent/role"
)

func newValidate() *cobra.Command {
	var repo string
	c := &cobra.Command{
		Use:   "validate",
		Short: "Check the whole lab repo for every host; touch nothing",
		Long: `validate parses homelab.yaml strictly and checks the lab as a whole, then
builds every host's desired state. Every problem is printed as
homelab.yaml:LINE:COL: message, and the exit status is 1 if there is any.
On success it lists each host with the secrets it needs.`,
		Example: `  homelab-agent validate --repo ./lab
  homelab-agent validate --repo /var/lib/homelab-agent/repo`,
		Args: noArgs,
		RunE: func(c *cobra.Command, _ []string) error {
			l, err := agent.LoadLab(repo)
			if err != nil {
				return labError(c, err)
			}
			out := c.OutOrStdout()
			for _, name := range role.Names() {
				for _, h := range l.WithRole(name) {
					_, d, err := agent.Desired(l, h.Name, nil, time.Now())
					if err != nil {
						return err
					}
					need := agent.SecretsOf(d)
					fmt.Fprintf(out, "%-10s %-16s %-15s %d resources, secrets: %s\n", h.Name, h.Role, h.IP, len(d.Resources), orNone(need))
				}
			}
			fmt.Fprintf(out, "%s: ok (%d hosts, %d apps)\n", lab.LabFile, len(l.Hosts), len(l.Apps))
			return nil
		},
	}
	c.Flags().StringVar(&repo, "repo", ".", "the lab repo folder")
	c.MarkFlagDirname("repo")
	return c
}

func orNone(s []string) string {
	if len(s) == 0 {
		return "none"
	}
	return strings.Join(s, ", ")
}

// labError prints every lab problem on its own line and fails quietly.
func labError(c *cobra.Command, err error) error {
	fmt.Fprintln(c.ErrOrStderr(), err)
	return silentError
}

func newPlan() *cobra.Command {
	var f hostFlags
	var asJSON bool
	c := &cobra.Command{
		Use:   "plan",
		Short: "Show what apply would change on a host",
		Long: `plan runs the apply pass without changing anything and prints every change it
would make: file diffs (unified, secrets redacted), hooks that would run, and
the secrets the host needs. --json prints the report in its stable JSON form
(see the README). The exit status is 1 when the pass would fail.`,
		Example: `  homelab-agent plan --host dns1 --repo ./lab --root /tmp/dns1
  homelab-agent plan --host proxy --json | jq '.changes[].id'`,
		Args: noArgs,
		RunE: func(c *cobra.Command, _ []string) error {
			l, err := f.load()
			if err != nil {
				return labOrUsage(c, err)
			}
			rep, err := agent.Plan(c.Context(), l, f.host, f.options(c))
			return report(c, rep, err, asJSON)
		},
	}
	f.register(c, true, true)
	c.Flags().BoolVar(&asJSON, "json", false, "print the plan as JSON")
	return c
}

func newApply() *cobra.Command {
	var f hostFlags
	var asJSON bool
	c := &cobra.Command{
		Use:   "apply",
		Short: "Converge a host in one pass",
		Long: `apply makes the host what the lab repo says: it writes changed files
atomically, then runs the reload hooks of what changed. A second apply right
after the first prints "no changes" and touches nothing. Every resource is
tried even if another fails; the exit status is 1 if any failed. apply
refuses to start when a secret the host needs is missing.`,
		Example: `  homelab-agent apply --host dns1 --repo /var/lib/homelab-agent/repo
  homelab-agent apply --host dns1 --repo ./lab --root /tmp/dns1   # into a folder
  homelab-agent apply --host media --only files`,
		Args: noArgs,
		RunE: func(c *cobra.Command, _ []string) error {
			l, err := f.load()
			if err != nil {
				return labOrUsage(c, err)
			}
			rep, err := agent.Apply(c.Context(), l, f.host, f.options(c))
			return report(c, rep, err, asJSON)
		},
	}
	f.register(c, true, true)
	c.Flags().BoolVar(&asJSON, "json", false, "print the report as JSON")
	return c
}

func labOrUsage(c *cobra.Command, err error) error {
	if _, ok := err.(*lab.Errors); ok {
		return labError(c, err)
	}
	return err
}

// report prints a pass's report; a failed pass exits 1 after printing it.
func report(c *cobra.Command, rep *agent.Report, err error, asJSON bool) error {
	if rep == nil {
		return err
	}
	if asJSON {
		if werr := rep.WriteJSON(c.OutOrStdout()); werr != nil {
			return werr
		}
	} else {
		rep.WriteText(c.OutOrStdout(), true)
	}
	if err != nil {
		if !asJSON {
			fmt.Fprintf(c.ErrOrStderr(), "homelab-agent: %s: %d error(s)\n", rep.Mode, len(rep.Errors))
		}
		return silentError
	}
	return nil
}

func newRender() *cobra.Command {
	var f hostFlags
	var out string
	c := &cobra.Command{
		Use:   "render",
		Short: "Write every file a host would get under a folder, for review",
		Long: `render writes the files of a host's desired state under --out, at their host
paths (--out/etc/bind/named.conf ...). Secrets are never resolved: files keep
their ${secret:NAME} references. Nothing else is touched.`,
		Example: `  homelab-agent render --host dns1 --repo ./lab --out /tmp/review
  diff -ru /tmp/review-old /tmp/review`,
		Args: noArgs,
		RunE: func(c *cobra.Command, _ []string) error {
			if out == "" {
				return usageError{fmt.Errorf("--out is required")}
			}
			l, err := f.load()
			if err != nil {
				return labOrUsage(c, err)
			}
			fs, err := agent.RenderHost(l, f.host, time.Now())
			if err != nil {
				return err
			}
			if err := agent.WriteRendered(out, fs); err != nil {
				return err
			}
			for _, x := range fs {
				fmt.Fprintf(c.OutOrStdout(), "%s\n", x.Path)
			}
			return nil
		},
	}
	f.register(c, false, false)
	c.Flags().StringVar(&out, "out", "", "folder to write the files under (required)")
	c.MarkFlagDirname("out")
	return c
}

// Set by the linker: -X main.version=... -X main.commit=...
var (
	version = ""
	commit  = ""
)

func newVersion() *cobra.Command {
	return &cobra.Command{
		Use:     "version",
		Short:   "Print the version, commit and Go version",
		Example: `  homelab-agent version`,
		Args:    noArgs,
		Run: func(c *cobra.Command, _ []string) {
			v, cm := version, commit
			if bi, ok := debug.ReadBuildInfo(); ok {
				if v == "" && bi.Main.Version != "" && bi.Main.Version != "(devel)" {
					v = bi.Main.Version
				}
				for _, s := range bi.Settings {
					if s.Key == "vcs.revision" && cm == "" {
						cm = s.Value
					}
				}
			}
			fmt.Fprintf(c.OutOrStdout(), "homelab-agent %s\ncommit %s\n%s %s/%s\n",
				orDefault(v, "dev"), orDefault(cm, "unknown"), runtime.Version(), runtime.GOOS, runtime.GOARCH)
		},
	}
}

func orDefault(s, d string) string {
	if s == "" {
		return d
	}
	return s
}
