// Package dns is the dns role: BIND 9.20 answering the lab's own zone and
// its reverse zone, and resolving everything else for the lab and VPN
// subnets only, through DNS-over-TLS to a Mullvad profile.
package dns

import (
	"fmt"
	"strings"
	"time"

	"github.com/homelab-agent/homelab-agent/agent/files"
	"github.com/homelab-agent/homelab-agent/agent/lab"
	"github.com/homelab-agent/homelab-agent/agent/resource"
	"github.com/homelab-agent/homelab-agent/roles"
)

// Paths of the files the role manages.
const (
	ConfPath = "/etc/bind/named.conf"
	ZoneDir  = "/etc/bind/homelab"
)

// Role is the dns role.
type Role struct{}

func init() { roles.Register(Role{}) }

var (
	_ roles.Role      = Role{}
	_ roles.Validator = Role{}
)

// Name implements roles.Role.
func (Role) Name() string { return "dns" }

// Build implements roles.Role.
func (Role) Build(in roles.Input) (*roles.Output, error) {
	l := in.Lab
	up := upstreams[upstreamName(l)]
	zones := Zones(l)
	out := &roles.Output{Memory: map[string]string{}}
	watch := []string{}
	for _, z := range zones {
		body := z.Render()
		key := "dns.serial." + z.Name
		serial, mem := nextSerial(in.Memory[key], body, in.Now)
		out.Memory[key] = mem
		f := &files.File{Path: z.Path(), Content: z.WithSerial(body, serial), Mode: 0o644, Owner: "root", Group: "bind"}
		out.Resources = append(out.Resources, f)
		watch = append(watch, f.ID())
	}
	conf := &files.File{Path: ConfPath, Content: renderConf(l, up, zones), Mode: 0o640, Owner: "root", Group: "bind"}
	out.Resources = append([]resource.Resource{conf}, out.Resources...)
	watch = append([]string{conf.ID()}, watch...)
	out.Hooks = []*resource.Hook{{
		Name:  "reload-named",
		Watch: watch,
		Commands: [][]string{
			{"named-checkconf", "-z", ConfPath},
			{"systemctl", "reload-or-restart", "named.service"},
		},
	}}
	return out, nil
}

func upstreamName(l *lab.Lab) string {
	if l.DNS.Upstream == "" {
		return DefaultUpstream
	}
	return l.DNS.Upstream
}

// Validate implements roles.Validator: the upstream profile exists, and
// every name in the lab's zone is used once and points somewhere.
func (Role) Validate(l *lab.Lab, errs *lab.Errors) {
	if u := l.DNS.Upstream; u != "" {
		if _, ok := upstreams[u]; !ok {
			errs.At(l.DNS.UpstreamPos, "unknown dns.upstream %q (known: %s)", u, strings.Join(upstreamNames(), ", "))
		}
	}
	names := map[string]string{}
	for _, h := range l.Hosts {
		names[h.Name] = "host " + h.Name
	}
	svcs := roles.Services(l)
	if len(svcs) > 0 && len(l.WithRole("traefik")) == 0 {
		errs.At(svcs[0].Pos, "service %s is exposed but no host has the traefik role", svcs[0].Subdomain)
	}
	for _, s := range svcs {
		if other, dup := names[s.Subdomain]; dup {
			errs.At(s.Pos, "service name %s.%s (on host %s) clashes with %s; give the service another expose.subdomain", s.Subdomain, l.Domain, s.Host.Name, other)
			continue
		}
		names[s.Subdomain] = "service " + s.Subdomain
	}
}

// nextSerial returns the zone serial for body and the memory entry to keep:
// the remembered serial while the zone's content is unchanged, otherwise a
// new YYYYMMDDNN serial greater than the remembered one.
func nextSerial(mem string, body []byte, now time.Time) (uint32, string) {
	hash := contentHash(body)
	var prev uint32
	var prevHash string
	if _, err := fmt.Sscanf(mem, "%d %s", &prev, &prevHash); err == nil && prevHash == hash {
		return prev, mem
	}
	var day uint32
	fmt.Sscanf(now.Format("20060102"), "%d", &day)
	serial := max(prev+1, day*100)
	return serial, fmt.Sprintf("%d %s", serial, hash)
}
