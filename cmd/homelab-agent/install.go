package main

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"

	"github.com/google/renameio/v2"
	"github.com/spf13/cobra"

	"github.com/homelab-agent/homelab-agent/agent/daemon"
	"github.com/homelab-agent/homelab-agent/agent/firewall"
)

func newInstall() *cobra.Command {
	var o daemon.InstallOptions
	var enable bool
	c := &cobra.Command{
		Use:   "install",
		Short: "Install the agent as a systemd service",
		Long: `install writes the systemd unit (/etc/systemd/system/homelab-agent.service,
Type=notify with a watchdog), the firewall's boot unit
(homelab-agent-firewall.service: nft -f /var/lib/homelab-agent/firewall.nft
before network-pre.target and Docker) and, when there is none, a default
/etc/homelab-agent/agent.yaml (mode 0600) filled from --repo, --branch and
--host. On the real host (--root /) it also copies this binary to --bin when
it is not there, and with --enable runs systemctl daemon-reload and
systemctl enable homelab-agent-firewall and enable --now homelab-agent.`,
		Example: `  homelab-agent install --repo https://git.home.example/lab.git --host dns1 --enable
  homelab-agent install --root /tmp/img --host media   # into a folder`,
		Args: noArgs,
		RunE: func(c *cobra.Command, _ []string) error {
			if enable && o.Root != "/" {
				return usageError{fmt.Errorf("--enable works only on the real host (--root /)")}
			}
			if o.Root == "/" {
				if err := copySelf(o.Bin); err != nil {
					return err
				}
			}
			res, err := daemon.Install(o)
			if err != nil {
				return err
			}
			out := c.OutOrStdout()
			fmt.Fprintf(out, "%s: %s\n", res.Unit, map[bool]string{true: "written", false: "up to date"}[res.UnitChanged])
			fmt.Fprintf(out, "%s: %s\n", res.FirewallUnit, map[bool]string{true: "written", false: "up to date"}[res.FirewallUnitChanged])
			if res.ConfigWritten {
				fmt.Fprintf(out, "%s: written (edit repo, host and auth)\n", res.Config)
			} else {
				fmt.Fprintf(out, "%s: kept (already there)\n", res.Config)
			}
			if !enable {
				if o.Root == "/" {
					fmt.Fprintln(out, "next: systemctl daemon-reload && systemctl enable homelab-agent-firewall && systemctl enable --now homelab-agent")
				}
				return nil
			}
			for _, args := range [][]string{{"daemon-reload"}, {"enable", firewall.BootUnitName}, {"enable", "--now", "homelab-agent.service"}} {
				if b, err := exec.CommandContext(c.Context(), "systemctl", args...).CombinedOutput(); err != nil {
					return fmt.Errorf("systemctl %s: %w: %s", args[0], err, b)
				}
			}
			fmt.Fprintln(out, "homelab-agent.service enabled and started; "+firewall.BootUnitName+" enabled (loads the saved table at boot)")
			return nil
		},
	}
	c.Flags().StringVar(&o.Root, "root", "/", "prefix for every path written")
	c.Flags().StringVar(&o.Bin, "bin", "/usr/local/bin/homelab-agent", "the agent binary's path in the unit")
	c.Flags().StringVar(&o.Repo, "repo", "", "the lab repo, for the default config")
	c.Flags().StringVar(&o.Branch, "branch", "main", "the branch, for the default config")
	c.Flags().StringVar(&o.Host, "host", "", "this host's name in homelab.yaml, for the default config")
	c.Flags().BoolVar(&enable, "enable", false, "run systemctl daemon-reload and enable --now")
	c.MarkFlagDirname("root")
	return c
}

// copySelf puts this binary at bin unless it is already there.
func copySelf(bin string) error {
	self, err := os.Executable()
	if err != nil {
		return nil
	}
	if a, err := filepath.EvalSymlinks(self); err == nil {
		self = a
	}
	if b, err := filepath.EvalSymlinks(bin); err == nil && b == self {
		return nil
	}
	if _, err := os.Stat(bin); err == nil {
		return nil // an installed binary is updated by the package or cloud-init, not here
	}
	data, err := os.ReadFile(self)
	if err != nil {
		return fmt.Errorf("copying the agent to %s: %w", bin, err)
	}
	if err := os.MkdirAll(filepath.Dir(bin), 0o755); err != nil {
		return fmt.Errorf("copying the agent to %s: %w", bin, err)
	}
	if err := renameio.WriteFile(bin, data, 0o755); err != nil {
		return fmt.Errorf("copying the agent to %s: %w", bin, err)
	}
	return nil
}
