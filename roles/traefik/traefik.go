// Package traefik is the traefik role: Traefik v3 terminating TLS for
// *.<domain> with a Let's Encrypt wildcard certificate obtained through
// Cloudflare DNS-01, and routing <service>.<domain> to each app host.
package traefik

import (
	"crypto/sha256"
	_ "embed"
	"encoding/hex"
	"fmt"
	"time"

	"github.com/homelab-agent/homelab-agent/agent/backup"
	"github.com/homelab-agent/homelab-agent/agent/files"
	"github.com/homelab-agent/homelab-agent/agent/health"
	"github.com/homelab-agent/homelab-agent/agent/lab"
	"github.com/homelab-agent/homelab-agent/agent/resource"
	"github.com/homelab-agent/homelab-agent/agent/role"
	"github.com/homelab-agent/homelab-agent/roles"
)

//go:embed compose.yaml
var composeFile []byte

// Paths of the files the role manages.
const (
	StaticPath  = "/etc/traefik/traefik.yml"
	DynamicPath = "/etc/traefik/dynamic/homelab.yml"
	// Project is the compose project.
	Project = "traefik"
	// SettingsKey is the top-level key of homelab.yaml the role owns.
	SettingsKey = "proxy"
	// TimeoutsKey is the proxy host's key for websecure's responding
	// timeouts: {read, write, idle} as durations ("600s", "1h", "0s" for none).
	TimeoutsKey = "timeouts"
)

// DataDir keeps the ACME account and certificates on the data disk.
var DataDir = lab.DataDir(Project)

// Settings are the role's keys under proxy: in homelab.yaml.
type Settings struct {
	ACMEEmail      string  `yaml:"acme_email"`
	ACMEEmailPos   lab.Pos `yaml:"-"`
	DNSProvider    string  `yaml:"dns_provider"`
	DNSProviderPos lab.Pos `yaml:"-"`
	// ACMEStaging uses Let's Encrypt's staging CA (for trying a new lab).
	ACMEStaging bool `yaml:"acme_staging"`
}

// settings returns the lab's proxy: settings.
func settings(l *lab.Lab) *Settings { return lab.SettingOf[Settings](l, SettingsKey) }

// Role is the traefik role.
type Role struct{}

func init() { role.Register(Role{}) }

var (
	_ role.Role         = Role{}
	_ role.Validator    = Role{}
	_ role.Configurable = Role{}
	_ role.Player       = Role{}
)

// Name implements role.Role.
func (Role) Name() string { return "traefik" }

// Plays implements role.Player: the lab's reverse proxy.
func (Role) Plays() []role.Part { return []role.Part{role.ReverseProxy} }

// Settings implements role.Configurable: the proxy: block.
func (Role) Settings() []lab.Setting {
	return []lab.Setting{
		{Key: SettingsKey, New: func() any { return new(Settings) }},
		{Key: TimeoutsKey, Host: true, New: func() any { return new(Timeouts) }},
	}
}

// Build implements role.Role: the static and dynamic config files and the
// Traefik container. Traefik watches its dynamic folder, so the routes
// need no reload; a change of the static config recreates the container.
func (Role) Build(in role.Input) (*role.Output, error) {
	static, err := renderStatic(in.Lab, lab.HostSettingOf[Timeouts](in.Host, TimeoutsKey).withDefaults())
	if err != nil {
		return nil, fmt.Errorf("rendering static config: %w", err)
	}
	dynamic, err := renderDynamic(in.Lab)
	if err != nil {
		return nil, fmt.Errorf("rendering dynamic config: %w", err)
	}
	sum := sha256.Sum256(static)
	sf := &files.File{Path: StaticPath, Content: static, Mode: 0o644}
	df := &files.File{Path: DynamicPath, Content: dynamic, Mode: 0o644}
	p := roles.Containers(in, Project, "roles/traefik/compose.yaml", composeFile, map[string]string{
		"DATA_DIR":           DataDir,
		"STATIC_CONFIG_HASH": hex.EncodeToString(sum[:8]),
	})
	p.Requires = []string{sf.ID(), df.ID()}
	return &role.Output{
		Resources: []resource.Resource{sf, df, p},
		Health:    routesHealth(in.Lab),
		// The ACME account and certificates survive a rebuild.
		Stateful: []backup.Service{{Name: Project}},
	}, nil
}

// Validate implements role.Validator.
func (r Role) Validate(l *lab.Lab, errs *lab.Errors) {
	ps := settings(l)
	if ps.ACMEEmail != "" && !lab.ValidEmail(ps.ACMEEmail) {
		errs.At(ps.ACMEEmailPos, "invalid acme_email %q", ps.ACMEEmail)
	}
	if p := ps.DNSProvider; p != "" && p != "cloudflare" {
		errs.At(ps.DNSProviderPos, "unsupported proxy.dns_provider %q (supported: cloudflare)", p)
	}
	for _, h := range l.WithRole(r.Name()) {
		t := lab.HostSettingOf[Timeouts](h, TimeoutsKey)
		for _, x := range []struct {
			v   string
			pos lab.Pos
		}{{t.Read, t.ReadPos}, {t.Write, t.WritePos}, {t.Idle, t.IdlePos}} {
			if d, err := time.ParseDuration(x.v); x.v != "" && (err != nil || d < 0) {
				errs.At(x.pos, "invalid timeout %q: want a duration such as 600s or 1h (0s for none)", x.v)
			}
		}
	}
	if hs := l.WithRole(r.Name()); len(hs) > 0 && ps.ACMEEmail == "" {
		errs.At(hs[0].RolePos, "the traefik role needs proxy.acme_email for Let's Encrypt")
	}
	roles.CheckContainers(l, r, Project, errs)
}

// routesHealth probes every routed service through the proxy: HTTPS on
// this host's port 443 with the service's name, the served certificate
// naming it, and an answer from the app behind (any status below 500).
func routesHealth(l *lab.Lab) health.Spec {
	spec := health.Spec{Deadline: 120 * time.Second}
	for _, s := range role.Services(l) {
		name := s.Subdomain + "." + l.Domain
		spec.Probes = append(spec.Probes, health.HTTP{
			Name: "traefik route " + name, URL: "https://" + name + "/",
			Connect: "127.0.0.1:443", ServerName: name, Below: 500,
		})
	}
	return spec
}
