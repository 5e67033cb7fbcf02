// Package roles holds the role registry. A role turns (lab, host) into the
// resources that make a host what it is; it does no I/O of its own. Each
// role lives in its own package under roles/ and registers itself in
// init(); roles/all imports every one of them.
package roles

import (
	"fmt"
	"slices"
	"sync"
	"time"

	"github.com/homelab-agent/homelab-agent/agent/lab"
	"github.com/homelab-agent/homelab-agent/agent/resource"
)

// Order is the one place that says in which order roles come up in a lab:
// name service first, then the VPN, the proxy, and the apps behind it.
// Bootstrap starts VMs in this order and listings follow it.
var Order = []string{"dns", "tailscale-router", "traefik", "nextcloud", "immich", "jellyfin"}

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
}

// Add appends another output's parts.
func (o *Output) Add(p *Output) {
	if p == nil {
		return
	}
	o.Resources = append(o.Resources, p.Resources...)
	o.Hooks = append(o.Hooks, p.Hooks...)
	o.Secrets = append(o.Secrets, p.Secrets...)
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

var (
	mu       sync.RWMutex
	registry = map[string]Role{}
)

// Register adds a role; registering a name twice panics at start-up.
func Register(r Role) {
	mu.Lock()
	defer mu.Unlock()
	if _, dup := registry[r.Name()]; dup {
		panic(fmt.Sprintf("roles: role %q registered twice", r.Name()))
	}
	if !slices.Contains(Order, r.Name()) {
		panic(fmt.Sprintf("roles: role %q is not in roles.Order", r.Name()))
	}
	registry[r.Name()] = r
}

// Lookup returns a registered role.
func Lookup(name string) (Role, bool) {
	mu.RLock()
	defer mu.RUnlock()
	r, ok := registry[name]
	return r, ok
}

// Names returns the registered roles in Order.
func Names() []string {
	mu.RLock()
	defer mu.RUnlock()
	var out []string
	for _, n := range Order {
		if _, ok := registry[n]; ok {
			out = append(out, n)
		}
	}
	return out
}

// LabOptions returns the lab parser's options for the registered roles.
func LabOptions() lab.Options {
	opts := lab.Options{Roles: Names()}
	for _, n := range opts.Roles {
		r, _ := Lookup(n)
		if v, ok := r.(Validator); ok {
			opts.Validators = append(opts.Validators, v.Validate)
		}
	}
	return opts
}
