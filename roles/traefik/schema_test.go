package traefik_test

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/santhosh-tekuri/jsonschema/v6"
	"gopkg.in/yaml.v3"

	"github.com/homelab-agent/homelab-agent/agent"
	"github.com/homelab-agent/homelab-agent/agent/files"
	"github.com/homelab-agent/homelab-agent/agent/lab"
	"github.com/homelab-agent/homelab-agent/agent/role"
	"github.com/homelab-agent/homelab-agent/internal/testreq"
	"github.com/homelab-agent/homelab-agent/roles/rolestest"
	"github.com/homelab-agent/homelab-agent/roles/traefik"
)

func compile(t *testing.T, name string) *jsonschema.Schema {
	t.Helper()
	f, err := os.Open(testreq.SharedFile(t, filepath.Join("schemas", name)))
	if err != nil {
		testreq.Missing(t, "Traefik's JSON schema %s: %v", name, err)
	}
	defer f.Close()
	doc, err := jsonschema.UnmarshalJSON(f)
	if err != nil {
		t.Fatal(err)
	}
	c := jsonschema.NewCompiler()
	if err := c.AddResource(name, doc); err != nil {
		t.Fatal(err)
	}
	s, err := c.Compile(name)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// rendered returns the role's static and dynamic config for the lab's
// traefik host.
func rendered(t *testing.T, l *rolesLab) (static, dynamic []byte) {
	t.Helper()
	_, out, err := agent.Desired(l.lab, l.host, nil, l.now)
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range out.Resources {
		if f, ok := r.(*files.File); ok {
			switch f.Path {
			case traefik.StaticPath:
				static = f.Content
			case traefik.DynamicPath:
				dynamic = f.Content
			}
		}
	}
	if static == nil || dynamic == nil {
		t.Fatal("the role rendered no static or dynamic config")
	}
	return static, dynamic
}

func validate(t *testing.T, s *jsonschema.Schema, what string, content []byte) {
	t.Helper()
	var v any
	if err := yaml.Unmarshal(content, &v); err != nil {
		t.Fatalf("%s: %v", what, err)
	}
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatalf("%s: %v", what, err)
	}
	inst, err := jsonschema.UnmarshalJSON(bytes.NewReader(b))
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Validate(inst); err != nil {
		t.Errorf("%s does not match Traefik's schema:\n%v\n%s", what, err, content)
	}
}

// TestConfigMatchesTraefikSchemas validates the rendered static and
// dynamic config of the sample lab and of each variant below against
// Traefik's official JSON schemas.
func TestConfigMatchesTraefikSchemas(t *testing.T) {
	static, dynamic := compile(t, "traefik-v3.json"), compile(t, "traefik-v3-file-provider.json")
	sample, err := agent.LoadLab("../../fixtures/lab")
	if err != nil {
		t.Fatal(err)
	}
	cases := map[string]*rolesLab{"fixtures/lab": {lab: sample, host: "proxy"}}
	for name, hosts := range map[string]string{
		"no services": "",
		"expose overrides and apps": "  cloud: {ip: 192.168.100.10, role: nextcloud, expose: {subdomain: files, port: 8080}}\n" +
			"  media: {ip: 192.168.100.12, role: jellyfin}\n" +
			"apps:\n  - {host: media, name: whoami, compose: whoami.yaml, expose: {port: 8000}}\n",
	} {
		l := rolestest.Lab(t, hosts, map[string]string{"whoami.yaml": "services:\n  w:\n    image: traefik/whoami\n"})
		cases[name] = &rolesLab{lab: l, host: "proxy"}
	}
	staging := rolestest.Lab(t, "", nil)
	lab.SettingOf[traefik.Settings](staging, traefik.SettingsKey).ACMEStaging = true
	cases["acme staging"] = &rolesLab{lab: staging, host: "proxy"}
	// The schemas are strict enough to catch a misspelt key.
	for _, bad := range []struct {
		s    *jsonschema.Schema
		yaml string
	}{{static, "entryPoints: {web: {adress: ':80'}}"}, {dynamic, "http: {routers: {a: {rule: x, servce: y}}}"}} {
		var v any
		yaml.Unmarshal([]byte(bad.yaml), &v)
		b, _ := json.Marshal(v)
		inst, _ := jsonschema.UnmarshalJSON(bytes.NewReader(b))
		if bad.s.Validate(inst) == nil {
			t.Fatalf("schema accepts %s", bad.yaml)
		}
	}
	for name, c := range cases {
		t.Run(strings.ReplaceAll(name, " ", "_"), func(t *testing.T) {
			s, d := rendered(t, c)
			validate(t, static, "traefik.yml", s)
			validate(t, dynamic, "dynamic/homelab.yml", d)
		})
	}
}

func TestContainerMountsConfigAndRestartsOnStaticChange(t *testing.T) {
	l := rolestest.Lab(t, "", nil)
	r, _ := role.Lookup("traefik")
	build := func() string {
		out, err := r.Build(role.Input{Lab: l, Host: l.Hosts.Get("proxy")})
		if err != nil {
			t.Fatal(err)
		}
		var compose []string
		for _, res := range out.Resources {
			compose = append(compose, rolestest.ComposeFiles(res)...)
		}
		if len(compose) != 1 || !strings.Contains(compose[0], "network_mode: host") || !strings.Contains(compose[0], "${secret:CF_DNS_API_TOKEN}") {
			t.Fatalf("compose: %v", compose)
		}
		return rolestest.Vars(out.Resources[len(out.Resources)-1])["STATIC_CONFIG_HASH"]
	}
	h1 := build()
	lab.SettingOf[traefik.Settings](l, traefik.SettingsKey).ACMEStaging = true
	if h2 := build(); h1 == h2 || h1 == "" {
		t.Fatalf("static config hash %q -> %q", h1, h2)
	}
}

func TestPlanShowsTheContainer(t *testing.T) {
	l := rolestest.Lab(t, "", nil)
	rep := rolestest.Pass(t, l, "proxy", t.TempDir(), false)
	text := rolestest.Text(rep)
	if !strings.Contains(text, "+ traefik (traefik-traefik-1): new") || strings.Contains(text, rolestest.Secrets["CF_DNS_API_TOKEN"]) {
		t.Fatalf("plan:\n%s", text)
	}
	if !slicesContains(rep.Secrets.Needed, "CF_DNS_API_TOKEN") {
		t.Fatalf("secrets needed %v", rep.Secrets.Needed)
	}
}
