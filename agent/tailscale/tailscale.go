// Package tailscale drives a Tailscale subnet router through the
// tailscale CLI (Tailscale has no stable local API for Go outside its own
// module): it makes sure tailscaled runs, reads the node's current
// preferences, and runs `tailscale up` only when they differ from the
// lab's. It also keeps the kernel's forwarding switches on.
package tailscale

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"slices"
	"strings"
	"time"

	"github.com/homelab-agent/homelab-agent/agent/resource"
	"github.com/homelab-agent/homelab-agent/agent/secrets"
)

// Subsystem is the subsystem the router's resources belong to: they are
// part of the host's network setup, with the firewall table.
const Subsystem = "firewall"

// Up is the desired state of the node: tailscaled running and logged in,
// advertising the lab's routes.
type Up struct {
	// Hostname is the node's name in the tailnet.
	Hostname string
	// AdvertiseRoutes are the subnets the node routes (the lab's CIDR).
	AdvertiseRoutes []string
	// AuthKeyFile holds the auth key (written from a secret, mode 0600);
	// `tailscale up` reads it with --auth-key=file:PATH.
	AuthKeyFile string
	// CLI and Systemctl are the commands used ("tailscale", "systemctl"
	// from PATH when empty).
	CLI, Systemctl string
	// Timeout bounds each command (one minute when zero).
	Timeout time.Duration
}

var _ resource.Resource = (*Up)(nil)

// ID implements resource.Resource.
func (u *Up) ID() string { return "tailscale:up" }

// Subsystem implements resource.Resource.
func (u *Up) Subsystem() string { return Subsystem }

// DependsOn implements resource.Depender: up needs the auth key file.
func (u *Up) DependsOn() []string { return []string{"file:" + u.AuthKeyFile} }

// Prefs is the part of `tailscale debug prefs` the agent manages.
type Prefs struct {
	WantRunning     bool
	Hostname        string
	AdvertiseRoutes []string
	CorpDNS         bool
	NoSNAT          bool
}

// Status is the part of `tailscale status --json` the agent reads.
type Status struct {
	BackendState string
}

// Args are the arguments of the `tailscale up` that makes the node what
// u says. --reset makes every unmentioned setting its default.
func (u *Up) Args() []string {
	return []string{"up", "--reset",
		"--hostname=" + u.Hostname,
		"--advertise-routes=" + strings.Join(u.AdvertiseRoutes, ","),
		"--accept-dns=false",
		"--auth-key=file:" + u.AuthKeyFile,
	}
}

// Differences lists what differs between the node and u; none means in order.
func (u *Up) Differences(p Prefs, s Status) []string {
	var d []string
	if s.BackendState != "Running" {
		d = append(d, fmt.Sprintf("state %s, want Running", s.BackendState))
	}
	if !p.WantRunning {
		d = append(d, "not set to run")
	}
	if p.Hostname != u.Hostname {
		d = append(d, fmt.Sprintf("hostname %q, want %q", p.Hostname, u.Hostname))
	}
	have, want := slices.Clone(p.AdvertiseRoutes), slices.Clone(u.AdvertiseRoutes)
	slices.Sort(have)
	slices.Sort(want)
	if !slices.Equal(have, want) {
		d = append(d, fmt.Sprintf("advertised routes [%s], want [%s]", strings.Join(have, " "), strings.Join(want, " ")))
	}
	if p.CorpDNS {
		d = append(d, "accepts tailnet DNS, want the lab's")
	}
	if p.NoSNAT {
		d = append(d, "subnet routes not masqueraded")
	}
	return d
}

// CheckApply implements resource.Resource. Under a --root folder it does
// nothing: there is no tailscaled to ask.
func (u *Up) CheckApply(ctx context.Context, env *resource.Env, apply bool) (*resource.Change, error) {
	if env.Root != "" && env.Root != "/" {
		return nil, nil
	}
	cli, err := lookPath(u.CLI, "tailscale", "install Tailscale (pkgs.tailscale.com) on the router")
	if err != nil {
		return nil, err
	}
	systemctl, err := lookPath(u.Systemctl, "systemctl", "the router needs systemd")
	if err != nil {
		return nil, err
	}
	var changes []string
	if _, err := u.run(ctx, systemctl, "is-active", "--quiet", "tailscaled.service"); err != nil {
		changes = append(changes, "start tailscaled")
		if !apply {
			return u.change(changes, "tailscaled is not running"), nil
		}
		if _, err := u.run(ctx, systemctl, "enable", "--now", "tailscaled.service"); err != nil {
			return nil, fmt.Errorf("starting tailscaled: %w", err)
		}
	}
	var p Prefs
	var s Status
	if err := u.runJSON(ctx, cli, &p, "debug", "prefs"); err != nil {
		return nil, fmt.Errorf("reading tailscale prefs: %w", err)
	}
	if err := u.runJSON(ctx, cli, &s, "status", "--json"); err != nil {
		return nil, fmt.Errorf("reading tailscale status: %w", err)
	}
	if s.BackendState == "NeedsMachineAuth" {
		return nil, errors.New("the node waits for approval: approve it (and its routes) in the Tailscale admin console")
	}
	diff := u.Differences(p, s)
	if len(diff) == 0 && len(changes) == 0 {
		return nil, nil
	}
	ch := u.change(append(changes, "tailscale up"), strings.Join(diff, "; "))
	if !apply || len(diff) == 0 {
		return ch, nil
	}
	if _, err := u.run(ctx, cli, u.Args()...); err != nil {
		return ch, fmt.Errorf("tailscale up: %w", err)
	}
	return ch, nil
}

// Healthy is the router's health probe: tailscaled runs, is logged in and
// advertises the lab's routes with the settings u wants.
func (u *Up) Healthy(ctx context.Context) error {
	cli, err := lookPath(u.CLI, "tailscale", "install Tailscale (pkgs.tailscale.com) on the router")
	if err != nil {
		return err
	}
	var p Prefs
	var s Status
	if err := u.runJSON(ctx, cli, &p, "debug", "prefs"); err != nil {
		return fmt.Errorf("reading tailscale prefs: %w", err)
	}
	if err := u.runJSON(ctx, cli, &s, "status", "--json"); err != nil {
		return fmt.Errorf("reading tailscale status: %w", err)
	}
	if d := u.Differences(p, s); len(d) > 0 {
		return errors.New(strings.Join(d, "; "))
	}
	return nil
}

func (u *Up) change(what []string, why string) *resource.Change {
	return &resource.Change{ID: u.ID(), Subsystem: Subsystem, Action: "update",
		Summary: strings.Join(what, ", ") + " (" + why + ")",
		Diff:    "tailscale " + strings.Join(u.Args(), " ") + "\n"}
}

func (u *Up) run(ctx context.Context, name string, args ...string) ([]byte, error) {
	timeout := u.Timeout
	if timeout <= 0 {
		timeout = time.Minute
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	var stdout, stderr bytes.Buffer
	cmd := exec.CommandContext(ctx, name, args...)
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	cmd.Env = secrets.ChildEnv(os.Environ())
	cmd.WaitDelay = time.Second
	if err := cmd.Run(); err != nil {
		return nil, fmt.Errorf("%s %s: %w: %s", name, args[0], err, strings.TrimSpace(stderr.String()))
	}
	return stdout.Bytes(), nil
}

func (u *Up) runJSON(ctx context.Context, name string, v any, args ...string) error {
	out, err := u.run(ctx, name, args...)
	if err != nil {
		return err
	}
	if err := json.Unmarshal(out, v); err != nil {
		return fmt.Errorf("parsing the output of %s %s: %w", name, strings.Join(args, " "), err)
	}
	return nil
}

func lookPath(set, def, hint string) (string, error) {
	if set != "" {
		return set, nil
	}
	p, err := exec.LookPath(def)
	if err != nil {
		return "", fmt.Errorf("%s not found: %s", def, hint)
	}
	return p, nil
}
