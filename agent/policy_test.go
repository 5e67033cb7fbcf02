package agent_test

import (
	"flag"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/homelab-agent/homelab-agent/agent"
	"github.com/homelab-agent/homelab-agent/agent/firewall"
	"github.com/homelab-agent/homelab-agent/agent/lab"
	"github.com/homelab-agent/homelab-agent/agent/role"
	_ "github.com/homelab-agent/homelab-agent/roles/all"
)

// -update rewrites golden files; registered here only if no other test
// file of the package did (package variables initialise before init).
func init() {
	if flag.Lookup("update") == nil {
		flag.Bool("update", false, "rewrite golden files")
	}
}

func updating() bool { f := flag.Lookup("update"); return f != nil && f.Value.String() == "true" }

// TestFirewallGolden renders every sample host's table; the expected
// rulesets are in testdata/firewall/<host>.nft (make golden rewrites them).
func TestFirewallGolden(t *testing.T) {
	l, err := lab.Load("../fixtures/lab", role.LabOptions())
	if err != nil {
		t.Fatal(err)
	}
	for _, h := range l.Hosts {
		rs, err := firewall.Build(agent.FirewallHost(role.Input{Lab: l, Host: h}))
		if err != nil {
			t.Fatalf("%s: %v", h.Name, err)
		}
		got := rs.Render()
		path := filepath.Join("testdata", "firewall", h.Name+".nft")
		if updating() {
			os.MkdirAll(filepath.Dir(path), 0o755)
			if err := os.WriteFile(path, []byte(got), 0o644); err != nil {
				t.Fatal(err)
			}
			continue
		}
		want, err := os.ReadFile(path)
		if err != nil {
			t.Fatalf("%v (run make golden)", err)
		}
		if got != string(want) {
			t.Errorf("%s: table differs from %s:\n%s", h.Name, path, got)
		}
	}
}

// TestFirewallAudiences checks who each sample host admits, by port.
func TestFirewallAudiences(t *testing.T) {
	l, err := lab.Load("../fixtures/lab", role.LabOptions())
	if err != nil {
		t.Fatal(err)
	}
	admits := func(host string) map[string]string {
		m := map[string]string{}
		fh := agent.FirewallHost(role.Input{Lab: l, Host: l.Hosts.Get(host)})
		for _, f := range fh.Flows {
			var from []string
			for _, p := range f.From {
				from = append(from, p.String())
			}
			if f.Anywhere {
				from = append(from, "any")
			}
			k := f.Proto + "/" + itoa(int(f.Port))
			m[k] = strings.TrimSpace(m[k] + " " + strings.Join(from, " "))
		}
		return m
	}
	admin := "192.168.100.1/32 100.64.0.0/10 192.168.100.4/32"
	clients := "192.168.100.0/24 100.64.0.0/10 192.168.1.0/24"
	proxy := "192.168.100.3/32"
	for host, want := range map[string]map[string]string{
		"dns1":   {"tcp/22": admin, "tcp/9123": admin, "udp/53": clients, "tcp/53": clients},
		"proxy":  {"tcp/22": admin, "tcp/9123": admin, "tcp/80": clients, "tcp/443": clients},
		"cloud":  {"tcp/22": admin, "tcp/9123": admin, "tcp/80": proxy},
		"photos": {"tcp/22": admin, "tcp/9123": admin, "tcp/2283": proxy},
		"media":  {"tcp/22": admin, "tcp/9123": admin, "tcp/8096": proxy, "tcp/80": proxy},
		"vpn":    {"tcp/22": admin, "tcp/9123": admin, "udp/41641": "any"},
	} {
		got := admits(host)
		if len(got) != len(want) {
			t.Errorf("%s admits %v, want %v", host, got, want)
			continue
		}
		for k, v := range want {
			if got[k] != v {
				t.Errorf("%s %s: from %q, want %q", host, k, got[k], v)
			}
		}
	}
}

func itoa(i int) string { return strconv.Itoa(i) }

// TestLANCIDRChecks: lan_cidr may not overlap the lab or the VPN, and
// without it the LAN reaches nothing.
func TestLANCIDRChecks(t *testing.T) {
	for lanCIDR, want := range map[string]string{
		"192.168.100.128/25": "homelab.yaml:2:94: lan_cidr 192.168.100.128/25 overlaps network.cidr 192.168.100.0/24",
		"100.100.0.0/16":     "homelab.yaml:2:94: lan_cidr 100.100.0.0/16 overlaps vpn_cidr 100.64.0.0/10",
		"fd00::/64":          "homelab.yaml:2:94: network.lan_cidr must be an IPv4 network, got fd00::/64",
	} {
		_, err := lab.Parse(t.TempDir(), []byte(`domain: home.example
network: {cidr: 192.168.100.0/24, gateway: 192.168.100.1, vpn_cidr: 100.64.0.0/10, lan_cidr: "`+lanCIDR+`"}
hosts:
  dns1: {ip: 192.168.100.2, role: dns}
`), role.LabOptions())
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%s: error %v, want %q", lanCIDR, err, want)
		}
	}
	l, err := lab.Parse(t.TempDir(), []byte(`domain: home.example
network: {cidr: 192.168.100.0/24, gateway: 192.168.100.1}
hosts:
  dns1: {ip: 192.168.100.2, role: dns}
`), role.LabOptions())
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range agent.FirewallHost(role.Input{Lab: l, Host: l.Hosts.Get("dns1")}).Flows {
		for _, p := range f.From {
			if p.String() == "192.168.1.0/24" {
				t.Errorf("flow %+v admits a LAN without lan_cidr", f)
			}
		}
	}
}
