// Package traefik is the traefik role: Traefik v3 terminating TLS for
// *.<domain> with a Let's Encrypt wildcard certificate obtained through
// Cloudflare DNS-01, and routing <service>.<domain> to each app host.
package traefik

import (
	"fmt"

	"github.com/homelab-agent/homelab-agent/agent/files"
	"github.com/homelab-agent/homelab-agent/agent/lab"
	"github.com/homelab-agent/homelab-agent/agent/resource"
	"github.com/homelab-agent/homelab-agent/roles"
)

// Paths of the files the role manages.
const (
	StaticPath  = "/etc/traefik/traefik.yml"
	DynamicPath = "/etc/traefik/dynamic/homelab.yml"
	EnvPath     = "/etc/traefik/traefik.env"
	// DataDir keeps the ACME account and certificates on the data disk.
	DataDir = "/srv/data/traefik"
)

// Role is the traefik role.
type Role struct{}

func init() { roles.Register(Role{}) }

var (
	_ roles.Role      = Role{}
	_ roles.Validator = Role{}
)

// Name implements roles.Role.
func (Role) Name() string { return "traefik" }

// Build implements roles.Role. Traefik watches its dynamic folder, so the
// routes need no reload hook.
func (Role) Build(in roles.Input) (*roles.Output, error) {
	static, err := renderStatic(in.Lab)
	if err != nil {
		return nil, fmt.Errorf("rendering static config: %w", err)
	}
	dynamic, err := renderDynamic(in.Lab)
	if err != nil {
		return nil, fmt.Errorf("rendering dynamic config: %w", err)
	}
	env := roles.EnvFile("traefik.env", map[string]string{
		"CF_DNS_API_TOKEN": "${secret:CF_DNS_API_TOKEN}",
	})
	return &roles.Output{Resources: []resource.Resource{
		&files.File{Path: StaticPath, Content: static, Mode: 0o644},
		&files.File{Path: DynamicPath, Content: dynamic, Mode: 0o644},
		&files.File{Path: EnvPath, Content: env, Mode: 0o600},
	}}, nil
}

// Validate implements roles.Validator.
func (Role) Validate(l *lab.Lab, errs *lab.Errors) {
	if p := l.Proxy.DNSProvider; p != "" && p != "cloudflare" {
		errs.At(l.Proxy.DNSProviderPos, "unsupported proxy.dns_provider %q (supported: cloudflare)", p)
	}
	if hs := l.WithRole("traefik"); len(hs) > 0 && l.Proxy.ACMEEmail == "" {
		errs.At(hs[0].RolePos, "the traefik role needs proxy.acme_email for Let's Encrypt")
	}
}
