package docker

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"net/netip"
	"os"
	"os/exec"
	"slices"
	"strings"
	"time"

	"github.com/homelab-agent/homelab-agent/agent/files"
	"github.com/homelab-agent/homelab-agent/agent/lab"
	"github.com/homelab-agent/homelab-agent/agent/packages"
	"github.com/homelab-agent/homelab-agent/agent/resource"
)

// DaemonFile is the Docker Engine's configuration file.
const DaemonFile = "/etc/docker/daemon.json"

// Log rotation of the json-file driver: at most LogMaxFile files of
// LogMaxSize per container, so container logs cannot fill the OS disk.
const (
	LogMaxSize = "10m"
	LogMaxFile = "3"
)

// Pool is one of the Engine's default address pools.
type Pool struct {
	Base string `json:"base"`
	Size int    `json:"size"`
}

// defaultPools are tried in order when the lab sets no
// docker.address_pools: the first that overlaps none of the lab's
// networks is used. Docker's own defaults end with 192.168.0.0/16 cut
// into /20s, which hands out networks such as 192.168.96.0/20 that cover
// a lab on 192.168.100.0/24 and cut the guest off from it.
var defaultPools = []Pool{{"172.16.0.0/12", 24}, {"10.200.0.0/14", 24}, {"192.168.224.0/19", 24}}

// reloadable are the daemon.json keys a running Engine takes on SIGHUP
// (`systemctl reload docker`, dockerd's "configuration reload
// behavior"); a change to any other key needs a restart, which
// live-restore makes harmless to running containers.
var reloadable = map[string]bool{
	"debug": true, "labels": true, "live-restore": true, "max-concurrent-downloads": true,
	"max-concurrent-uploads": true, "max-download-attempts": true, "default-runtime": true,
	"runtimes": true, "authorization-plugins": true, "insecure-registries": true,
	"registry-mirrors": true, "shutdown-timeout": true, "features": true,
}

// Daemon is the docker:daemon.json resource: the Engine's configuration
// on hosts that run containers (default address pools outside the lab's
// networks, json-file log rotation, live-restore). It belongs to the
// packages subsystem and comes before the install, so that a new Engine
// starts with it; on a change it reloads a running Engine, or restarts it
// when a key that needs a restart changed (default-address-pools and the
// log settings do; live-restore does not). Log settings apply to
// containers created afterwards.
type Daemon struct {
	Pools []Pool
	// Run runs a command on the host; nil runs it here.
	Run func(ctx context.Context, argv ...string) ([]byte, error)
}

var (
	_ resource.Resource = (*Daemon)(nil)
	_ resource.Renderer = (*Daemon)(nil)
)

// DaemonFor returns the Engine's configuration for the lab's hosts: the
// pools homelab.yaml sets under docker.address_pools (validate has
// checked them), else the first default pool outside the lab's networks.
func DaemonFor(l *lab.Lab) (*Daemon, error) {
	if l.Docker != nil && len(l.Docker.AddressPools) > 0 {
		d := &Daemon{}
		for _, p := range l.Docker.AddressPools {
			d.Pools = append(d.Pools, Pool{Base: p.Base.String(), Size: p.Size})
		}
		return d, nil
	}
	for _, p := range defaultPools {
		base := netip.MustParsePrefix(p.Base)
		if !slices.ContainsFunc(l.Networks(), func(n lab.NamedPrefix) bool { return n.Prefix.Overlaps(base) }) {
			return &Daemon{Pools: []Pool{p}}, nil
		}
	}
	return nil, fmt.Errorf("every default Docker address pool overlaps the lab's networks; set docker.address_pools in %s", lab.LabFile)
}

// ID implements resource.Resource.
func (d *Daemon) ID() string { return "docker:daemon.json" }

// Subsystem implements resource.Resource.
func (d *Daemon) Subsystem() string { return packages.Subsystem }

// Content renders daemon.json (keys sorted, as encoding/json writes a map).
func (d *Daemon) Content() []byte {
	m := map[string]any{
		"default-address-pools": d.Pools,
		"live-restore":          true,
		"log-driver":            "json-file",
		"log-opts":              map[string]string{"max-size": LogMaxSize, "max-file": LogMaxFile},
	}
	b, _ := json.MarshalIndent(m, "", "  ")
	return append(b, '\n')
}

func (d *Daemon) file(content []byte) *files.File {
	return &files.File{Path: DaemonFile, Content: content, Mode: 0o644}
}

// Render implements resource.Renderer.
func (d *Daemon) Render() []resource.Rendered { return d.file(d.Content()).Render() }

// CheckApply implements resource.Resource. Under a folder root it only
// writes the file there.
func (d *Daemon) CheckApply(ctx context.Context, env *resource.Env, apply bool) (*resource.Change, error) {
	want := d.Content()
	f := d.file(want)
	ch, err := f.CheckApply(ctx, env, false)
	if err != nil || ch == nil {
		return relabel(ch, d), err
	}
	old, _ := os.ReadFile(env.Path(DaemonFile))
	restart := needsRestart(old, want)
	if restart {
		ch.Summary += "; restarts a running Engine (live-restore keeps containers up)"
	} else {
		ch.Summary += "; reloads a running Engine"
	}
	if !apply {
		return relabel(ch, d), nil
	}
	folder := env.Root != "" && env.Root != "/" && d.Run == nil
	running := !folder && d.active(ctx)
	if running && restart && !liveRestore(old) {
		// Turn live-restore on first, with a reload, so that the restart
		// leaves the containers running.
		step := withLiveRestore(old)
		if err := d.write(ctx, env, step); err != nil {
			return relabel(ch, d), err
		}
		if out, err := d.run(ctx, "systemctl", "reload", EngineUnit); err != nil {
			return relabel(ch, d), fmt.Errorf("reloading the Docker Engine to turn live-restore on: %w: %s", err, strings.TrimSpace(string(out)))
		}
	}
	if err := d.write(ctx, env, want); err != nil {
		return relabel(ch, d), err
	}
	if running {
		verb := map[bool]string{false: "reload", true: "restart"}[restart]
		if out, err := d.run(ctx, "systemctl", verb, EngineUnit); err != nil {
			return relabel(ch, d), fmt.Errorf("%s of the Docker Engine after changing %s: %w: %s", verb, DaemonFile, err, strings.TrimSpace(string(out)))
		}
	}
	return relabel(ch, d), nil
}

// write validates content with the Engine's own check (dockerd
// --validate, Docker 23 and later) when it can, then writes it.
func (d *Daemon) write(ctx context.Context, env *resource.Env, content []byte) error {
	folder := env.Root != "" && env.Root != "/" && d.Run == nil
	if !folder {
		if err := d.validate(ctx, env, content); err != nil {
			return err
		}
	}
	_, err := d.file(content).CheckApply(ctx, env, true)
	return err
}

func (d *Daemon) validate(ctx context.Context, env *resource.Env, content []byte) error {
	tmp := env.Path(DaemonFile + ".homelab-check")
	if err := os.MkdirAll(env.Path("/etc/docker"), 0o755); err != nil {
		return err
	}
	if err := os.WriteFile(tmp, content, 0o600); err != nil {
		return err
	}
	defer os.Remove(tmp)
	out, err := d.run(ctx, "dockerd", "--validate", "--config-file", tmp)
	switch {
	case err == nil:
		return nil
	case bytes.Contains(out, []byte("unknown flag")), isNotFound(err):
		return nil // an Engine too old to check, or none installed yet
	}
	return fmt.Errorf("the Docker Engine refuses the new %s (kept the old one): %s", DaemonFile, strings.TrimSpace(string(out)))
}

func isNotFound(err error) bool {
	var ee *exec.Error
	return errors.As(err, &ee)
}

// active reports whether the Engine runs (so a change must reach it).
func (d *Daemon) active(ctx context.Context) bool {
	_, err := d.run(ctx, "systemctl", "is-active", "--quiet", EngineUnit)
	return err == nil
}

func (d *Daemon) run(ctx context.Context, argv ...string) ([]byte, error) {
	ctx, cancel := context.WithTimeout(ctx, 2*time.Minute)
	defer cancel()
	if d.Run != nil {
		return d.Run(ctx, argv...)
	}
	cmd := exec.CommandContext(ctx, argv[0], argv[1:]...)
	cmd.WaitDelay = 10 * time.Second
	return cmd.CombinedOutput()
}

func relabel(ch *resource.Change, d *Daemon) *resource.Change {
	if ch != nil {
		ch.ID, ch.Subsystem = d.ID(), d.Subsystem()
	}
	return ch
}

// needsRestart reports whether going from old to new daemon.json changes
// a key the Engine does not reload. An unreadable old file counts as
// every key changed.
func needsRestart(old, new []byte) bool {
	var a, b map[string]json.RawMessage
	if json.Unmarshal(old, &a) != nil {
		a = map[string]json.RawMessage{}
	}
	if json.Unmarshal(new, &b) != nil {
		return true
	}
	keys := maps.Collect(maps.All(a))
	maps.Copy(keys, b)
	for k := range keys {
		if !reloadable[k] && !bytes.Equal(compact(a[k]), compact(b[k])) {
			return true
		}
	}
	return false
}

func compact(b []byte) []byte {
	var out bytes.Buffer
	if json.Compact(&out, b) != nil {
		return b
	}
	return out.Bytes()
}

func liveRestore(b []byte) bool {
	var m struct {
		LiveRestore bool `json:"live-restore"`
	}
	return json.Unmarshal(b, &m) == nil && m.LiveRestore
}

// withLiveRestore is old with live-restore on (and nothing else changed).
func withLiveRestore(old []byte) []byte {
	m := map[string]json.RawMessage{}
	json.Unmarshal(old, &m)
	m["live-restore"] = json.RawMessage("true")
	b, _ := json.MarshalIndent(m, "", "  ")
	return append(b, '\n')
}
