package firewall_test

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/homelab-agent/homelab-agent/agent"
	"github.com/homelab-agent/homelab-agent/agent/firewall"
	"github.com/homelab-agent/homelab-agent/agent/lab"
	"github.com/homelab-agent/homelab-agent/agent/role"
	"github.com/homelab-agent/homelab-agent/internal/testreq"
	_ "github.com/homelab-agent/homelab-agent/roles/all"
)

// testLab is the sample lab's shape on 10.231.0.0/24 (tests never send
// to the real lab's addresses).
const testLab = `domain: home.example
network: {cidr: 10.231.0.0/24, gateway: 10.231.0.1, vpn_cidr: 100.64.0.0/10, lan_cidr: 10.232.0.0/24}
proxy: {acme_email: admin@home.example, dns_provider: cloudflare}
hosts:
  dns1:  {ip: 10.231.0.2,  role: dns}
  proxy: {ip: 10.231.0.3,  role: traefik}
  vpn:   {ip: 10.231.0.4,  role: tailscale-router}
  media:
    ip: 10.231.0.10
    role: jellyfin
    allow: [{from: dns1, port: 7000}]
apps:
  - {host: media, name: whoami, compose: apps/whoami/compose.yaml, expose: {port: 8080}}
`

func loadTestLab(t *testing.T) *lab.Lab { return loadTestLabB(t) }

func loadTestLabB(t testing.TB) *lab.Lab {
	t.Helper()
	dir := t.TempDir()
	if err := os.MkdirAll(filepath.Join(dir, "apps/whoami"), 0o755); err != nil {
		t.Fatal(err)
	}
	os.WriteFile(filepath.Join(dir, "apps/whoami/compose.yaml"), []byte("services: {whoami: {image: whoami}}\n"), 0o644)
	os.WriteFile(filepath.Join(dir, lab.LabFile), []byte(testLab), 0o644)
	l, err := lab.Load(dir, role.LabOptions())
	if err != nil {
		t.Fatal(err)
	}
	return l
}

// labNet builds the lab in namespaces: the gateway holds the bridge, each
// guest has eth0 on it, the router's eth1 leads to a VPN client, and the
// media host runs its app in a "container" namespace behind docker0 with
// the NAT and filter rules Docker writes for published ports.
type labNet struct {
	ns map[string]string // host name (and "gw", "client", "ctr") -> namespace
}

func buildLabNet(t *testing.T, l *lab.Lab) *labNet {
	n := &labNet{ns: map[string]string{}}
	for _, name := range []string{"gw", "client", "ctr", "lan"} {
		n.ns[name] = newNS(t, name)
	}
	gw := n.ns["gw"]
	sh(t, "ip", "-n", gw, "link", "add", "br0", "type", "bridge")
	sh(t, "ip", "-n", gw, "addr", "add", "10.231.0.1/24", "dev", "br0")
	sh(t, "ip", "-n", gw, "link", "set", "br0", "up")
	for _, h := range l.Hosts {
		ns := newNS(t, h.Name)
		n.ns[h.Name] = ns
		sh(t, "ip", "link", "add", "v"+h.Name, "netns", gw, "type", "veth", "peer", "name", "eth0", "netns", ns)
		sh(t, "ip", "-n", gw, "link", "set", "v"+h.Name, "master", "br0", "up")
		sh(t, "ip", "-n", ns, "addr", "add", h.IP.String()+"/24", "dev", "eth0")
		sh(t, "ip", "-n", ns, "link", "set", "eth0", "up")
	}
	// The VPN client, routed through the router.
	vpn, client := n.ns["vpn"], n.ns["client"]
	sh(t, "ip", "link", "add", "eth1", "netns", vpn, "type", "veth", "peer", "name", "eth0", "netns", client)
	sh(t, "ip", "-n", vpn, "addr", "add", "100.100.0.1/24", "dev", "eth1")
	sh(t, "ip", "-n", vpn, "link", "set", "eth1", "up")
	sh(t, "ip", "netns", "exec", vpn, "sysctl", "-qw", "net.ipv4.ip_forward=1")
	sh(t, "ip", "-n", client, "addr", "add", "100.100.0.2/24", "dev", "eth0")
	sh(t, "ip", "-n", client, "link", "set", "eth0", "up")
	sh(t, "ip", "-n", client, "route", "add", "default", "via", "100.100.0.1")
	// A home LAN client behind the gateway (the Proxmox node routes the LAN
	// to the lab); every guest routes the LAN back through the gateway.
	lan := n.ns["lan"]
	sh(t, "ip", "link", "add", "eth1", "netns", gw, "type", "veth", "peer", "name", "eth0", "netns", lan)
	sh(t, "ip", "-n", gw, "addr", "add", "10.232.0.1/24", "dev", "eth1")
	sh(t, "ip", "-n", gw, "link", "set", "eth1", "up")
	sh(t, "ip", "netns", "exec", gw, "sysctl", "-qw", "net.ipv4.ip_forward=1")
	sh(t, "ip", "-n", lan, "addr", "add", "10.232.0.2/24", "dev", "eth0")
	sh(t, "ip", "-n", lan, "link", "set", "eth0", "up")
	sh(t, "ip", "-n", lan, "route", "add", "default", "via", "10.232.0.1")
	for _, h := range l.Hosts {
		sh(t, "ip", "-n", n.ns[h.Name], "route", "add", "10.232.0.0/24", "via", "10.231.0.1")
	}
	// A lab guest that tries to route to the VPN, and to the container.
	sh(t, "ip", "-n", n.ns["dns1"], "route", "add", "100.64.0.0/10", "via", "10.231.0.4")
	sh(t, "ip", "-n", n.ns["dns1"], "route", "add", "172.30.0.0/24", "via", "10.231.0.10")
	// The media host's container, published the way Docker does it.
	media, ctr := n.ns["media"], n.ns["ctr"]
	sh(t, "ip", "-n", media, "link", "add", "docker0", "type", "bridge")
	sh(t, "ip", "-n", media, "addr", "add", "172.30.0.1/24", "dev", "docker0")
	sh(t, "ip", "-n", media, "link", "set", "docker0", "up")
	sh(t, "ip", "link", "add", "vethctr", "netns", media, "type", "veth", "peer", "name", "eth0", "netns", ctr)
	sh(t, "ip", "-n", media, "link", "set", "vethctr", "master", "docker0", "up")
	sh(t, "ip", "-n", ctr, "addr", "add", "172.30.0.2/24", "dev", "eth0")
	sh(t, "ip", "-n", ctr, "link", "set", "eth0", "up")
	sh(t, "ip", "-n", ctr, "route", "add", "default", "via", "172.30.0.1")
	sh(t, "ip", "netns", "exec", media, "sysctl", "-qw", "net.ipv4.ip_forward=1")
	for _, rule := range dockerRules {
		sh(t, append([]string{"ip", "netns", "exec", media, "iptables"}, strings.Fields(rule)...)...)
	}
	return n
}

// dockerRules are the rules dockerd writes for `-p 8096:8096 -p 8080:8080
// -p 9999:9999` on docker0 (iptables, nf_tables backend).
var dockerRules = []string{
	"-t nat -N DOCKER",
	"-t nat -A PREROUTING -m addrtype --dst-type LOCAL -j DOCKER",
	"-t nat -A POSTROUTING -s 172.30.0.0/24 ! -o docker0 -j MASQUERADE",
	"-t nat -A DOCKER -i docker0 -j RETURN",
	"-t nat -A DOCKER ! -i docker0 -p tcp --dport 8096 -j DNAT --to-destination 172.30.0.2:8096",
	"-t nat -A DOCKER ! -i docker0 -p tcp --dport 8080 -j DNAT --to-destination 172.30.0.2:8080",
	"-t nat -A DOCKER ! -i docker0 -p tcp --dport 9999 -j DNAT --to-destination 172.30.0.2:9999",
	"-N DOCKER",
	"-P FORWARD DROP",
	"-A FORWARD -o docker0 -m conntrack --ctstate RELATED,ESTABLISHED -j ACCEPT",
	"-A FORWARD -o docker0 -j DOCKER",
	"-A FORWARD -i docker0 ! -o docker0 -j ACCEPT",
	"-A FORWARD -i docker0 -o docker0 -j ACCEPT",
	"-A DOCKER -d 172.30.0.2 ! -i docker0 -o docker0 -p tcp --dport 8096 -j ACCEPT",
	"-A DOCKER -d 172.30.0.2 ! -i docker0 -o docker0 -p tcp --dport 8080 -j ACCEPT",
	"-A DOCKER -d 172.30.0.2 ! -i docker0 -o docker0 -p tcp --dport 9999 -j ACCEPT",
}

// TestLabMatrix applies every guest's table, generated from the lab
// model by the roles, in its namespace and checks who reaches what with
// real TCP and UDP connections, Docker-published ports included.
func TestLabMatrix(t *testing.T) {
	needKernel(t)
	testreq.Tool(t, "iptables")
	l := loadTestLab(t)
	n := buildLabNet(t, l)
	ns := n.ns
	serve(t, ns["dns1"], 22, 53, 9123)
	serve(t, ns["proxy"], 22, 80, 443)
	serve(t, ns["media"], 22, 7000)
	serve(t, ns["ctr"], 8096, 8080, 9999)
	serve(t, ns["vpn"], 22)
	serve(t, ns["client"], 22)
	serve(t, ns["gw"], 2222)

	// Without our tables Docker's rules publish 9999 to everyone.
	checkMatrix(t, []flow{
		{ns["proxy"], "tcp", "10.231.0.10:9999", true},
		{ns["dns1"], "tcp", "10.231.0.10:8096", true},
	})

	for _, h := range l.Hosts {
		tb := agent.FirewallTable(role.Input{Lab: l, Host: h})
		tb.NetNS = nsPath(ns[h.Name])
		if len(tb.ProbeTargets) != 1 || tb.ProbeTargets[0] != "10.231.0.1" {
			t.Fatalf("%s: probe targets %v, want the gateway", h.Name, tb.ProbeTargets)
		}
		// The real probe (an ICMP echo to the gateway), sent from the guest.
		probe := firewall.DialProbe(tb.ProbeTargets...)
		guest := ns[h.Name]
		ctx := firewall.WithConfirm(context.Background(), firewall.Confirm{Probe: func(ctx context.Context) error {
			return inNS(guest, func() error { return probe(ctx) })
		}})
		if _, err := tb.CheckApply(ctx, env, true); err != nil {
			t.Fatalf("%s: %v", h.Name, err)
		}
	}

	checkMatrix(t, []flow{
		// SSH and the status port: gateway and VPN only.
		{ns["gw"], "tcp", "10.231.0.2:22", true},
		{ns["gw"], "tcp", "10.231.0.10:22", true},
		{ns["dns1"], "tcp", "10.231.0.3:22", false},
		{ns["media"], "tcp", "10.231.0.2:22", false},
		{ns["proxy"], "tcp", "10.231.0.2:9123", false},
		{ns["media"], "tcp", "10.231.0.4:22", false},
		{ns["client"], "tcp", "10.231.0.2:22", true},
		{ns["client"], "tcp", "100.100.0.1:22", true},
		// DNS from the lab and the VPN.
		{ns["media"], "udp", "10.231.0.2:53", true},
		{ns["media"], "tcp", "10.231.0.2:53", true},
		{ns["gw"], "udp", "10.231.0.2:53", true},
		{ns["client"], "udp", "10.231.0.2:53", true},
		{ns["proxy"], "udp", "10.231.0.3:53", false},
		// Traefik from the lab and the VPN.
		{ns["media"], "tcp", "10.231.0.3:443", true},
		{ns["client"], "tcp", "10.231.0.3:443", true},
		{ns["client"], "tcp", "10.231.0.3:80", true},
		// App ports (published by Docker) only from the proxy.
		{ns["proxy"], "tcp", "10.231.0.10:8096", true},
		{ns["proxy"], "tcp", "10.231.0.10:8080", true},
		{ns["dns1"], "tcp", "10.231.0.10:8096", false},
		{ns["gw"], "tcp", "10.231.0.10:8096", false},
		{ns["client"], "tcp", "10.231.0.10:8096", false},
		// A port Docker publishes that no role declares is closed to all.
		{ns["proxy"], "tcp", "10.231.0.10:9999", false},
		// Routing straight to the container, around DNAT, is dropped.
		{ns["dns1"], "tcp", "172.30.0.2:8096", false},
		// The container's own connections go out.
		{ns["ctr"], "tcp", "10.231.0.1:2222", true},
		// homelab.yaml's allow: from dns1 to media port 7000 (tcp only).
		{ns["dns1"], "tcp", "10.231.0.10:7000", true},
		{ns["dns1"], "udp", "10.231.0.10:7000", false},
		{ns["proxy"], "tcp", "10.231.0.10:7000", false},
		// The home LAN (network.lan_cidr) reaches DNS and the proxy's
		// 80/443, nothing else.
		{ns["lan"], "udp", "10.231.0.2:53", true},
		{ns["lan"], "tcp", "10.231.0.2:53", true},
		{ns["lan"], "tcp", "10.231.0.3:443", true},
		{ns["lan"], "tcp", "10.231.0.3:80", true},
		{ns["lan"], "tcp", "10.231.0.2:22", false},
		{ns["lan"], "tcp", "10.231.0.2:9123", false},
		{ns["lan"], "tcp", "10.231.0.10:8096", false},
		{ns["lan"], "tcp", "10.231.0.10:7000", false},
		// The router forwards VPN -> lab, never lab -> VPN.
		{ns["dns1"], "tcp", "100.100.0.2:22", false},
	})
}
