package agent_test

import (
	"context"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/homelab-agent/homelab-agent/agent"
	"github.com/homelab-agent/homelab-agent/agent/backup"
	"github.com/homelab-agent/homelab-agent/agent/docker"
	"github.com/homelab-agent/homelab-agent/agent/lab"
	"github.com/homelab-agent/homelab-agent/agent/resource"
	"github.com/homelab-agent/homelab-agent/agent/role"
	"github.com/homelab-agent/homelab-agent/roles"
	_ "github.com/homelab-agent/homelab-agent/roles/all"
)

// notesRole is a stateful role that exists only in this test: a compose
// project with a data folder, a web app published behind the proxy, a
// quiesce step and a setting of its own. Nothing outside this file knows
// it.
type notesRole struct{}

const notesCompose = `services:
  app:
    image: example.invalid/notes:1
    volumes: ["${DATA_DIR}:/var/lib/notes"]
    ports: ["8080:8080"]
`

type notesSettings struct {
	Theme string `yaml:"theme"`
}

type notesQuiesce struct{}

func (notesQuiesce) Quiesce(context.Context, backup.Env) (func(context.Context) error, error) {
	return func(context.Context) error { return nil }, nil
}

func (notesRole) Name() string                 { return "notes" }
func (notesRole) DefaultExpose() (string, int) { return "notes", 8080 }
func (notesRole) Settings() []lab.Setting {
	return []lab.Setting{{Key: "notes", New: func() any { return new(notesSettings) }}}
}
func (r notesRole) Build(in role.Input) (*role.Output, error) {
	p := roles.Containers(in, "notes", "notes/compose.yaml", []byte(notesCompose),
		map[string]string{"DATA_DIR": lab.DataDir("notes"), "THEME": lab.SettingOf[notesSettings](in.Lab, "notes").Theme})
	return &role.Output{
		Resources: []resource.Resource{p},
		Stateful:  []backup.Service{{Name: "notes", Quiesce: notesQuiesce{}}},
	}, nil
}

var (
	_ role.Exposer      = notesRole{}
	_ role.Configurable = notesRole{}
)

// register adds the test's role to the registry (and to the declared
// order, where a real role is listed in roles.Order) for one test.
func register(t *testing.T, r role.Role) {
	order := role.Order()
	role.SetOrder(append(slices.Clone(order), r.Name()))
	role.Register(r)
	t.Cleanup(func() {
		role.Unregister(r.Name())
		role.SetOrder(order)
	})
}

// TestNewRoleNeedsNoChangeOutsideItsPackage is the architecture's proof:
// a role registered only here gets a backup job and a self-restore from
// its declared stateful service, a firewall flow from the proxy and a
// Traefik route and a DNS name from being an Exposer, and its own
// homelab.yaml key through the strict decoder.
func TestNewRoleNeedsNoChangeOutsideItsPackage(t *testing.T) {
	register(t, notesRole{})
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "homelab.yaml"), []byte(`domain: home.example
network: {cidr: 192.168.100.0/24, gateway: 192.168.100.1}
proxy: {acme_email: admin@home.example}
notes: {theme: dark}
backup: {repository: "s3:https://s3.example/lab"}
hosts:
  dns1:  {ip: 192.168.100.2, role: dns}
  proxy: {ip: 192.168.100.3, role: traefik}
  pad:   {ip: 192.168.100.20, role: notes}
`), 0o644); err != nil {
		t.Fatal(err)
	}
	l, err := agent.LoadLab(dir)
	if err != nil {
		t.Fatal(err)
	}
	if got := lab.SettingOf[notesSettings](l, "notes").Theme; got != "dark" {
		t.Errorf("notes: setting = %q", got)
	}

	// Backups: a job with the quiesce step, a self-restore before the
	// containers, and the schedule file.
	hb, err := agent.HostBackups(l, "pad", "/")
	if err != nil {
		t.Fatal(err)
	}
	if len(hb.Jobs) != 1 || hb.Jobs[0].Service != "notes" || !slices.Equal(hb.Jobs[0].Paths, []string{"/srv/data/notes"}) || hb.Jobs[0].Declared.Quiesce == nil {
		t.Fatalf("backup jobs = %+v", hb.Jobs)
	}
	_, out, err := agent.Desired(l, "pad", nil, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	ids := func(rs []resource.Resource) []string {
		var out []string
		for _, r := range rs {
			out = append(out, r.ID())
		}
		return out
	}
	got := ids(out.Resources)
	ri, ci := slices.Index(got, "restore:notes"), slices.Index(got, "containers:notes")
	if ri < 0 || ci < 0 || ri > ci {
		t.Fatalf("resources %v: want restore:notes before containers:notes", got)
	}
	for _, r := range out.Resources {
		if p, ok := r.(*docker.Project); ok && !slices.Contains(p.Requires, "restore:notes") {
			t.Errorf("containers:notes does not wait for its self-restore: %v", p.Requires)
		}
		if s, ok := r.(*backup.Schedule); ok && !strings.Contains(string(s.Content), "  notes:\n    paths: [/srv/data/notes]\n    quiesce: true\n") {
			t.Errorf("schedule file lacks the notes service:\n%s", s.Content)
		}
	}
	if out.Memory[agent.ProjectsMemory] != "notes" {
		t.Errorf("projects remembered = %q", out.Memory[agent.ProjectsMemory])
	}

	// Firewall: the app's port from the proxy only.
	fh := agent.FirewallHost(role.Input{Lab: l, Host: l.Hosts.Get("pad")})
	var flow string
	for _, f := range fh.Flows {
		if f.Port == 8080 {
			flow = f.Proto + " " + f.Comment
			if len(f.From) != 1 || f.From[0].String() != "192.168.100.3/32" {
				t.Errorf("port 8080 admits %v, want the proxy only", f.From)
			}
		}
	}
	if flow != "tcp notes from the proxy" {
		t.Errorf("flow for 8080 = %q", flow)
	}

	// Traefik routes notes.home.example to the host; the zone names it.
	files := map[string]string{}
	for _, host := range []string{"proxy", "dns1"} {
		fs, err := agent.RenderHost(l, host, time.Now())
		if err != nil {
			t.Fatal(err)
		}
		for _, f := range fs {
			files[f.Path] = string(f.Content)
		}
	}
	if dyn := files["/etc/traefik/dynamic/homelab.yml"]; !strings.Contains(dyn, "Host(`notes.home.example`)") || !strings.Contains(dyn, "http://192.168.100.20:8080") {
		t.Errorf("traefik's dynamic config has no route to notes:\n%s", dyn)
	}
	if zone := files["/etc/bind/homelab/db.home.example"]; !strings.Contains(zone, "notes") || !strings.Contains(zone, "via proxy to pad:8080") {
		t.Errorf("zone has no notes record:\n%s", zone)
	}

	// A role-owned key is checked like the rest of the file.
	os.WriteFile(filepath.Join(dir, "homelab.yaml"), []byte(`domain: home.example
network: {cidr: 192.168.100.0/24, gateway: 192.168.100.1}
notes: {colour: dark}
hosts:
  pad: {ip: 192.168.100.20, role: notes, gpu: true}
`), 0o644)
	_, err = agent.LoadLab(dir)
	for _, want := range []string{
		`homelab.yaml:3:9: unknown key "colour" (known keys: theme)`,
		`homelab.yaml:5:42: host pad: key "gpu" is for hosts of role jellyfin, not notes`,
	} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("error %v lacks %q", err, want)
		}
	}
}
