package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"

	"github.com/spf13/cobra"

	"github.com/homelab-agent/homelab-agent/agent"
	"github.com/homelab-agent/homelab-agent/agent/lab"
	"github.com/homelab-agent/homelab-agent/agent/secrets/vault"
	"github.com/homelab-agent/homelab-agent/bootstrap"
)

type bootstrapFlags struct {
	repo, node, root, replace           string
	dryRun, asJSON, offline, yes        bool
	api, tokenFile, fingerprint, caFile string
	agentURL, agentSHA256               string
	imageURL, imageChecksum, labURL     string
	masterKey                           string
	parallel                            int
	verbose                             bool
}

func newBootstrap() *cobra.Command {
	var f bootstrapFlags
	c := &cobra.Command{
		Use:   "bootstrap",
		Short: "Build or repair the lab on a Proxmox VE node",
		Long: `bootstrap builds the lab of homelab.yaml on Proxmox VE through its API: the
NAT bridge (on the node: /etc/network/interfaces.d/homelab and ifreload -a),
the storage's import and snippets content, the cloud image (download-url with
its checksum), and one VM per host with vm: settings, created in parallel:
OS disk imported from the image, a data disk, cloud-init with a static IP and
a vendor snippet that installs homelab-agent. A second run changes nothing.
Drifted settings are reported; --yes fixes those Proxmox can change on a
running VM. --replace HOST recreates a VM's OS disk and keeps its data disk.

The API token comes from $PVE_API_TOKEN or --token-file (USER@REALM!ID=SECRET);
the node's certificate is pinned with --fingerprint (sha256) or --ca-file. On
a Proxmox node the defaults are https://127.0.0.1:8006 and the cluster CA
/etc/pve/pve-root-ca.pem. --dry-run prints the plan, --dry-run --json the API
requests; --offline plans against an empty node without any API.

With the master key (--master-key or $HOMELAB_MASTER_KEY_FILE) every guest
gets its age identity, derived from the key, in its vendor snippet (mode
0600 on the node), with the lab repo's token or deploy key and the webhook
secret from secrets/admin.env.age; a lab with encrypted secrets needs it.`,
		Example: `  PVE_API_TOKEN=root@pam!homelab=... homelab-agent bootstrap --repo ./lab
  homelab-agent bootstrap --repo https://git.example/lab.git --dry-run
  homelab-agent bootstrap --repo ./lab --offline --dry-run --json | jq length
  homelab-agent bootstrap --repo ./lab --api https://pve.lan:8006 --fingerprint AA:BB:... --yes
  homelab-agent bootstrap --repo ./lab --replace cloud`,
		Args: noArgs,
		RunE: func(c *cobra.Command, _ []string) error { return runBootstrap(c, &f) },
	}
	fl := c.Flags()
	fl.StringVar(&f.repo, "repo", ".", "the lab repo: a folder, or a git URL to clone")
	fl.StringVar(&f.node, "node", "", "node for hosts without vm.node (default: bootstrap.node, else this node, else pve)")
	fl.StringVar(&f.root, "root", "/", "the node's file system root (for the network file and snippets)")
	fl.BoolVar(&f.dryRun, "dry-run", false, "print the plan; change nothing")
	fl.BoolVar(&f.asJSON, "json", false, "with --dry-run: print the API requests as a JSON array")
	fl.BoolVar(&f.offline, "offline", false, "plan against an empty node without contacting any API (implies --dry-run)")
	fl.BoolVar(&f.yes, "yes", false, "fix drifted settings that Proxmox can change on a running VM")
	fl.StringVar(&f.replace, "replace", "", "recreate this host's OS disk from the image, keeping its data disk")
	fl.StringVar(&f.api, "api", os.Getenv("PVE_API_URL"), "the API URL, https://HOST:8006 (default on a node: https://127.0.0.1:8006)")
	fl.StringVar(&f.tokenFile, "token-file", "", "read the API token from this file instead of $PVE_API_TOKEN")
	fl.StringVar(&f.fingerprint, "fingerprint", os.Getenv("PVE_FINGERPRINT"), "pin the node certificate's sha256 fingerprint (AA:BB:...)")
	fl.StringVar(&f.caFile, "ca-file", "", "trust this CA instead (default on a node: /etc/pve/pve-root-ca.pem)")
	fl.StringVar(&f.agentURL, "agent-url", "", "where guests download homelab-agent (overrides bootstrap.agent.url)")
	fl.StringVar(&f.agentSHA256, "agent-sha256", "", "the agent binary's sha256 (overrides bootstrap.agent.checksum)")
	fl.StringVar(&f.imageURL, "image-url", "", "cloud image URL (overrides bootstrap.image.url)")
	fl.StringVar(&f.imageChecksum, "image-checksum", "", "cloud image checksum, sha256:HEX or sha512:HEX")
	fl.StringVar(&f.labURL, "lab-url", "", "the lab repo URL the agents pull (default: bootstrap.repo, else --repo's URL or its origin remote)")
	fl.IntVar(&f.parallel, "parallel", 8, "how many VMs to build at once")
	fl.StringVar(&f.masterKey, "master-key", "", "the lab's master key (age identity file): guests get identities derived from it (default $"+vault.MasterKeyEnv+")")
	fl.BoolVarP(&f.verbose, "verbose", "v", false, "log retries and each finished step")
	c.MarkFlagsMutuallyExclusive("fingerprint", "ca-file")
	c.MarkFlagDirname("root")
	return c
}

func runBootstrap(c *cobra.Command, f *bootstrapFlags) error {
	ctx := c.Context()
	if ctx == nil {
		ctx = context.Background()
	}
	if f.asJSON && !f.dryRun && !f.offline {
		return usageError{errors.New("--json needs --dry-run")}
	}
	if f.offline {
		f.dryRun = true
	}
	if f.replace != "" && f.yes {
		return usageError{errors.New("--replace and --yes do not mix: replace one host at a time")}
	}
	l, repoURL, err := loadBootstrapLab(ctx, f.repo)
	if err != nil {
		return labOrUsage(c, err)
	}
	local := localNode(f.root)
	o := bootstrap.Options{Override: bootstrap.Settings{
		Node: f.node, AgentURL: f.agentURL, ImageURL: f.imageURL, ImageChecksum: f.imageChecksum,
	}, PlanOptions: bootstrap.PlanOptions{Local: local, Yes: f.yes, Replace: f.replace}}
	if f.agentSHA256 != "" {
		o.Override.AgentChecksum = "sha256:" + strings.ToLower(strings.TrimPrefix(f.agentSHA256, "sha256:"))
	}
	if f.labURL != "" {
		o.Override.Repo = f.labURL
	} else if l.Bootstrap == nil || l.Bootstrap.Repo == "" {
		o.Override.Repo = repoURL
	}
	if f.node == "" && (l.Bootstrap == nil || l.Bootstrap.Node == "") && local != nil {
		o.Override.Node = local.Node
	}
	if f.masterKey != "" || os.Getenv(vault.MasterKeyEnv) != "" {
		if o.Master, err = readMaster(f.masterKey); err != nil {
			return err
		}
	}
	log := logger(c.ErrOrStderr(), f.verbose)
	if !f.offline {
		cfg := bootstrap.ClientConfig{URL: f.api, Fingerprint: f.fingerprint, CAFile: f.caFile, Log: log}
		if cfg.URL == "" && local != nil {
			cfg.URL = "https://127.0.0.1:8006"
		}
		if cfg.URL == "" {
			return usageError{errors.New("--api is required when not running on a Proxmox node (or use --offline)")}
		}
		if cfg.Fingerprint == "" && cfg.CAFile == "" && local != nil {
			cfg.CAFile = filepath.Join(local.Root, "etc/pve/pve-root-ca.pem")
		}
		if cfg.Token, err = readToken(f.tokenFile); err != nil {
			return usageError{err}
		}
		if o.Client, err = bootstrap.NewClient(cfg); err != nil {
			return usageError{err}
		}
	}
	p, err := bootstrap.PlanLab(ctx, l, o)
	if err != nil {
		return err
	}
	out := c.OutOrStdout()
	if f.asJSON {
		return p.WriteJSON(out)
	}
	p.WriteText(out)
	if f.dryRun {
		if len(p.Problems) > 0 {
			return silentError
		}
		return nil
	}
	if p.Empty() && len(p.Problems) == 0 {
		return nil
	}
	ao := bootstrap.ApplyOptions{Root: f.root, Parallel: f.parallel}
	if f.verbose {
		ao.Progress = c.ErrOrStderr()
	}
	if local != nil && f.root == "/" {
		ao.Reload = func(ctx context.Context) error {
			out, err := exec.CommandContext(ctx, "ifreload", "-a").CombinedOutput()
			if err != nil {
				return fmt.Errorf("ifreload -a: %v: %s", err, strings.TrimSpace(string(out)))
			}
			return nil
		}
	}
	res := bootstrap.Apply(ctx, o.Client, p, ao)
	for _, n := range res.Notes {
		fmt.Fprintf(out, "note:    %s\n", n)
	}
	fmt.Fprintf(out, "applied %d step(s) in %s with %d API requests\n", len(res.Done), res.Elapsed.Round(1e6), res.Calls)
	if err := res.Err(); err != nil {
		for _, e := range res.Errors {
			fmt.Fprintf(c.ErrOrStderr(), "homelab-agent: bootstrap: %v\n", e)
		}
		return silentError
	}
	return nil
}

// localNode finds the Proxmox node whose file system is at root: pmxcfs
// links /etc/pve/local to nodes/NAME. nil means "not on a node".
func localNode(root string) *bootstrap.Local {
	target, err := os.Readlink(filepath.Join(root, "etc/pve/local"))
	if err != nil {
		return nil
	}
	return &bootstrap.Local{Root: root, Node: filepath.Base(target)}
}

func readToken(file string) (string, error) {
	if file != "" {
		b, err := os.ReadFile(file)
		if err != nil {
			return "", fmt.Errorf("reading the API token: %w", err)
		}
		return string(b), nil
	}
	if t := os.Getenv(bootstrap.TokenEnv); t != "" {
		return t, nil
	}
	return "", fmt.Errorf("no API token: set $%s or --token-file (USER@REALM!ID=SECRET)", bootstrap.TokenEnv)
}

// loadBootstrapLab loads the lab from a folder or clones a git URL first;
// it also returns the URL the agents should pull (the URL given, or the
// folder's origin remote).
func loadBootstrapLab(ctx context.Context, repo string) (*lab.Lab, string, error) {
	dir, url := repo, ""
	if strings.Contains(repo, "://") || strings.HasPrefix(repo, "git@") {
		tmp, err := os.MkdirTemp("", "homelab-bootstrap-")
		if err != nil {
			return nil, "", err
		}
		defer os.RemoveAll(tmp)
		out, err := exec.CommandContext(ctx, "git", "clone", "--quiet", "--depth", "1", repo, tmp).CombinedOutput()
		if err != nil {
			return nil, "", fmt.Errorf("cloning %s: %v: %s", repo, err, strings.TrimSpace(string(out)))
		}
		dir, url = tmp, repo
	} else if out, err := exec.CommandContext(ctx, "git", "-C", repo, "remote", "get-url", "origin").Output(); err == nil {
		url = strings.TrimSpace(string(out))
	}
	l, err := agent.LoadLab(dir)
	return l, url, err
}
