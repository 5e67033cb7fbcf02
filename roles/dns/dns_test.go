package dns_test

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/homelab-agent/homelab-agent/agent"
	"github.com/homelab-agent/homelab-agent/agent/lab"
	"github.com/homelab-agent/homelab-agent/agent/role"
	"github.com/homelab-agent/homelab-agent/agent/secrets"
	"github.com/homelab-agent/homelab-agent/internal/testreq"
	_ "github.com/homelab-agent/homelab-agent/roles/all"
	"github.com/homelab-agent/homelab-agent/roles/dns"
)

var labs = map[string]string{"sample": "../../fixtures/lab", "variant": "../../fixtures/golden/variant"}

func applyDNS(t *testing.T, l *lab.Lab, root string, now time.Time) *agent.Report {
	t.Helper()
	host := l.WithRole("dns")[0].Name
	rep, err := agent.Apply(context.Background(), l, host, agent.Options{
		Root: root, Hooks: agent.HooksSkip, Secrets: secrets.FromMap(nil), Now: func() time.Time { return now },
	})
	if err != nil {
		t.Fatal(err)
	}
	return rep
}

// TestNamedAcceptsConfig checks the rendered tree with BIND's own tools:
// named-checkconf -z loads the config and every zone under the root, and
// named-checkzone checks each zone file on its own.
func TestNamedAcceptsConfig(t *testing.T) {
	checkconf := testreq.Tool(t, "named-checkconf")
	checkzone := testreq.Tool(t, "named-checkzone")
	if out, _ := exec.Command("named", "-v").Output(); !regexp.MustCompile(`^BIND 9\.(2\d|[3-9]\d)`).Match(out) {
		testreq.Missing(t, "BIND 9.20 or newer is needed for DNS-over-TLS forwarding, found %q", strings.TrimSpace(string(out)))
	}
	for name, repo := range labs {
		t.Run(name, func(t *testing.T) {
			l, err := agent.LoadLab(repo)
			if err != nil {
				t.Fatal(err)
			}
			root := t.TempDir()
			applyDNS(t, l, root, time.Now())
			os.MkdirAll(filepath.Join(root, "var/cache/bind"), 0o755)
			out, err := exec.Command(checkconf, "-z", "-t", root, dns.ConfPath).CombinedOutput()
			if err != nil {
				t.Fatalf("named-checkconf -z: %v\n%s", err, out)
			}
			zones := dns.Zones(l)
			if len(zones) < 2 {
				t.Fatalf("want a forward and a reverse zone, got %d", len(zones))
			}
			for _, z := range zones {
				if !strings.Contains(string(out), "zone "+z.Name+"/IN: loaded serial") {
					t.Errorf("named-checkconf did not load zone %s:\n%s", z.Name, out)
				}
				zout, err := exec.Command(checkzone, "-k", "fail", "-n", "fail", z.Name, filepath.Join(root, z.Path())).CombinedOutput()
				if err != nil || !strings.Contains(string(zout), "OK") {
					t.Errorf("named-checkzone %s: %v\n%s", z.Name, err, zout)
				}
			}
			conf, _ := os.ReadFile(filepath.Join(root, dns.ConfPath))
			for _, want := range []string{"forward only;", "dnssec-validation auto;", "remote-hostname", "allow-recursion { homelab; };", "forwarders port 853 tls"} {
				if !strings.Contains(string(conf), want) {
					t.Errorf("named.conf lacks %q", want)
				}
			}
		})
	}
}

var serialRe = regexp.MustCompile(`(?m)^\s+(\d+)\s+; serial`)

func serialOf(t *testing.T, root, zone string) uint64 {
	t.Helper()
	data, err := os.ReadFile(filepath.Join(root, dns.ZoneDir, "db."+zone))
	if err != nil {
		t.Fatal(err)
	}
	m := serialRe.FindSubmatch(data)
	if m == nil {
		t.Fatalf("no serial in zone %s", zone)
	}
	n, _ := strconv.ParseUint(string(m[1]), 10, 32)
	return n
}

// TestSerialChangesOnlyWithContent: the serial stays while the records
// stay, and grows whenever they change, even back to an earlier content
// or on a later day.
func TestSerialChangesOnlyWithContent(t *testing.T) {
	root := t.TempDir()
	day1 := time.Date(2026, 11, 27, 10, 0, 0, 0, time.UTC)
	base, err := os.ReadFile("../../fixtures/golden/variant/homelab.yaml")
	if err != nil {
		t.Fatal(err)
	}
	load := func(extra string) *lab.Lab {
		t.Helper()
		l, err := lab.Parse("../../fixtures/golden/variant", append(append([]byte{}, base...), extra...), role.LabOptions())
		if err != nil {
			t.Fatal(err)
		}
		return l
	}
	l := load("")
	applyDNS(t, l, root, day1)
	s1 := serialOf(t, root, "lab.internal")
	if s1 != 2026112700 {
		t.Errorf("first serial = %d, want 2026112700", s1)
	}
	applyDNS(t, l, root, day1.Add(48*time.Hour))
	if s := serialOf(t, root, "lab.internal"); s != s1 {
		t.Fatalf("serial changed without a content change: %d -> %d", s1, s)
	}
	// A new host (appended to hosts via a second document is not allowed,
	// so rebuild the file with one more host line).
	withHost := strings.Replace(string(base), "  tv:", "  cam:   {ip: 10.20.2.30, role: jellyfin, expose: {subdomain: camera}}\n  tv:", 1)
	l2, err := lab.Parse("../../fixtures/golden/variant", []byte(withHost), role.LabOptions())
	if err != nil {
		t.Fatal(err)
	}
	applyDNS(t, l2, root, day1)
	s2 := serialOf(t, root, "lab.internal")
	if s2 <= s1 {
		t.Fatalf("serial did not grow with new records: %d -> %d", s1, s2)
	}
	applyDNS(t, l, root, day1) // back to the first content: still a change
	s3 := serialOf(t, root, "lab.internal")
	if s3 <= s2 {
		t.Fatalf("serial went backwards on revert: %d -> %d", s2, s3)
	}
	applyDNS(t, l2, root, day1.Add(72*time.Hour))
	if s4 := serialOf(t, root, "lab.internal"); s4 != 2026113000 {
		t.Errorf("serial on a later day = %d, want that day's first serial 2026113000", s4)
	}
}
