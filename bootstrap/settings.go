// Package bootstrap builds and repairs a lab on Proxmox VE from its lab
// repo: the NAT bridge, the cloud image, one VM per host with a separate
// data disk and a cloud-init vendor snippet that installs homelab-agent.
// It talks to the Proxmox REST API with an API token (Client), plans what
// to change (Plan) and applies the plan with independent VMs in parallel
// (Apply). Planning is pure; Apply is the only code path that changes the
// cluster, and --dry-run prints the very requests it would send.
package bootstrap

import (
	"fmt"
	"net/netip"
	"path"
	"strings"

	"github.com/homelab-agent/homelab-agent/agent/gitsync"
	"github.com/homelab-agent/homelab-agent/agent/lab"
	"github.com/homelab-agent/homelab-agent/internal/lazyre"
)

// Defaults of the lab's bootstrap: section.
const (
	DefaultNode         = "pve"
	DefaultStorage      = "local-lvm"
	DefaultImageStorage = "local"
	DefaultBridge       = "vmbr1"
	DefaultUplink       = "vmbr0"
	DefaultUser         = "homelab"
	DefaultBranch       = "main"
	// DefaultImageURL is Debian 13 (trixie) genericcloud, latest build. Its
	// checksum is read from SHA512SUMS beside it unless the lab pins one.
	DefaultImageURL = "https://cloud.debian.org/images/cloud/trixie/latest/debian-13-genericcloud-amd64.qcow2"
	// ManagedTag marks the VMs bootstrap owns; others are never touched.
	ManagedTag = "homelab"
)

// Settings are the resolved bootstrap settings of a lab: its bootstrap:
// section with defaults filled in, then any overrides.
type Settings struct {
	Node         string // default node for hosts without vm.node
	Storage      string // VM disks
	ImageStorage string // import and snippets content (a file-based storage)
	Bridge       string // the lab bridge
	Uplink       string // the NAT's way out
	User         string // cloud-init user
	// Nameserver is the guests' DNS server; unset, Proxmox gives them the
	// node's resolv.conf settings.
	Nameserver string
	SSHKeys    []string
	ImageURL   string
	// ImageChecksum is "sha256:HEX" or "sha512:HEX"; empty means "read
	// SHA512SUMS beside ImageURL".
	ImageChecksum string
	AgentURL      string
	AgentChecksum string // sha256:HEX
	Repo, Branch  string // what the agents pull
	// TrustedKeys, KnownHosts, Interval and Listen go into every guest's
	// agent.yaml (lab keys bootstrap.trusted_keys, .known_hosts,
	// .interval, .listen).
	TrustedKeys      []string
	KnownHosts       string
	Interval, Listen string

	Domain  string
	CIDR    netip.Prefix
	Gateway netip.Addr
}

// SettingsFor resolves a lab's settings; non-empty fields of override win.
func SettingsFor(l *lab.Lab, override Settings) Settings {
	s := Settings{
		Node: DefaultNode, Storage: DefaultStorage, ImageStorage: DefaultImageStorage,
		Bridge: DefaultBridge, Uplink: DefaultUplink, User: DefaultUser, Branch: DefaultBranch,
		ImageURL: DefaultImageURL,
		Domain:   l.Domain, CIDR: l.Network.CIDR.Prefix, Gateway: l.Network.Gateway.Addr,
	}
	if b := l.Bootstrap; b != nil {
		set(&s.Node, b.Node)
		set(&s.Storage, b.Storage)
		set(&s.ImageStorage, b.ImageStorage)
		set(&s.Bridge, b.Bridge)
		set(&s.Uplink, b.Uplink)
		set(&s.User, b.User)
		set(&s.Repo, b.Repo)
		set(&s.Branch, b.Branch)
		if b.Nameserver.IsValid() {
			s.Nameserver = b.Nameserver.String()
		}
		if b.Image != nil {
			set(&s.ImageURL, b.Image.URL)
			s.ImageChecksum = b.Image.Checksum
		}
		if b.Agent != nil {
			set(&s.AgentURL, b.Agent.URL)
			set(&s.AgentChecksum, b.Agent.Checksum)
		}
		s.SSHKeys = append(s.SSHKeys, b.SSHKeys...)
		s.TrustedKeys = append(s.TrustedKeys, b.TrustedKeys...)
		s.KnownHosts, s.Interval, s.Listen = b.KnownHosts, b.Interval, b.Listen
	}
	o := override
	for _, p := range []struct {
		dst *string
		v   string
	}{
		{&s.Node, o.Node}, {&s.Storage, o.Storage}, {&s.ImageStorage, o.ImageStorage}, {&s.Bridge, o.Bridge},
		{&s.Uplink, o.Uplink}, {&s.User, o.User}, {&s.ImageURL, o.ImageURL}, {&s.ImageChecksum, o.ImageChecksum},
		{&s.AgentURL, o.AgentURL}, {&s.AgentChecksum, o.AgentChecksum}, {&s.Repo, o.Repo}, {&s.Branch, o.Branch},
		{&s.Nameserver, o.Nameserver},
	} {
		set(p.dst, p.v)
	}
	if len(o.SSHKeys) > 0 {
		s.SSHKeys = o.SSHKeys
	}
	return s
}

func set(dst *string, v string) {
	if v != "" {
		*dst = v
	}
}

// ImageFile is the image's file name in the import storage.
func (s Settings) ImageFile() string { return path.Base(s.ImageURL) }

// ImageVolume is the image's volume ID once downloaded.
func (s Settings) ImageVolume() string { return s.ImageStorage + ":import/" + s.ImageFile() }

var (
	imageSumRe = lazyre.New(`^(sha256:[0-9a-f]{64}|sha512:[0-9a-f]{128})$`)
	agentSumRe = lazyre.New(`^sha256:[0-9a-f]{64}$`)
)

// check reports settings that make a plan impossible.
func (s Settings) check() error {
	var probs []string
	if s.AgentURL == "" || s.AgentChecksum == "" {
		probs = append(probs, "the agent binary's URL and sha256 are not set (bootstrap.agent.url and .checksum in homelab.yaml, or --agent-url and --agent-sha256)")
	}
	if s.Repo == "" {
		probs = append(probs, "the lab repo URL the agents pull is not set (bootstrap.repo in homelab.yaml, or --repo URL)")
	}
	if gitsync.HasCredentials(s.Repo) {
		probs = append(probs, fmt.Sprintf("the lab repo URL %s carries credentials, which would land in every VM's cloud-init data: "+
			"give the URL without them and put the token in each VM's /etc/homelab-agent/agent.yaml as auth.token (mode 0600)", gitsync.Redact(s.Repo)))
	}
	if s.ImageChecksum != "" && !imageSumRe.MatchString(s.ImageChecksum) {
		probs = append(probs, fmt.Sprintf("image checksum %q: want sha256:HEX or sha512:HEX", s.ImageChecksum))
	}
	if s.AgentChecksum != "" && !agentSumRe.MatchString(s.AgentChecksum) {
		probs = append(probs, fmt.Sprintf("agent checksum %q: want sha256:HEX (64 lower-case hex digits)", s.AgentChecksum))
	}
	if ext := path.Ext(s.ImageFile()); ext != ".qcow2" && ext != ".raw" && ext != ".vmdk" {
		probs = append(probs, fmt.Sprintf("image %s: Proxmox imports disk images named .qcow2, .raw or .vmdk", s.ImageFile()))
	}
	if len(probs) > 0 {
		return fmt.Errorf("bootstrap settings: %s", strings.Join(probs, "; "))
	}
	return nil
}
