package traefik_test

import (
	"strings"
	"testing"
	"time"

	"gopkg.in/yaml.v3"

	"github.com/homelab-agent/homelab-agent/agent"
	"github.com/homelab-agent/homelab-agent/roles/rolestest"
)

// TestRoutersInheritTheWildcard checks the shape that makes Traefik ask
// Let's Encrypt for one certificate, <domain> + *.<domain>, and never for
// a service's own name (which would publish every service name in the
// Certificate Transparency logs). Read from Traefik's source (master at
// fd5a576df2, the v3.7 line):
//
//   - pkg/provider/traefik/internal.go, entryPointModels: an entry point's
//     http.tls (certResolver, domains) becomes the model "<ep>@internal".
//   - pkg/server/aggregator.go, applyModel: a router on that entry point
//     gets the model's TLS only `if cp.TLS == nil`. A router with a tls
//     block of its own, even an empty `tls: {}`, keeps its own, and an
//     empty one has no certResolver.
//   - pkg/provider/acme/provider.go, watchNewDomains: the ACME provider
//     looks only at routers whose TLS.CertResolver is its name. When the
//     router's TLS.Domains is set it requests exactly those; only when it
//     is empty does it parse the Host() rule and request the router's own
//     name (httpmuxer.ParseDomains). resolveCertificate's resolving-domains
//     lock makes routers sharing the same domains one request.
//
// So: the resolver and the wildcard are set once, on websecure, and the
// routers carry no tls block. (`tls: {}` on the routers, as one might
// write, would leave every router without a resolver and no certificate
// would ever be requested.) The dashboard router is on its own
// localhost-only entry point without TLS.
func TestRoutersInheritTheWildcard(t *testing.T) {
	l := rolestest.Lab(t, `  cloud: {ip: 192.168.100.10, role: nextcloud}
  media: {ip: 192.168.100.12, role: jellyfin}
`, nil)
	files, err := agent.RenderHost(l, "proxy", time.Now())
	if err != nil {
		t.Fatal(err)
	}
	var static struct {
		EntryPoints map[string]struct {
			HTTP struct {
				TLS *struct {
					CertResolver string `yaml:"certResolver"`
					Domains      []struct {
						Main string   `yaml:"main"`
						Sans []string `yaml:"sans"`
					} `yaml:"domains"`
				} `yaml:"tls"`
			} `yaml:"http"`
		} `yaml:"entryPoints"`
		CertificatesResolvers map[string]any `yaml:"certificatesResolvers"`
	}
	var dynamic struct {
		HTTP struct {
			Routers map[string]map[string]any `yaml:"routers"`
		} `yaml:"http"`
	}
	for _, f := range files {
		switch f.Path {
		case "/etc/traefik/traefik.yml":
			if err := yaml.Unmarshal(f.Content, &static); err != nil {
				t.Fatal(err)
			}
		case "/etc/traefik/dynamic/homelab.yml":
			if err := yaml.Unmarshal(f.Content, &dynamic); err != nil {
				t.Fatal(err)
			}
		}
	}
	tls := static.EntryPoints["websecure"].HTTP.TLS
	if tls == nil || len(static.CertificatesResolvers) != 1 || static.CertificatesResolvers[tls.CertResolver] == nil {
		t.Fatalf("websecure's tls %+v does not name the one resolver %v", tls, static.CertificatesResolvers)
	}
	if len(tls.Domains) != 1 || tls.Domains[0].Main != "home.example" || len(tls.Domains[0].Sans) != 1 || tls.Domains[0].Sans[0] != "*.home.example" {
		t.Fatalf("websecure's domains %+v, want home.example + *.home.example", tls.Domains)
	}
	if len(dynamic.HTTP.Routers) < 3 {
		t.Fatalf("routers %v", dynamic.HTTP.Routers)
	}
	for name, r := range dynamic.HTTP.Routers {
		if _, has := r["tls"]; has {
			t.Errorf("router %s has a tls block of its own (%v): it would not inherit the wildcard", name, r["tls"])
		}
		eps, _ := r["entryPoints"].([]any)
		if name != "dashboard" && (len(eps) != 1 || eps[0] != "websecure") {
			t.Errorf("router %s is on %v, want websecure only", name, eps)
		}
	}
}

// TestRespondingTimeouts: uploads get 600 s by default (Traefik's 60 s
// read timeout breaks large Immich uploads); a proxy host may set its own,
// and a bad duration is an error at its position.
func TestRespondingTimeouts(t *testing.T) {
	static := func(l string) string {
		t.Helper()
		lb := rolestest.LabWithProxy(t, l)
		fs, err := agent.RenderHost(lb, "proxy", time.Now())
		if err != nil {
			t.Fatal(err)
		}
		for _, f := range fs {
			if f.Path == "/etc/traefik/traefik.yml" {
				return string(f.Content)
			}
		}
		t.Fatal("no traefik.yml")
		return ""
	}
	if s := static("{ip: 192.168.100.3, role: traefik}"); !strings.Contains(s, "readTimeout: 600s") || !strings.Contains(s, "idleTimeout: 180s") {
		t.Errorf("defaults:\n%s", s)
	}
	if s := static("{ip: 192.168.100.3, role: traefik, timeouts: {read: 1h}}"); !strings.Contains(s, "readTimeout: 1h") || !strings.Contains(s, "writeTimeout: 600s") {
		t.Errorf("override:\n%s", s)
	}
	_, err := rolestest.TryLabWithProxy(t, "{ip: 192.168.100.3, role: traefik, timeouts: {read: forever}}")
	if err == nil || !strings.Contains(err.Error(), `homelab.yaml:6:62: invalid timeout "forever"`) {
		t.Errorf("bad timeout: %v", err)
	}
}
