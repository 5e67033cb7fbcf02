// Package traefik is the traefik role: Traefik v3 terminating TLS for
// *.<domain> with a Let's Encrypt wildcard certificate obtained through
// Cloudflare DNS-01, and routing <service>.<domain> to each app host.
package traefik

import (
	"crypto/sha256"
	_ "embed"
	"encoding/hex"
	"fmt"

	"github.com/homelab-agent/homelab-agent/agent/files"
	"github.com/homelab-agent/homelab-agent/agent/lab"
	"github.com/homelab-agent/homelab-agent/agent/resource"
	"github.com/homelab-agent/homelab-agent/roles"
)

//go:embed compose.yaml
var composeFile []byte

// Paths of the files the role manages.
const (
	StaticPath  = "/etc/traefik/traefik.yml"
	DynamicPath = "/etc/traefik/dynamic/homelab.yml"
	// DataDir keeps the ACME account and certificates on the data disk.
	DataDir = "/srv/data/traefik"
	// Project is the compose project.
	Project = "traefik"
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

// Build implements roles.Role: the static and dynamic config files and the
// Traefik container. Traefik watches its dynamic folder, so the routes
// need no reload; a change of the static config recreates the container.
func (Role) Build(in roles.Input) (*roles.Output, error) {
	static, err := renderStatic(in.Lab)
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
	return &roles.Output{Resources: []resource.Resource{sf, df, p}}, nil
}

// Validate implements roles.Validator.
func (r Role) Validate(l *lab.Lab, errs *lab.Errors) {
	if p := l.Proxy.DNSProvider; p != "" && p != "cloudflare" {
		errs.At(l.Proxy.DNSProviderPos, "unsupported proxy.dns_provider %q (supported: cloudflare)", p)
	}
	if hs := l.WithRole("traefik"); len(hs) > 0 && l.Proxy.ACMEEmail == "" {
		errs.At(hs[0].RolePos, "the traefik role needs proxy.acme_email for Let's Encrypt")
	}
	roles.CheckContainers(l, r, Project, errs)
}
