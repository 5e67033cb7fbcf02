package main

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"slices"
	"strings"
	"time"

	"filippo.io/age"
	"github.com/spf13/cobra"
	"golang.org/x/term"

	"github.com/homelab-agent/homelab-agent/agent"
	"github.com/homelab-agent/homelab-agent/agent/lab"
	"github.com/homelab-agent/homelab-agent/agent/secrets"
	"github.com/homelab-agent/homelab-agent/agent/secrets/vault"
)

// secretsFlags are the flags of every secrets command.
type secretsFlags struct {
	repo, masterKey string
}

func (f *secretsFlags) register(c *cobra.Command) {
	c.PersistentFlags().StringVar(&f.repo, "repo", ".", "the lab repo folder")
	c.PersistentFlags().StringVar(&f.masterKey, "master-key", "", "the master key file, an age identity (default $"+vault.MasterKeyEnv+")")
}

// open loads the lab, the master key and what each host needs.
func (f *secretsFlags) open(c *cobra.Command) (*lab.Lab, *vault.Repo, map[string][]string, error) {
	l, err := agent.LoadLab(f.repo)
	if err != nil {
		return nil, nil, nil, labOrUsage(c, err)
	}
	if l.Hosts.Get(vault.Admin) != nil {
		return nil, nil, nil, fmt.Errorf("a host is named %q: its file would be %s, which only the master key opens; rename the host", vault.Admin, vault.FileOf(vault.Admin))
	}
	m, err := readMaster(f.masterKey)
	if err != nil {
		return nil, nil, nil, err
	}
	needs, err := agent.NeededSecrets(l, time.Now())
	if err != nil {
		return nil, nil, nil, err
	}
	return l, &vault.Repo{Dir: l.Dir, Master: m}, needs, nil
}

func readMaster(flag string) (*age.X25519Identity, error) {
	p := flag
	if p == "" {
		p = os.Getenv(vault.MasterKeyEnv)
	}
	if p == "" {
		return nil, fmt.Errorf("no master key: set $%s or --master-key (an age identity file; make one with age-keygen -o master.key)", vault.MasterKeyEnv)
	}
	id, err := vault.ReadIdentity(p)
	if err != nil {
		return nil, fmt.Errorf("reading the master key: %w", err)
	}
	return id, nil
}

// hostsOf checks --host names against the lab (vault.Admin is allowed).
func hostsOf(l *lab.Lab, hosts []string) error {
	for _, h := range hosts {
		if h != vault.Admin && !slices.ContainsFunc(l.Hosts, func(x *lab.Host) bool { return x.Name == h }) {
			return usageError{fmt.Errorf("no host %q in %s (or %q for the admin file)", h, lab.LabFile, vault.Admin)}
		}
	}
	return nil
}

func newSecrets() *cobra.Command {
	var f secretsFlags
	c := &cobra.Command{
		Use:   "secrets",
		Short: "Manage the age-encrypted secrets in the lab repo",
		Long: `secrets manages secrets/<host>.env.age in the lab repo: each host's
NAME=value lines, encrypted with age to the master key and to the host's own
identity (derived from the master key), so a host reads only its own. The
files stay readable with the plain age CLI. Values are read from stdin or a
prompt, never from the command line, and never printed. The master key is an
age identity file: --master-key or $` + vault.MasterKeyEnv + `. See docs/secrets.md.`,
		Args: noArgs,
	}
	f.register(c)
	c.AddCommand(newSecretsSet(&f), newSecretsList(&f), newSecretsEdit(&f), newSecretsRotate(&f), newSecretsRekey(&f), newSecretsIdentity(&f))
	return c
}

func newSecretsSet(f *secretsFlags) *cobra.Command {
	var hosts []string
	c := &cobra.Command{
		Use:   "set NAME",
		Short: "Set a secret for the hosts that need it (value from stdin or a prompt)",
		Long: `set encrypts NAME's value into the file of every host that needs it (as
validate lists), or of the hosts given with --host (admin: the admin file,
which only the master key opens). The value is read from stdin, or from a
prompt without echo on a terminal; one trailing newline is dropped.`,
		Example: `  homelab-agent secrets set NEXTCLOUD_DB_PASSWORD < pw.txt
  homelab-agent secrets set WEBHOOK_SECRET --host admin`,
		Args: func(c *cobra.Command, args []string) error {
			if len(args) > 1 {
				return usageError{errors.New("set takes only NAME: the value is read from stdin or a prompt, never from the command line")}
			}
			return oneName(c, args)
		},
		RunE: func(c *cobra.Command, args []string) error {
			name := args[0]
			if !secrets.ValidName(name) {
				return usageError{fmt.Errorf("invalid secret name %q: use upper-case letters, digits and _, starting with a letter", name)}
			}
			l, r, needs, err := f.open(c)
			if err != nil {
				return err
			}
			if err := hostsOf(l, hosts); err != nil {
				return err
			}
			to := hosts
			if len(to) == 0 {
				if to = vault.HostsFor(needs, name); len(to) == 0 {
					return fmt.Errorf("no host needs %s: name hosts with --host (or --host %s)", name, vault.Admin)
				}
			}
			value, err := readValue(c, name)
			if err != nil {
				return err
			}
			if err := r.Set(name, value, to); err != nil {
				return err
			}
			fmt.Fprintf(c.OutOrStdout(), "set %s for %s; commit and push %s\n", name, strings.Join(to, ", "), files(to))
			return nil
		},
	}
	c.Flags().StringSliceVar(&hosts, "host", nil, "set it only for these hosts (admin: the admin file)")
	return c
}

func files(hosts []string) string {
	var out []string
	for _, h := range hosts {
		out = append(out, vault.FileOf(h))
	}
	return strings.Join(out, " ")
}

// readValue reads a value from stdin: a prompt without echo on a
// terminal, else all of stdin with one trailing newline dropped.
func readValue(c *cobra.Command, name string) (string, error) {
	in := c.InOrStdin()
	if fd, ok := in.(*os.File); ok && term.IsTerminal(int(fd.Fd())) {
		fmt.Fprintf(c.ErrOrStderr(), "value of %s: ", name)
		b, err := term.ReadPassword(int(fd.Fd()))
		fmt.Fprintln(c.ErrOrStderr())
		if err != nil {
			return "", err
		}
		return string(b), nil
	}
	b, err := io.ReadAll(io.LimitReader(bufio.NewReader(in), vault.MaxFile))
	if err != nil {
		return "", err
	}
	v := strings.TrimSuffix(strings.TrimSuffix(string(b), "\n"), "\r")
	if v == "" {
		return "", fmt.Errorf("no value for %s on stdin", name)
	}
	return v, nil
}

func newSecretsList(f *secretsFlags) *cobra.Command {
	return &cobra.Command{
		Use:   "list",
		Short: "List the secrets: which hosts hold each and since when (never values)",
		Args:  noArgs,
		RunE: func(c *cobra.Command, _ []string) error {
			_, r, needs, err := f.open(c)
			if err != nil {
				return err
			}
			ls, err := r.List(needs)
			if err != nil {
				return err
			}
			vault.WriteList(c.OutOrStdout(), ls, time.Now())
			return nil
		},
	}
}

func newSecretsEdit(f *secretsFlags) *cobra.Command {
	var host string
	c := &cobra.Command{
		Use:   "edit --host H",
		Short: "Edit a host's secrets in $EDITOR (decrypted in a private temp folder, then re-encrypted)",
		Long: `edit decrypts the host's file into a fresh 0700 folder on a tmpfs
($XDG_RUNTIME_DIR, else /dev/shm), runs $VISUAL or $EDITOR (default vi) on
it, re-encrypts what you saved and removes the folder. A file that does not
parse is not written.`,
		Args: noArgs,
		RunE: func(c *cobra.Command, _ []string) error {
			if host == "" {
				return usageError{errors.New("--host is required (a host, or admin)")}
			}
			l, r, _, err := f.open(c)
			if err != nil {
				return err
			}
			if err := hostsOf(l, []string{host}); err != nil {
				return err
			}
			changed, err := r.Edit(host, func(p string) error {
				ed := cmpOr(os.Getenv("VISUAL"), os.Getenv("EDITOR"), "vi")
				cmd := exec.Command("sh", "-c", ed+` "$1"`, "sh", p)
				cmd.Stdin, cmd.Stdout, cmd.Stderr = os.Stdin, c.ErrOrStderr(), c.ErrOrStderr()
				return cmd.Run()
			})
			if err != nil {
				return err
			}
			if !changed {
				fmt.Fprintf(c.OutOrStdout(), "%s: no change\n", vault.FileOf(host))
				return nil
			}
			fmt.Fprintf(c.OutOrStdout(), "wrote %s; commit and push it\n", vault.FileOf(host))
			return nil
		},
	}
	c.Flags().StringVar(&host, "host", "", "the host whose file to edit (admin: the admin file)")
	return c
}

func cmpOr(s ...string) string {
	for _, v := range s {
		if v != "" {
			return v
		}
	}
	return ""
}

func newSecretsRotate(f *secretsFlags) *cobra.Command {
	return &cobra.Command{
		Use:   "rotate NAME",
		Short: "Give a credential the agent owns a new strong value",
		Long: `rotate generates a strong value (256 bits) for NAME and encrypts it for
every host that needs it. Only credentials the agent can change where they
live are rotated this way (the agent applies the new value on the next pass,
e.g. restic key add/remove for RESTIC_PASSWORD); other secrets come from
elsewhere and are set with secrets set.`,
		Args: oneName,
		RunE: func(c *cobra.Command, args []string) error {
			l, r, needs, err := f.open(c)
			if err != nil {
				return err
			}
			to := vault.HostsFor(needs, args[0])
			if err := r.Rotate(args[0], to, agent.Rotatable(l)); err != nil {
				return err
			}
			fmt.Fprintf(c.OutOrStdout(), "rotated %s for %s; commit and push %s\n", args[0], strings.Join(to, ", "), files(to))
			return nil
		},
	}
}

func newSecretsRekey(f *secretsFlags) *cobra.Command {
	var newMaster string
	var prune bool
	c := &cobra.Command{
		Use:   "rekey",
		Short: "Re-encrypt every file to exactly the hosts that need each secret",
		Long: `rekey re-encrypts every file after hosts were added or removed or the
secrets they need changed: a host that needs a secret another file holds
gets a copy, values a host does not need are kept (--prune drops them;
keys the agent reads itself, like FLEET_KEY, are not in validate's list),
the file of a host that left the lab is removed. --new-master-key moves everything to a new
master key; every host identity changes with it, so hosts need their new
identity (bootstrap --replace, or secrets identity).`,
		Args: noArgs,
		RunE: func(c *cobra.Command, _ []string) error {
			_, r, needs, err := f.open(c)
			if err != nil {
				return err
			}
			var nm *age.X25519Identity
			if newMaster != "" {
				if nm, err = vault.ReadIdentity(newMaster); err != nil {
					return fmt.Errorf("reading the new master key: %w", err)
				}
			}
			rep, err := r.Rekey(needs, nm, prune)
			if err != nil {
				return err
			}
			out := c.OutOrStdout()
			fmt.Fprintf(out, "wrote %s\n", files(rep.Written))
			for _, s := range rep.Copied {
				fmt.Fprintf(out, "copied %s\n", s)
			}
			for _, s := range rep.Dropped {
				fmt.Fprintf(out, "dropped %s\n", s)
			}
			for _, s := range rep.Kept {
				fmt.Fprintf(out, "kept %s (not needed; --prune drops it)\n", s)
			}
			for _, h := range rep.Removed {
				fmt.Fprintf(out, "removed %s (host %s is not in the lab)\n", vault.FileOf(h), h)
			}
			for _, m := range rep.Missing {
				fmt.Fprintln(c.ErrOrStderr(), m.Error())
			}
			if len(rep.Missing) > 0 {
				return silentError
			}
			return nil
		},
	}
	c.Flags().StringVar(&newMaster, "new-master-key", "", "re-encrypt to this master key (an age identity file)")
	c.Flags().BoolVar(&prune, "prune", false, "drop values a host does not need")
	return c
}

func newSecretsIdentity(f *secretsFlags) *cobra.Command {
	var host string
	var recipient bool
	c := &cobra.Command{
		Use:   "identity --host H",
		Short: "Print a host's age identity (for /etc/homelab-agent/age.key) or its recipient",
		Long: `identity prints the host's identity, derived from the master key, in
age-keygen's format: write it to /etc/homelab-agent/age.key (mode 0600) on a
host that bootstrap did not create. --recipient prints only its public key.`,
		Args: noArgs,
		RunE: func(c *cobra.Command, _ []string) error {
			if host == "" || host == vault.Admin {
				return usageError{errors.New("--host is required (a host of the lab)")}
			}
			l, r, _, err := f.open(c)
			if err != nil {
				return err
			}
			if err := hostsOf(l, []string{host}); err != nil {
				return err
			}
			id, err := vault.DeriveHost(r.Master, host)
			if err != nil {
				return err
			}
			if recipient {
				fmt.Fprintln(c.OutOrStdout(), id.Recipient())
				return nil
			}
			c.OutOrStdout().Write(vault.IdentityText(host, id))
			return nil
		},
	}
	c.Flags().StringVar(&host, "host", "", "the host")
	c.Flags().BoolVar(&recipient, "recipient", false, "print the public key only")
	return c
}

// validateSecrets is validate's check of the encrypted files: with the
// master key, every secret a host needs must be in its file; without it,
// a note says the files were not opened. A lab without secrets/ is not
// checked (its hosts use the local secrets.env).
func validateSecrets(c *cobra.Command, l *lab.Lab, masterKey string) error {
	r := &vault.Repo{Dir: l.Dir}
	hosts, err := r.Files()
	if err != nil || len(hosts) == 0 {
		return err
	}
	if masterKey == "" && os.Getenv(vault.MasterKeyEnv) == "" {
		fmt.Fprintf(c.OutOrStdout(), "%s/: not opened (no master key: --master-key or $%s)\n", vault.Dir, vault.MasterKeyEnv)
		return nil
	}
	if r.Master, err = readMaster(masterKey); err != nil {
		return err
	}
	needs, err := agent.NeededSecrets(l, time.Now())
	if err != nil {
		return err
	}
	missing, err := r.Check(needs)
	if err != nil {
		fmt.Fprintln(c.ErrOrStderr(), err)
		return silentError
	}
	for _, m := range missing {
		fmt.Fprintln(c.ErrOrStderr(), m.Error())
	}
	if len(missing) > 0 {
		return silentError
	}
	fmt.Fprintf(c.OutOrStdout(), "%s/: ok (%d files, every needed secret present)\n", vault.Dir, len(hosts))
	return nil
}

// oneName accepts exactly one argument, a secret's name.
func oneName(_ *cobra.Command, args []string) error {
	if len(args) != 1 {
		return usageError{fmt.Errorf("want one secret NAME, got %d arguments", len(args))}
	}
	return nil
}
