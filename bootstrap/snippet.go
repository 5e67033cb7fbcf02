package bootstrap

import (
	"bytes"
	"fmt"
	"slices"
	"strings"

	"gopkg.in/yaml.v3"

	"github.com/homelab-agent/homelab-agent/agent/daemon"
	"github.com/homelab-agent/homelab-agent/agent/firewall"
)

// Guest-side defaults of the vendor snippet.
const (
	// DefaultDataDevice is how a Proxmox virtio-scsi disk at scsi1 appears
	// in the guest.
	DefaultDataDevice = "/dev/disk/by-id/scsi-0QEMU_QEMU_HARDDISK_drive-scsi1"
	DataLabel         = "homelab-data"
	DataDir           = daemon.DataDir
	AgentConfigPath   = daemon.ConfigPath
	AgentBinary       = "/usr/local/bin/homelab-agent"
	FirstbootPath     = "/usr/local/lib/homelab-agent/firstboot.sh"
	UnitPath          = daemon.UnitPath
	// IdentityPath is the guest's age identity (vault.IdentityFile).
	IdentityPath   = "/etc/homelab-agent/age.key"
	DeployKeyPath  = "/etc/homelab-agent/deploy_key"
	KnownHostsPath = "/etc/homelab-agent/known_hosts"
)

// VendorInput is what a host's cloud-init vendor data is made of.
type VendorInput struct {
	Host   string // the host's name in homelab.yaml
	Repo   string // the lab repo URL the agent pulls
	Branch string
	// AgentURL serves the homelab-agent binary (http, https or file);
	// AgentSHA256 is its lower-case hex sha256.
	AgentURL, AgentSHA256 string
	// DataDevice is the data disk (default DefaultDataDevice); tests point
	// it at a loop device.
	DataDevice string
	// Interval is the agent's poll interval (default 15s); Listen its
	// HTTP address (the agent's default, 127.0.0.1:9123, when empty).
	Interval, Listen string
	// TrustedKeys are the keys whose signatures the agent requires
	// (agent.yaml trusted_keys); KnownHosts the lab repo server's SSH
	// host keys (known_hosts lines). Neither is a secret.
	TrustedKeys []string
	KnownHosts  string
	// Secrets, when set, are handed to the guest: its age identity and
	// how its agent reaches the lab repo (see GuestSecrets).
	Secrets *GuestSecrets
}

// VendorData renders a host's cloud-init vendor data: a #cloud-config that
// installs qemu-guest-agent, curl and nftables, writes
// /etc/homelab-agent/agent.yaml (repo, branch, host, interval, listen,
// trusted_keys, auth.known_hosts), the agent's systemd unit and the
// firewall's boot unit (the very ones install writes: daemon.Unit and
// firewall.BootUnit), and runs a first-boot script that formats
// the data disk only when it carries nothing (blkid -p finds no signature,
// so a re-attached disk keeps its data), mounts it by label at /srv/data,
// downloads the agent checked against its sha256 and enables the unit.
// It is pure: the same input gives the same bytes.
func VendorData(in VendorInput) []byte {
	if in.DataDevice == "" {
		in.DataDevice = DefaultDataDevice
	}
	if in.Interval == "" {
		in.Interval = "15s"
	}
	if in.Branch == "" {
		in.Branch = DefaultBranch
	}
	type auth struct {
		SSHKey     string `yaml:"ssh_key,omitempty"`
		KnownHosts string `yaml:"known_hosts,omitempty"`
		Token      string `yaml:"token,omitempty"`
	}
	cfg := struct {
		Repo          string   `yaml:"repo"`
		Branch        string   `yaml:"branch"`
		Host          string   `yaml:"host"`
		Interval      string   `yaml:"interval"`
		Listen        string   `yaml:"listen,omitempty"`
		TrustedKeys   []string `yaml:"trusted_keys,omitempty"`
		Auth          *auth    `yaml:"auth,omitempty"`
		WebhookSecret string   `yaml:"webhook_secret,omitempty"`
	}{Repo: in.Repo, Branch: in.Branch, Host: in.Host, Interval: in.Interval, Listen: in.Listen, TrustedKeys: in.TrustedKeys}
	type file struct {
		Path        string `yaml:"path"`
		Permissions string `yaml:"permissions"`
		Content     string `yaml:"content"`
	}
	var secretFiles []file
	a := &auth{}
	knownHosts := in.KnownHosts
	if s := in.Secrets; s != nil {
		cfg.WebhookSecret = s.WebhookSecret
		a.Token = s.Token
		if s.Identity != "" {
			secretFiles = append(secretFiles, file{IdentityPath, "0600", s.Identity})
		}
		if s.DeployKey != "" {
			a.SSHKey = DeployKeyPath
			secretFiles = append(secretFiles, file{DeployKeyPath, "0600", strings.TrimRight(s.DeployKey, "\n") + "\n"})
		}
		// The admin file's LAB_KNOWN_HOSTS (older labs) joins the lab's.
		knownHosts = joinLines(knownHosts, s.KnownHosts)
	}
	var plainFiles []file
	if knownHosts != "" {
		a.KnownHosts = KnownHostsPath
		plainFiles = append(plainFiles, file{KnownHostsPath, "0644", knownHosts})
	}
	if *a != (auth{}) {
		cfg.Auth = a
	}
	agentYAML, _ := yaml.Marshal(cfg)
	doc := struct {
		PackageUpdate bool       `yaml:"package_update"`
		Packages      []string   `yaml:"packages"`
		WriteFiles    []file     `yaml:"write_files"`
		RunCmd        [][]string `yaml:"runcmd"`
	}{
		PackageUpdate: true,
		Packages:      []string{"qemu-guest-agent", "curl", "ca-certificates", "nftables"},
		WriteFiles: append(append(append([]file{
			{AgentConfigPath, "0600", string(agentYAML)}}, secretFiles...), plainFiles...),
			file{UnitPath, "0644", string(daemon.Unit(AgentBinary))},
			file{firewall.BootUnitPath, "0644", string(firewall.BootUnit())},
			file{FirstbootPath, "0755", FirstbootScript(in)},
		),
		RunCmd: [][]string{
			{"systemctl", "enable", "--now", "qemu-guest-agent"},
			{FirstbootPath},
		},
	}
	var b bytes.Buffer
	fmt.Fprintf(&b, "#cloud-config\n# homelab-agent vendor data for host %s, written by homelab-agent bootstrap.\n", in.Host)
	enc := yaml.NewEncoder(&b)
	enc.SetIndent(2)
	enc.Encode(doc)
	enc.Close()
	return b.Bytes()
}

// FirstbootScript is the shell script the vendor data runs once the
// packages are in: data disk, then agent. Running it again changes nothing.
func FirstbootScript(in VendorInput) string {
	if in.DataDevice == "" {
		in.DataDevice = DefaultDataDevice
	}
	r := strings.NewReplacer(
		"@DEV@", shq(in.DataDevice), "@LABEL@", shq(DataLabel), "@MNT@", shq(DataDir),
		"@URL@", shq(in.AgentURL), "@SHA@", shq(in.AgentSHA256), "@BIN@", shq(AgentBinary),
	)
	return r.Replace(firstboot)
}

const firstboot = `#!/bin/sh
# homelab-agent first boot: data disk, then the agent. Safe to run again.
set -eu
dev=@DEV@ label=@LABEL@ mnt=@MNT@

i=0
while [ ! -b "$dev" ]; do
  i=$((i + 1))
  if [ "$i" -gt 120 ]; then echo "firstboot: data disk $dev did not appear" >&2; exit 1; fi
  sleep 1
done
# Format only a disk that carries nothing: blkid -p exits 2 when it finds no
# filesystem, partition table or RAID signature. A re-attached disk is kept.
rc=0
blkid -p "$dev" >/dev/null 2>&1 || rc=$?
case $rc in
0) echo "firstboot: $dev already carries data; not formatting" ;;
2) mkfs.ext4 -q -L "$label" "$dev" ;;
*) echo "firstboot: blkid -p $dev failed with status $rc; not formatting" >&2; exit 1 ;;
esac
mkdir -p "$mnt"
grep -q "^LABEL=$label " /etc/fstab || echo "LABEL=$label $mnt ext4 defaults,nofail 0 2" >>/etc/fstab
mountpoint -q "$mnt" || mount "$mnt"

tmp=$(mktemp)
curl -fsSL --retry 10 --retry-connrefused -o "$tmp" @URL@
echo @SHA@"  $tmp" | sha256sum -c --quiet -
install -m 0755 "$tmp" @BIN@
rm -f "$tmp"
systemctl daemon-reload
# Loads the table the agent saves, at every boot before the network.
systemctl enable homelab-agent-firewall.service
systemctl enable --now homelab-agent.service
`

// joinLines joins two blocks of lines, each line once, ending in a newline.
func joinLines(a, b string) string {
	var out []string
	for _, l := range strings.Split(a+"\n"+b, "\n") {
		if l = strings.TrimSpace(l); l != "" && !slices.Contains(out, l) {
			out = append(out, l)
		}
	}
	if len(out) == 0 {
		return ""
	}
	return strings.Join(out, "\n") + "\n"
}

// shq quotes a string for the shell.
func shq(s string) string { return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'" }
