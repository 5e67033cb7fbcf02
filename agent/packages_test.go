package agent

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/homelab-agent/homelab-agent/agent/files"
	"github.com/homelab-agent/homelab-agent/agent/lab"
	"github.com/homelab-agent/homelab-agent/agent/packages"
	"github.com/homelab-agent/homelab-agent/agent/resource"
	"github.com/homelab-agent/homelab-agent/agent/role"
	"github.com/homelab-agent/homelab-agent/agent/state"
)

// aptOf returns the host's packages resource in its desired state.
func aptOf(t *testing.T, l *lab.Lab, host string) *packages.Apt {
	t.Helper()
	_, out, err := Desired(l, host, nil, fixedNow())
	if err != nil {
		t.Fatal(err)
	}
	if out.Resources[0].Subsystem() != packages.Subsystem {
		t.Errorf("%s: the first resource is %s, want the packages subsystem first", host, out.Resources[0].ID())
	}
	for _, r := range out.Resources {
		if a, ok := r.(*packages.Apt); ok {
			return a
		}
	}
	t.Fatalf("%s: no packages resource", host)
	return nil
}

func pkgNames(a *packages.Apt) map[string]string {
	m := map[string]string{}
	for _, p := range a.Packages {
		m[p.Name] = p.MinVersion
	}
	return m
}

// Every host of the sample lab gets the packages its role and resources
// need, and nothing else.
func TestDesiredPackages(t *testing.T) {
	l := loadSample(t)
	for host, want := range map[string]map[string]string{
		"dns1":   {"bind9": "1:9.20"},
		"proxy":  {"docker.io": "", "restic": "0.17"},
		"vpn":    {"tailscale": ""},
		"cloud":  {"docker.io": "", "restic": "0.17"},
		"photos": {"docker.io": "", "restic": "0.17"},
		"media":  {"docker.io": "", "restic": "0.17"},
	} {
		want["unattended-upgrades"] = "" // os: {updates: security}
		a := aptOf(t, l, host)
		if got := pkgNames(a); !mapsEqual(got, want) {
			t.Errorf("%s: packages %v, want %v", host, got, want)
		}
		if _, docker := want["docker.io"]; docker != slices.Contains(a.Enable, "docker.service") {
			t.Errorf("%s: enables %v", host, a.Enable)
		}
	}
	if a := aptOf(t, l, "dns1"); !slices.Equal(a.Enable, []string{"named.service"}) {
		t.Errorf("dns1 enables %v", a.Enable)
	}
	a := aptOf(t, l, "vpn")
	if len(a.Repos) != 1 || !strings.Contains(string(a.Repos[0].Key), "BEGIN PGP PUBLIC KEY BLOCK") || !slices.Equal(a.Enable, []string{"tailscaled.service"}) {
		t.Errorf("vpn: repos %d, enables %v", len(a.Repos), a.Enable)
	}
}

func mapsEqual(a, b map[string]string) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if w, ok := b[k]; !ok || w != v {
			return false
		}
	}
	return true
}

// subsystemRes is a resource of any subsystem that records being applied.
type subsystemRes struct {
	id, sub string
	applied *[]string
}

func (r subsystemRes) ID() string        { return r.id }
func (r subsystemRes) Subsystem() string { return r.sub }
func (r subsystemRes) CheckApply(_ context.Context, _ *resource.Env, apply bool) (*resource.Change, error) {
	if apply {
		*r.applied = append(*r.applied, r.id)
	}
	return &resource.Change{ID: r.id, Subsystem: r.sub, Action: "update", Summary: "x"}, nil
}

// A failed install skips the role's later resources (nothing is
// half-applied) but not the firewall, and the error names the package.
func TestFailedPackagesSkipTheRest(t *testing.T) {
	root := t.TempDir()
	var applied []string
	apt := &packages.Apt{
		Packages: []packages.Package{{Name: "bind9", MinVersion: "1:9.20", Why: "role dns"}},
		Run: func(_ context.Context, _ []string, argv ...string) ([]byte, error) {
			switch {
			case argv[0] == "cat":
				return nil, nil
			case argv[0] == "apt-get" && slices.Contains(argv, "install"):
				return []byte("E: Unable to locate package bind9"), errors.New("exit status 100")
			}
			return nil, nil
		},
	}
	conf := &files.File{Path: "/etc/bind/named.conf", Content: []byte("x\n")}
	out := &role.Output{Resources: []resource.Resource{apt, conf,
		subsystemRes{"firewall:homelab", "firewall", &applied}, subsystemRes{"containers:x", "containers", &applied}}}
	st, err := state.Load(root)
	if err != nil {
		t.Fatal(err)
	}
	opts := testOptions(root)
	opts.Only = Subsystems
	rep, err := runOutput(context.Background(), &lab.Host{Name: "dns1", Role: "dns"}, out, opts.Secrets, st, opts, true)
	if err == nil || !strings.Contains(err.Error(), "package bind9 (role dns) is not in the configured apt repositories") {
		t.Fatalf("err = %v", err)
	}
	if _, err := os.Stat(filepath.Join(root, "etc/bind/named.conf")); !os.IsNotExist(err) {
		t.Errorf("named.conf was written although bind9 failed to install (%v)", err)
	}
	if !slices.Equal(applied, []string{"firewall:homelab"}) {
		t.Errorf("applied %v, want only the firewall", applied)
	}
	status := map[string]string{}
	for _, c := range rep.Changes {
		status[c.ID] = c.Status + " " + c.Error
	}
	for _, id := range []string{conf.ID(), "containers:x"} {
		if !strings.HasPrefix(status[id], "skipped depends on packages:apt") {
			t.Errorf("%s: %q", id, status[id])
		}
	}
}
