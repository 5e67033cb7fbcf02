// Package dns is the dns role: BIND 9.20 answering the lab's own zone and
// its reverse zone, and resolving everything else for the lab and VPN
// subnets only, through DNS-over-TLS to a Mullvad profile.
package dns

import (
	"fmt"
	"net"
	"strings"
	"time"

	"github.com/homelab-agent/homelab-agent/agent/files"
	"github.com/homelab-agent/homelab-agent/agent/health"
	"github.com/homelab-agent/homelab-agent/agent/lab"
	"github.com/homelab-agent/homelab-agent/agent/packages"
	"github.com/homelab-agent/homelab-agent/agent/resource"
	"github.com/homelab-agent/homelab-agent/agent/role"
)

// Paths of the files the role manages.
const (
	ConfPath = "/etc/bind/named.conf"
	ZoneDir  = "/etc/bind/homelab"
)

// Role is the dns role.
type Role struct{}

func init() { role.Register(Role{}) }

var (
	_ role.Role         = Role{}
	_ role.Validator    = Role{}
	_ role.Configurable = Role{}
	_ role.Player       = Role{}
)

// SettingsKey is the top-level key of homelab.yaml the role owns.
const SettingsKey = "dns"

// Settings are the role's keys under dns: in homelab.yaml: the
// DNS-over-TLS profile used for names outside the lab.
type Settings struct {
	Upstream    string  `yaml:"upstream"`
	UpstreamPos lab.Pos `yaml:"-"`
}

// Name implements role.Role.
func (Role) Name() string { return "dns" }

// Plays implements role.Player: the lab's name server.
func (Role) Plays() []role.Part { return []role.Part{role.NameServer} }

// Settings implements role.Configurable: the dns: block.
func (Role) Settings() []lab.Setting {
	return []lab.Setting{{Key: SettingsKey, New: func() any { return new(Settings) }}}
}

func settings(l *lab.Lab) *Settings { return lab.SettingOf[Settings](l, SettingsKey) }

// Packages is what the role needs installed: BIND 9.20 or later, the
// first to forward over TLS (Debian 13 ships it; mind the epoch, Debian's
// version is 1:9.20.x), enabled as named.service.
var Packages = packages.Needs{
	Packages: []packages.Package{{Name: "bind9", MinVersion: "1:9.20", Why: "role dns (DNS-over-TLS forwarders)"}},
	Enable:   []string{"named.service"},
}

// Build implements role.Role.
func (Role) Build(in role.Input) (*role.Output, error) {
	l := in.Lab
	up := upstreams[upstreamName(l)]
	zones := Zones(l)
	out := &role.Output{Memory: map[string]string{}}
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
	out.Health = zoneHealth(l, in.Host)
	out.Packages = Packages
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
	if u := settings(l).Upstream; u != "" {
		return u
	}
	return DefaultUpstream
}

// Validate implements role.Validator: the upstream profile exists, and
// every name in the lab's zone is used once and points somewhere.
func (Role) Validate(l *lab.Lab, errs *lab.Errors) {
	if s := settings(l); s.Upstream != "" {
		if _, ok := upstreams[s.Upstream]; !ok {
			u := s.Upstream
			errs.At(s.UpstreamPos, "unknown dns.upstream %q (known: %s)", u, strings.Join(upstreamNames(), ", "))
		}
	}
	names := map[string]string{}
	for _, h := range l.Hosts {
		names[h.Name] = "host " + h.Name
	}
	svcs := role.Services(l)
	if len(svcs) > 0 && len(role.HostsPlaying(l, role.ReverseProxy)) == 0 {
		errs.At(svcs[0].Pos, "service %s is exposed but no host has the %s role", svcs[0].Subdomain, role.RolesPlaying(role.ReverseProxy))
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

// zoneHealth asks this host's named, on its lab address, for every host's
// and every published service's name.
func zoneHealth(l *lab.Lab, h *lab.Host) health.Spec {
	server := net.JoinHostPort(h.IP.String(), "53")
	spec := health.Spec{Deadline: 30 * time.Second}
	for _, x := range l.Hosts {
		spec.Probes = append(spec.Probes, health.DNS{Server: server, Name: x.Name + "." + l.Domain, Want: x.IP.Addr})
	}
	if proxies := role.HostsPlaying(l, role.ReverseProxy); len(proxies) > 0 {
		for _, s := range role.Services(l) {
			spec.Probes = append(spec.Probes, health.DNS{Server: server, Name: s.Subdomain + "." + l.Domain, Want: proxies[0].IP.Addr})
		}
	}
	return spec
}
