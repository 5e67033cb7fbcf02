package lab_test

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/homelab-agent/homelab-agent/agent/lab"
	"github.com/homelab-agent/homelab-agent/agent/role"
	_ "github.com/homelab-agent/homelab-agent/roles/all"
)

const fixtures = "../../fixtures"

func TestSampleLab(t *testing.T) {
	l, err := lab.Load(filepath.Join(fixtures, "lab"), role.LabOptions())
	if err != nil {
		t.Fatalf("the sample lab must be valid:\n%v", err)
	}
	if got := len(l.Hosts); got != 6 {
		t.Errorf("hosts = %d, want 6", got)
	}
	var order []string
	for _, h := range l.Hosts {
		order = append(order, h.Name)
	}
	if got, want := strings.Join(order, ","), "dns1,proxy,vpn,cloud,photos,media"; got != want {
		t.Errorf("host order = %s, want file order %s", got, want)
	}
	roleSet := map[string]bool{}
	for _, h := range l.Hosts {
		roleSet[h.Role] = true
	}
	for _, r := range role.Order() {
		if !roleSet[r] {
			t.Errorf("the sample lab has no host with role %s", r)
		}
	}
	photos := l.Hosts.Get("photos")
	if photos.Backup == nil || photos.Backup.Schedule != "0 4 * * *" {
		t.Errorf("photos backup override not parsed: %+v", photos.Backup)
	}
	if photos.IPPos != (lab.Pos{Line: 17, Col: 9}) {
		t.Errorf("photos ip position = %+v, want 17:9", photos.IPPos)
	}
	if len(l.Apps) != 1 || len(l.Apps[0].ComposeData) == 0 {
		t.Errorf("the whoami app and its compose file must load: %+v", l.Apps)
	}
}

// TestBrokenLabs loads every lab under fixtures/broken and compares the
// whole error text with the case's error.txt.
func TestBrokenLabs(t *testing.T) {
	dirs, _ := filepath.Glob(filepath.Join(fixtures, "broken", "*"))
	if len(dirs) < 10 {
		t.Fatalf("found %d broken labs, want at least 10", len(dirs))
	}
	for _, dir := range dirs {
		t.Run(filepath.Base(dir), func(t *testing.T) {
			want, err := os.ReadFile(filepath.Join(dir, "error.txt"))
			if err != nil {
				t.Fatal(err)
			}
			_, err = lab.Load(dir, role.LabOptions())
			if err == nil {
				t.Fatal("loaded without error")
			}
			if _, ok := err.(*lab.Errors); !ok {
				t.Fatalf("error is %T, want *lab.Errors", err)
			}
			if got := err.Error() + "\n"; got != string(want) {
				t.Errorf("errors differ\n got:\n%s\nwant:\n%s", got, want)
			}
			for _, line := range strings.Split(strings.TrimSpace(string(want)), "\n") {
				if !strings.HasPrefix(line, "homelab.yaml:") || strings.Count(line, ":") < 3 {
					t.Errorf("line %q is not homelab.yaml:LINE:COL: message", line)
				}
			}
		})
	}
}

func TestManyErrorsAllReported(t *testing.T) {
	_, err := lab.Load(filepath.Join(fixtures, "broken", "many-errors"), role.LabOptions())
	errs, ok := err.(*lab.Errors)
	if !ok || len(errs.List) < 10 {
		t.Fatalf("want every problem reported (10+), got %v", err)
	}
}

func TestMissingFile(t *testing.T) {
	_, err := lab.Load(t.TempDir(), role.LabOptions())
	if err == nil || !strings.Contains(err.Error(), "no homelab.yaml") {
		t.Fatalf("err = %v", err)
	}
}

func TestSecretRefsCollected(t *testing.T) {
	data := []byte(`domain: home.example
network: {cidr: 192.168.100.0/24, gateway: 192.168.100.1}
backup: {repository: "s3:https://s3.example/${secret:BUCKET}", notify_url: "https://ntfy.example/${secret:NTFY}"}
hosts:
  dns1: {ip: 192.168.100.2, role: dns}
`)
	l, err := lab.Parse(t.TempDir(), data, role.LabOptions())
	if err != nil {
		t.Fatal(err)
	}
	if len(l.SecretRefs) != 2 || l.SecretRefs[0].Name != "BUCKET" || l.SecretRefs[0].Pos != (lab.Pos{Line: 3, Col: 45}) {
		t.Errorf("refs = %+v", l.SecretRefs)
	}
}

// FuzzParse feeds arbitrary homelab.yaml content to the parser: it must
// return a lab or errors, never panic. Seeds are the fixtures.
func FuzzParse(f *testing.F) {
	seeds, _ := filepath.Glob(filepath.Join(fixtures, "*", "homelab.yaml"))
	more, _ := filepath.Glob(filepath.Join(fixtures, "*", "*", "homelab.yaml"))
	for _, p := range append(seeds, more...) {
		data, err := os.ReadFile(p)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(data)
	}
	if len(seeds)+len(more) < 10 {
		f.Fatalf("seed corpus too small: %d files", len(seeds)+len(more))
	}
	dir := filepath.Join(fixtures, "lab")
	opts := role.LabOptions()
	f.Fuzz(func(t *testing.T, data []byte) {
		l, err := lab.Parse(dir, data, opts)
		if (l == nil) == (err == nil) {
			t.Fatalf("Parse must return exactly one of lab and error: %v %v", l, err)
		}
		if errs, ok := err.(*lab.Errors); ok {
			for _, e := range errs.List {
				if e.Line < 1 || e.Col < 1 {
					t.Fatalf("error without a position: %v", e)
				}
			}
		}
	})
}
