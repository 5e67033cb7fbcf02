package tailscale

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/homelab-agent/homelab-agent/agent/resource"
)

// ForwardingKeys are the kernel switches a subnet router needs.
var ForwardingKeys = []string{"net.ipv4.ip_forward", "net.ipv6.conf.all.forwarding"}

// Forwarding keeps the running kernel's forwarding switches on (the
// /etc/sysctl.d file makes them survive a reboot; this puts them back if
// something turned them off). Under a --root folder it does nothing.
type Forwarding struct {
	// ProcSys is /proc/sys when empty.
	ProcSys string
}

var _ resource.Resource = (*Forwarding)(nil)

// ID implements resource.Resource.
func (f *Forwarding) ID() string { return "sysctl:forwarding" }

// Subsystem implements resource.Resource.
func (f *Forwarding) Subsystem() string { return Subsystem }

// CheckApply implements resource.Resource.
func (f *Forwarding) CheckApply(_ context.Context, env *resource.Env, apply bool) (*resource.Change, error) {
	if env.Root != "" && env.Root != "/" {
		return nil, nil
	}
	dir := f.ProcSys
	if dir == "" {
		dir = "/proc/sys"
	}
	var off []string
	for _, k := range ForwardingKeys {
		p := filepath.Join(dir, strings.ReplaceAll(k, ".", "/"))
		b, err := os.ReadFile(p)
		if err != nil {
			return nil, fmt.Errorf("reading %s: %w", k, err)
		}
		if strings.TrimSpace(string(b)) == "1" {
			continue
		}
		off = append(off, k)
		if apply {
			if err := os.WriteFile(p, []byte("1\n"), 0o644); err != nil {
				return nil, fmt.Errorf("setting %s: %w", k, err)
			}
		}
	}
	if len(off) == 0 {
		return nil, nil
	}
	return &resource.Change{ID: f.ID(), Subsystem: Subsystem, Action: "update",
		Summary: "turn on " + strings.Join(off, ", ")}, nil
}
