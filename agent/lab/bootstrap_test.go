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

// TestBootstrapAgentSettings: the keys that reach every guest's agent.yaml
// are checked where they are written.
func TestBootstrapAgentSettings(t *testing.T) {
	good := bootstrapBase + `bootstrap:
  trusted_keys:
    - ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIBx+/9Kq0= owner@laptop
    - |
      -----BEGIN PGP PUBLIC KEY BLOCK-----
      mDMEZ
      -----END PGP PUBLIC KEY BLOCK-----
  known_hosts: |
    # the lab's git server
    git.example ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIJdD7y3aLq58th6GOB3MGNPh1E8kdKqhrAXCLLq1bYLu
  interval: 30s
  listen: 0.0.0.0:9123
`
	l, err := Parse(".", []byte(good), Options{})
	if err != nil {
		t.Fatal(err)
	}
	if b := l.Bootstrap; len(b.TrustedKeys) != 2 || b.Interval != "30s" || b.Listen != "0.0.0.0:9123" || !strings.Contains(b.KnownHosts, "git.example") {
		t.Fatalf("bootstrap = %+v", b)
	}
	bad := bootstrapBase + `bootstrap:
  trusted_keys: [/etc/homelab-agent/owner.pub]
  known_hosts: "git.example not-a-key"
  interval: 500ms
  listen: "localhost:http"
`
	_, err = Parse(".", []byte(bad), Options{})
	if err == nil {
		t.Fatal("bad agent settings accepted")
	}
	for _, want := range []string{
		`homelab.yaml:6:17: trusted_keys[0] is neither an OpenSSH public key line nor an armored OpenPGP public key block`,
		`homelab.yaml:7:16: known_hosts line 1 is not a known_hosts line`,
		`homelab.yaml:8:13: invalid interval "500ms"`,
		`homelab.yaml:9:11: invalid listen address "localhost:http"`,
	} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("errors lack %q:\n%v", want, err)
		}
	}
}
