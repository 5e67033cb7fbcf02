package traefik

import (
	"bytes"
	"fmt"

	"gopkg.in/yaml.v3"

	"github.com/homelab-agent/homelab-agent/agent/files"
	"github.com/homelab-agent/homelab-agent/agent/lab"
	"github.com/homelab-agent/homelab-agent/agent/role"
)

const (
	resolver        = "letsencrypt"
	headersMW       = "security-headers"
	stagingCA       = "https://acme-staging-v02.api.letsencrypt.org/directory"
	dashboardListen = "127.0.0.1:8080"
)

type staticConfig struct {
	Global                map[string]bool       `yaml:"global"`
	Log                   map[string]string     `yaml:"log"`
	AccessLog             map[string]string     `yaml:"accessLog"`
	EntryPoints           map[string]entryPoint `yaml:"entryPoints"`
	API                   map[string]bool       `yaml:"api"`
	Ping                  map[string]string     `yaml:"ping"`
	Providers             providers             `yaml:"providers"`
	CertificatesResolvers map[string]certRes    `yaml:"certificatesResolvers"`
}

type entryPoint struct {
	Address   string     `yaml:"address"`
	HTTP      *epHTTP    `yaml:"http,omitempty"`
	Transport *transport `yaml:"transport,omitempty"`
}

type transport struct {
	RespondingTimeouts map[string]string `yaml:"respondingTimeouts"`
}

type epHTTP struct {
	Redirections *redirections `yaml:"redirections,omitempty"`
	TLS          *epTLS        `yaml:"tls,omitempty"`
	Middlewares  []string      `yaml:"middlewares,omitempty"`
}

type redirections struct {
	EntryPoint struct {
		To        string `yaml:"to"`
		Scheme    string `yaml:"scheme"`
		Permanent bool   `yaml:"permanent"`
	} `yaml:"entryPoint"`
}

type epTLS struct {
	CertResolver string   `yaml:"certResolver"`
	Domains      []domain `yaml:"domains"`
}

type domain struct {
	Main string   `yaml:"main"`
	Sans []string `yaml:"sans"`
}

type providers struct {
	File struct {
		Directory string `yaml:"directory"`
		Watch     bool   `yaml:"watch"`
	} `yaml:"file"`
}

type certRes struct {
	ACME struct {
		Email        string `yaml:"email"`
		Storage      string `yaml:"storage"`
		CAServer     string `yaml:"caServer,omitempty"`
		DNSChallenge struct {
			Provider  string   `yaml:"provider"`
			Resolvers []string `yaml:"resolvers"`
		} `yaml:"dnsChallenge"`
	} `yaml:"acme"`
}

// renderStatic renders traefik.yml: HTTP redirected to HTTPS, the wildcard
// certificate on the websecure entry point, the dashboard and ping only on
// localhost, routes from the file provider.
func renderStatic(l *lab.Lab, timeouts Timeouts) ([]byte, error) {
	var c staticConfig
	c.Global = map[string]bool{"checkNewVersion": false, "sendAnonymousUsage": false}
	c.Log = map[string]string{"level": "INFO"}
	c.AccessLog = map[string]string{}
	web := entryPoint{Address: ":80", HTTP: &epHTTP{Redirections: &redirections{}}}
	web.HTTP.Redirections.EntryPoint.To = "websecure"
	web.HTTP.Redirections.EntryPoint.Scheme = "https"
	web.HTTP.Redirections.EntryPoint.Permanent = true
	// The resolver and the wildcard are set once, here: every router on
	// websecure that has no tls block of its own inherits them (see
	// renderDynamic), so one certificate for <domain> and *.<domain> is
	// requested and no per-host name reaches the CT logs.
	secure := entryPoint{Address: ":443", HTTP: &epHTTP{
		TLS:         &epTLS{CertResolver: resolver, Domains: []domain{{Main: l.Domain, Sans: []string{"*." + l.Domain}}}},
		Middlewares: []string{headersMW + "@file"},
	}, Transport: &transport{RespondingTimeouts: timeouts.render()}}
	c.EntryPoints = map[string]entryPoint{"web": web, "websecure": secure, "dashboard": {Address: dashboardListen}}
	c.API = map[string]bool{"dashboard": true}
	c.Ping = map[string]string{"entryPoint": "dashboard"}
	c.Providers.File.Directory = "/etc/traefik/dynamic"
	c.Providers.File.Watch = true
	var r certRes
	r.ACME.Email = settings(l).ACMEEmail
	r.ACME.Storage = DataDir + "/acme.json"
	if settings(l).ACMEStaging {
		r.ACME.CAServer = stagingCA
	}
	r.ACME.DNSChallenge.Provider = "cloudflare"
	r.ACME.DNSChallenge.Resolvers = []string{"1.1.1.1:53", "1.0.0.1:53"}
	c.CertificatesResolvers = map[string]certRes{resolver: r}
	return marshal("traefik.yml", c)
}

type dynamicConfig struct {
	HTTP struct {
		Routers     map[string]router     `yaml:"routers"`
		Services    map[string]service    `yaml:"services,omitempty"`
		Middlewares map[string]middleware `yaml:"middlewares"`
	} `yaml:"http"`
}

type router struct {
	EntryPoints []string `yaml:"entryPoints"`
	Rule        string   `yaml:"rule"`
	Service     string   `yaml:"service"`
}

type service struct {
	LoadBalancer struct {
		Servers        []map[string]string `yaml:"servers"`
		PassHostHeader bool                `yaml:"passHostHeader"`
	} `yaml:"loadBalancer"`
}

type middleware struct {
	Headers map[string]any `yaml:"headers"`
}

// renderDynamic renders the file provider's routes: one router and
// service per published service, the dashboard on the localhost entry
// point, and the security-headers middleware.
func renderDynamic(l *lab.Lab) ([]byte, error) {
	var c dynamicConfig
	c.HTTP.Routers = map[string]router{
		"dashboard": {EntryPoints: []string{"dashboard"}, Rule: "PathPrefix(`/api`) || PathPrefix(`/dashboard`)", Service: "api@internal"},
	}
	c.HTTP.Services = map[string]service{}
	for _, s := range role.Services(l) {
		host := s.Subdomain + "." + l.Domain
		// No tls block: the router takes websecure's (the resolver and the
		// wildcard domains). A block of its own, even tls: {}, would stop
		// that (TestRoutersInheritTheWildcard says why).
		c.HTTP.Routers[s.Subdomain] = router{
			EntryPoints: []string{"websecure"},
			Rule:        fmt.Sprintf("Host(`%s`)", host),
			Service:     s.Subdomain,
		}
		var svc service
		svc.LoadBalancer.Servers = []map[string]string{{"url": fmt.Sprintf("http://%s:%d", s.Host.IP, s.Port)}}
		svc.LoadBalancer.PassHostHeader = true
		c.HTTP.Services[s.Subdomain] = svc
	}
	c.HTTP.Middlewares = map[string]middleware{headersMW: {Headers: map[string]any{
		"stsSeconds":              31536000,
		"stsIncludeSubdomains":    true,
		"stsPreload":              true,
		"forceSTSHeader":          true,
		"contentTypeNosniff":      true,
		"browserXssFilter":        true,
		"referrerPolicy":          "same-origin",
		"customFrameOptionsValue": "SAMEORIGIN",
	}}}
	return marshal("dynamic/homelab.yml", c)
}

func marshal(name string, v any) ([]byte, error) {
	var b bytes.Buffer
	b.WriteString(files.Header("#", name))
	enc := yaml.NewEncoder(&b)
	enc.SetIndent(2)
	if err := enc.Encode(v); err != nil {
		return nil, err
	}
	return b.Bytes(), enc.Close()
}

// Timeouts are websecure's responding timeouts (Traefik's defaults are
// 60 s to read a request, which cuts large uploads to Immich or
// Nextcloud; Immich's documentation raises them to 600 s).
type Timeouts struct {
	Read     string  `yaml:"read"`
	ReadPos  lab.Pos `yaml:"-"`
	Write    string  `yaml:"write"`
	WritePos lab.Pos `yaml:"-"`
	Idle     string  `yaml:"idle"`
	IdlePos  lab.Pos `yaml:"-"`
}

// DefaultTimeouts are what a proxy host gets unless it says otherwise.
var DefaultTimeouts = Timeouts{Read: "600s", Write: "600s", Idle: "180s"}

// withDefaults fills the keys a host leaves out.
func (t Timeouts) withDefaults() Timeouts {
	if t.Read == "" {
		t.Read = DefaultTimeouts.Read
	}
	if t.Write == "" {
		t.Write = DefaultTimeouts.Write
	}
	if t.Idle == "" {
		t.Idle = DefaultTimeouts.Idle
	}
	return t
}

func (t Timeouts) render() map[string]string {
	return map[string]string{"readTimeout": t.Read, "writeTimeout": t.Write, "idleTimeout": t.Idle}
}
