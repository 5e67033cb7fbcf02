// Package agent is the engine: it loads a lab repo, builds a host's
// desired state from its roles, and runs plan and apply passes over the
// resulting resources. Plan and apply are one code path; plan is apply
// that only reports.
package agent

import (
	"fmt"
	"log/slog"
	"os"
	"slices"
	"strings"
	"time"

	"github.com/homelab-agent/homelab-agent/agent/backup"
	"github.com/homelab-agent/homelab-agent/agent/clock"
	"github.com/homelab-agent/homelab-agent/agent/docker"
	"github.com/homelab-agent/homelab-agent/agent/health"
	"github.com/homelab-agent/homelab-agent/agent/lab"
	"github.com/homelab-agent/homelab-agent/agent/packages"
	"github.com/homelab-agent/homelab-agent/agent/resource"
	"github.com/homelab-agent/homelab-agent/agent/role"
	"github.com/homelab-agent/homelab-agent/agent/secrets"
)

// Subsystems is the one place that says in which order a pass applies
// the resources of a host: packages first (the programs the rest
// configures and runs), then files (configuration the rest reads), then
// the firewall, then containers, then backup schedules.
var Subsystems = []string{packages.Subsystem, "files", "firewall", "containers", "backup"}

// FolderSubsystems are the subsystems a pass runs by default when --root
// is not "/": under a folder root they only write below it (the firewall
// writes its ruleset to a file there instead of the kernel; backup writes
// the schedule file). containers acts on the machine itself (its Docker
// Engine, and self-restores from the backup repository), so under a
// folder root it runs only when --only names it; so does packages, whose
// apt is the machine's (even then it never calls the machine's apt under
// a folder root: it only writes its files there). The daemon's backup
// scheduler is no resource: under a folder root it runs only when --only
// names backup.
var FolderSubsystems = []string{"files", "firewall", "backup"}

// HookMode says whether a pass runs reload hooks.
type HookMode string

// Hook modes: auto runs hooks only when the root is "/".
const (
	HooksAuto HookMode = "auto"
	HooksRun  HookMode = "run"
	HooksSkip HookMode = "skip"
)

// Options are a pass's settings.
type Options struct {
	// Root prefixes every host path; "" or "/" is the real host.
	Root string
	// Only limits the pass to some subsystems; empty means all.
	Only []string
	// Hooks says whether reload hooks run (default auto).
	Hooks HookMode
	// Secrets resolves ${secret:NAME}; nil loads them from Root and the environment.
	Secrets *secrets.Store
	// ManageOwner sets file owners; nil means "when root on the real host".
	ManageOwner *bool
	// Log receives one line per change; nil discards.
	Log *slog.Logger
	// Now is the clock (time.Now when nil).
	Now func() time.Time
	// Commit is the lab repo commit being applied, for state and reports.
	Commit string
	// Trigger says why the pass runs (the report's Trigger).
	Trigger string
}

func (o *Options) root() string {
	if o.Root == "" {
		return "/"
	}
	return o.Root
}

func (o *Options) now() time.Time {
	if o.Now == nil {
		return clock.Real.Now()
	}
	return o.Now()
}

// subsystems returns the subsystems the pass runs.
func (o *Options) subsystems() []string {
	if len(o.Only) > 0 {
		return o.Only
	}
	if o.root() != "/" {
		return FolderSubsystems
	}
	return Subsystems
}

func (o *Options) runHooks() bool {
	switch o.Hooks {
	case HooksRun:
		return true
	case HooksSkip:
		return false
	}
	return o.root() == "/"
}

func (o *Options) manageOwner() bool {
	if o.ManageOwner != nil {
		return *o.ManageOwner
	}
	return o.root() == "/" && os.Geteuid() == 0
}

func (o *Options) logger() *slog.Logger {
	if o.Log == nil {
		return slog.New(slog.DiscardHandler)
	}
	return o.Log
}

// CheckOnly validates a --only list.
func CheckOnly(only []string) error {
	for _, s := range only {
		if !slices.Contains(Subsystems, s) {
			return fmt.Errorf("unknown subsystem %q in --only (known: %s)", s, strings.Join(Subsystems, ", "))
		}
	}
	return nil
}

// LoadLab loads and checks the lab repo in dir against the registered roles.
func LoadLab(dir string) (*lab.Lab, error) {
	return lab.Load(dir, role.LabOptions())
}

// Desired builds a host's whole desired state: what every host gets, the
// self-restores of the stateful services its role declares, the role's
// own resources, and the backup schedule. memory is what earlier passes
// kept.
func Desired(l *lab.Lab, hostName string, memory map[string]string, now time.Time) (*lab.Host, *role.Output, error) {
	h := l.Hosts.Get(hostName)
	if h == nil {
		var names []string
		for _, x := range l.Hosts {
			names = append(names, x.Name)
		}
		return nil, nil, fmt.Errorf("host %q is not in %s (hosts: %s)", hostName, lab.LabFile, strings.Join(names, ", "))
	}
	r, ok := role.Lookup(h.Role)
	if !ok {
		return nil, nil, fmt.Errorf("host %s: unknown role %q", h.Name, h.Role)
	}
	in := role.Input{Lab: l, Host: h, Memory: memory, Now: now}
	own, err := r.Build(in)
	if err != nil {
		return nil, nil, fmt.Errorf("role %s: %w", r.Name(), err)
	}
	out := base(in)
	// Containers of projects the host no longer runs go first, so that
	// their ports are free for what replaces them.
	names := projects(append(slices.Clone(out.Resources), own.Resources...))
	if p := removedProjects(memory, names); p != nil {
		out.Resources = append(out.Resources, p)
	}
	if len(names) > 0 {
		// The host's own Docker Engine is configured before it is
		// installed (packages) and before any container starts.
		d, err := docker.DaemonFor(l)
		if err != nil {
			return nil, nil, fmt.Errorf("host %s: %w", h.Name, err)
		}
		out.Resources = append(out.Resources, d)
	}
	cfg, cfgErr := backup.ConfigFor(l, h.Name, "/")
	var jobs []backup.Job
	if cfgErr == nil {
		jobs = backup.Jobs(cfg, own.Stateful)
	}
	// A replaced VM's data comes back before the role's containers start.
	out.Resources = append(out.Resources, backup.SelfRestores(cfg, jobs)...)
	out.Add(own)
	if out.Memory == nil {
		out.Memory = map[string]string{}
	}
	out.Memory[ProjectsMemory] = strings.Join(names, ",")
	if cfgErr == nil && cfg.Enabled() && len(jobs) > 0 {
		// The repository password is a credential the agent owns.
		out.Resources = append(out.Resources, backup.PasswordRotation(cfg))
	}
	out.Resources = append(out.Resources, backup.ScheduleOf(cfg, jobs))
	backup.RequireRestores(out.Resources)
	// Every compose project's containers must run and pass their own
	// healthchecks, after the role's own probes. The lab's image update
	// policy reaches every project; the host's own updates: block is the
	// role project's (an app's is set with it).
	for _, r := range out.Resources {
		if p, ok := r.(*docker.Project); ok {
			p.LabUpdates = l.Updates
			if !isApp(l, h.Name, p.Name) {
				p.OwnUpdates = h.Updates
			}
			out.Health.Probes = append(out.Health.Probes, health.Func{Name: "containers of " + p.Name, F: p.Healthy})
		}
	}
	if apt := packagesOf(out); apt != nil {
		out.Resources = append(out.Resources, apt)
	}
	slices.SortStableFunc(out.Resources, func(a, b resource.Resource) int {
		return slices.Index(Subsystems, a.Subsystem()) - slices.Index(Subsystems, b.Subsystem())
	})
	return h, out, nil
}

// isApp reports whether project is one of the host's apps: entries.
func isApp(l *lab.Lab, host, project string) bool {
	for _, a := range l.AppsOn(host) {
		if a.Name == project {
			return true
		}
	}
	return false
}

// SecretsOf lists the secrets a desired state needs, sorted.
func SecretsOf(out *role.Output) []string { return neededSecrets(out, out.Resources) }

// HealthOf returns the host's health probes as the lab declares them
// (the role's, one per compose project) and the role's deadline.
func HealthOf(l *lab.Lab, host string) (health.Spec, error) {
	_, out, err := Desired(l, host, nil, clock.Real.Now())
	if err != nil {
		return health.Spec{}, err
	}
	return out.Health, nil
}

// packagesOf returns the host's packages resource: what the role declares
// and what its resources need (packages.Needer), or nil when nothing is.
func packagesOf(out *role.Output) *packages.Apt {
	var needs packages.Needs
	needs.Add(out.Packages)
	for _, r := range out.Resources {
		if n, ok := r.(packages.Needer); ok {
			needs.Add(n.PackageNeeds())
		}
	}
	return needs.Resource()
}
