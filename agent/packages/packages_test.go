package packages

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/homelab-agent/homelab-agent/agent/resource"
)

const status = `Package: bind9
Status: install ok installed
Priority: optional
Version: 1:9.18.33-1~deb12u2
Description: Internet Domain Name Server
 continuation line: Version: 9.99

Package: restic
Status: deinstall ok config-files
Version: 0.18.0-1

Package: docker.io
Status: install ok installed
Version: 26.1.5+dfsg1-9+b9
`

func TestParseStatusAndVersions(t *testing.T) {
	have, err := parseStatus([]byte(status))
	if err != nil {
		t.Fatal(err)
	}
	if len(have) != 2 {
		t.Fatalf("installed = %v", have)
	}
	if _, ok := have["restic"]; ok {
		t.Error("a removed package counts as installed")
	}
	for min, want := range map[string]bool{"": true, "1:9.18": true, "1:9.20": false, "9.20": true /* no epoch: any 1:x is newer */} {
		if got, err := Satisfies(have["bind9"], min); err != nil || got != want {
			t.Errorf("bind9 %s >= %q: %v %v, want %v", have["bind9"], min, got, err, want)
		}
	}
	list := Merge(nil, Package{Name: "restic", MinVersion: "0.17", Why: "backups"})
	list = Merge(list, Package{Name: "restic", Why: "role x"})
	list = Merge(list, Package{Name: "restic", MinVersion: "0.18", Why: "role y"})
	if len(list) != 1 || list[0].MinVersion != "0.18" || list[0].Why != "role y" {
		t.Errorf("merged %+v", list)
	}
}

// fakeHost answers the commands the resource runs, from a dpkg status it
// changes when apt-get install "installs".
type fakeHost struct {
	status  string
	calls   []string
	install func(pkgs []string) (string, error)
}

func (h *fakeHost) run(_ context.Context, _ []string, argv ...string) ([]byte, error) {
	h.calls = append(h.calls, strings.Join(argv, " "))
	switch {
	case argv[0] == "cat":
		return []byte(h.status), nil
	case argv[0] == "apt-cache":
		var b strings.Builder
		for _, p := range argv[2:] {
			b.WriteString(p + ":\n  Installed: (none)\n  Candidate: 1.2.3-1\n")
		}
		return []byte(b.String()), nil
	case argv[0] == "apt-get" && hasArg(argv, "install"):
		out, err := h.install(argv[len(argv)-1:])
		return []byte(out), err
	}
	return nil, nil
}

func hasArg(argv []string, s string) bool {
	for _, a := range argv {
		if a == s {
			return true
		}
	}
	return false
}

func TestPlanApplyAndSecondPassCallsNoApt(t *testing.T) {
	h := &fakeHost{status: status}
	h.install = func(p []string) (string, error) {
		h.status += "\nPackage: " + p[0] + "\nStatus: install ok installed\nVersion: 1.2.3-1\n"
		return "Setting up " + p[0], nil
	}
	a := &Apt{Packages: []Package{{Name: "docker.io", Why: "role jellyfin"}, {Name: "tailscale", Why: "role tailscale-router"}}, Run: h.run}
	env := &resource.Env{Root: t.TempDir()}
	ch, err := a.CheckApply(context.Background(), env, false)
	if err != nil || ch == nil || !strings.Contains(ch.Diff, "+ package tailscale (1.2.3-1)") || strings.Contains(ch.Diff, "docker.io") {
		t.Fatalf("plan: %+v %v", ch, err)
	}
	if _, err := a.CheckApply(context.Background(), env, true); err != nil {
		t.Fatal(err)
	}
	h.calls = nil
	ch, err = a.CheckApply(context.Background(), env, true)
	if err != nil || ch != nil {
		t.Fatalf("second pass: %+v %v", ch, err)
	}
	if len(h.calls) != 1 || h.calls[0] != "cat "+StatusFile {
		t.Errorf("second pass ran %q, want only the status read", h.calls)
	}
}

func TestAptFailuresNameThePackage(t *testing.T) {
	for name, c := range map[string]struct {
		out  string
		want string
	}{
		"unknown":  {"E: Unable to locate package tailscale", "package tailscale (role tailscale-router) is not in the configured apt repositories"},
		"disk":     {"dpkg: error processing archive: No space left on device", "the disk is full"},
		"held":     {"E: Unable to correct problems, you have held broken packages.", "held or broken packages"},
		"mirror":   {"E: Failed to fetch http://deb.debian.org/debian/pool/x.deb  Could not resolve 'deb.debian.org'", "the package mirror cannot be reached: E: Failed to fetch"},
		"too old":  {"", "package tailscale (role tailscale-router) must be 9:1 or later, but the configured apt repositories offer only 1.2.3-1"},
		"not seen": {"", ""},
	} {
		t.Run(name, func(t *testing.T) {
			h := &fakeHost{status: status}
			h.install = func(p []string) (string, error) {
				if c.out != "" {
					return c.out, errors.New("exit status 100")
				}
				if name == "too old" {
					h.status += "\nPackage: tailscale\nStatus: install ok installed\nVersion: 1.2.3-1\n"
				}
				return "", nil
			}
			p := Package{Name: "tailscale", Why: "role tailscale-router"}
			if name == "too old" {
				p.MinVersion = "9:1"
			}
			_, err := (&Apt{Packages: []Package{p}, Run: h.run}).CheckApply(context.Background(), &resource.Env{Root: "/"}, true)
			want := c.want
			if name == "not seen" {
				want = "apt-get finished but dpkg does not list it as installed"
			}
			if err == nil || !strings.Contains(err.Error(), want) {
				t.Fatalf("err %v, want %q", err, want)
			}
		})
	}
}
