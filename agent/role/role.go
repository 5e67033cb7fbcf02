// Package role is the contract between the engine and the roles: what a
// role sees (Input), what it returns (Output), the registry roles add
// themselves to, and the capabilities a role may declare (parts it plays
// for the lab, services it publishes, ports it opens, routes, settings).
// The engine and the primitives read these declarations; none of them
// imports a role or names one. The roles live under roles/, import this
// package and register in init(); roles/all imports every one of them.
package role

import (
	"fmt"
	"slices"
	"sync"
	"time"

	"github.com/homelab-agent/homelab-agent/agent/backup"
	"github.com/homelab-agent/homelab-agent/agent/health"
	"github.com/homelab-agent/homelab-agent/agent/lab"
	"github.com/homelab-agent/homelab-agent/agent/packages"
	"github.com/homelab-agent/homelab-agent/agent/resource"
)

// Input is what a role sees of the world.
type Input struct {
	Lab  *lab.Lab
	Host *lab.Host
	// Memory is what earlier passes asked to keep (Output.Memory); read only.
	Memory map[string]string
	// Now is the pass's clock, for values such as zone serials.
	Now time.Time
}

// Output is a role's desired state for a host.
type Output struct {
	Resources []resource.Resource
	Hooks     []*resource.Hook
	// Secrets names secrets the host needs beyond those its resources use.
	Secrets []string
	// Memory is saved after an apply and handed back in the next Input.
	Memory map[string]string
	// Stateful declares the services whose data folder
	// (/srv/data/<name>/) is backed up and self-restored, with their
	// quiesce and dump steps. The backup subsystem reads only this.
	Stateful []backup.Service
	// Health is how to tell the host's services work: probes with timeouts
	// and the role's deadline after a change (agent/health). The engine
	// adds a probe per compose project (its containers run and pass their
	// own healthchecks).
	Health health.Spec
	// Packages are the Debian packages (with minimum versions), apt
	// repositories and systemd units the role's programs need. The engine
	// adds what resources declare (packages.Needer: a compose project
	// needs the Docker Engine, backups need restic) and installs it all
	// first in a pass.
	Packages packages.Needs
}

// Add appends another output's parts.
func (o *Output) Add(p *Output) {
	if p == nil {
		return
	}
	o.Resources = append(o.Resources, p.Resources...)
	o.Hooks = append(o.Hooks, p.Hooks...)
	o.Secrets = append(o.Secrets, p.Secrets...)
	o.Stateful = append(o.Stateful, p.Stateful...)
	o.Health.Add(p.Health)
	o.Packages.Add(p.Packages)
	for k, v := range p.Memory {
		if o.Memory == nil {
			o.Memory = map[string]string{}
		}
		o.Memory[k] = v
	}
}

// Role makes a host what its role says.
type Role interface {
	// Name is the role's name in homelab.yaml.
	Name() string
	// Build returns the host's desired state; it must be pure.
	Build(in Input) (*Output, error)
}

// Validator is implemented by roles that check lab-wide settings they own.
type Validator interface {
	Validate(l *lab.Lab, errs *lab.Errors)
}

// Configurable is implemented by roles that own keys of homelab.yaml: a
// top-level key (dns:, proxy:) or a key of their hosts (gpu:). The lab's
// strict decoder fills the role's own settings type, with the same
// homelab.yaml:L:C errors as the rest of the file; the role reads the
// result back with lab.SettingOf and lab.HostSettingOf.
type Configurable interface {
	Settings() []lab.Setting
}

var (
	mu       sync.RWMutex
	registry = map[string]Role{}
	order    []string
)

// SetOrder declares the order in which roles come up in a lab (bootstrap
// starts VMs in it, listings follow it). It is called once, by the roles
// package that holds the list, before any role registers.
func SetOrder(names []string) {
	mu.Lock()
	defer mu.Unlock()
	order = slices.Clone(names)
}

// Register adds a role; registering a name twice, or a name missing from
// the declared order, panics at start-up.
func Register(r Role) {
	mu.Lock()
	defer mu.Unlock()
	if _, dup := registry[r.Name()]; dup {
		panic(fmt.Sprintf("role: role %q registered twice", r.Name()))
	}
	if !slices.Contains(order, r.Name()) {
		panic(fmt.Sprintf("role: role %q is not in the declared order (roles.Order)", r.Name()))
	}
	registry[r.Name()] = r
}

// Unregister removes a role; tests that register a role of their own
// call it when they are done.
func Unregister(name string) {
	mu.Lock()
	defer mu.Unlock()
	delete(registry, name)
}

// Lookup returns a registered role.
func Lookup(name string) (Role, bool) {
	mu.RLock()
	defer mu.RUnlock()
	r, ok := registry[name]
	return r, ok
}

// Order returns the declared order, registered or not.
func Order() []string {
	mu.RLock()
	defer mu.RUnlock()
	return slices.Clone(order)
}

// Names returns the registered roles in the declared order.
func Names() []string {
	mu.RLock()
	defer mu.RUnlock()
	var out []string
	for _, n := range order {
		if _, ok := registry[n]; ok {
			out = append(out, n)
		}
	}
	return out
}

// LabOptions returns the lab parser's options for the registered roles:
// their names, their settings keys and their validators.
func LabOptions() lab.Options {
	opts := lab.Options{Roles: Names()}
	for _, n := range opts.Roles {
		r, _ := Lookup(n)
		if c, ok := r.(Configurable); ok {
			for _, s := range c.Settings() {
				s.Role = n
				opts.Settings = append(opts.Settings, s)
			}
		}
		if v, ok := r.(Validator); ok {
			opts.Validators = append(opts.Validators, v.Validate)
		}
	}
	return opts
}
