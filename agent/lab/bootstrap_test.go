package lab

import (
	"strings"
	"testing"
)

const bootstrapBase = `domain: home.example
network: {cidr: 192.168.100.0/24, gateway: 192.168.100.1}
hosts:
  dns1: {ip: 192.168.100.2, role: dns, vm: {vmid: 102}}
`

func TestBootstrapSection(t *testing.T) {
	good := bootstrapBase + `bootstrap:
  node: pve
  storage: local-zfs
  image_storage: local
  bridge: vmbr1
  uplink: vmbr0
  user: admin
  nameserver: 192.168.100.2
  ssh_keys: ["ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIBx+/9Kq0= admin@laptop"]
  image: {url: "https://cloud.debian.org/images/cloud/trixie/latest/debian-13-genericcloud-amd64.qcow2", checksum: "sha512:` + strings.Repeat("ab", 64) + `"}
  agent: {url: "https://releases.example/homelab-agent", checksum: "sha256:` + strings.Repeat("cd", 32) + `"}
  repo: https://git.example/lab.git
  branch: main
`
	l, err := Parse(".", []byte(good), Options{})
	if err != nil {
		t.Fatal(err)
	}
	if b := l.Bootstrap; b == nil || b.Storage != "local-zfs" || b.Agent.URL != "https://releases.example/homelab-agent" || len(b.SSHKeys) != 1 {
		t.Fatalf("bootstrap = %+v", l.Bootstrap)
	}
	bad := bootstrapBase + `bootstrap:
  storage: Local_LVM!
  bridge: vmbr0
  uplink: vmbr0
  user: Admin
  ssh_keys: ["not a key"]
  image: {checksum: "md5:abc"}
  agent: {url: "ftp://x", checksum: "sha512:` + strings.Repeat("ab", 64) + `"}
  colour: blue
`
	_, err = Parse(".", []byte(bad), Options{})
	if err == nil {
		t.Fatal("bad bootstrap section accepted")
	}
	for _, want := range []string{
		`homelab.yaml:6:12: invalid storage "Local_LVM!"`,
		`homelab.yaml:7:11: bridge and uplink are both "vmbr0"`,
		`homelab.yaml:9:9: invalid user "Admin"`,
		`homelab.yaml:10:13: ssh_keys[0] is not an OpenSSH public key`,
		`homelab.yaml:11:10: bootstrap.image: missing required key "url"`,
		`homelab.yaml:11:21: invalid checksum "md5:abc"`,
		`homelab.yaml:12:16: bootstrap.agent.url must be an http or https URL`,
		`bootstrap.agent.checksum must be sha256:HEX`,
		`homelab.yaml:13:3: unknown key "colour"`,
	} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("errors lack %q:\n%v", want, err)
		}
	}
}
