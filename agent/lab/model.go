// Package lab owns the lab model: it parses a lab repo's homelab.yaml
// strictly, checks it as a whole, and reports every problem it finds as
// file:line:col. The rest of the agent reads the lab only through *Lab.
package lab

import (
	"net/netip"
	"strings"

	"gopkg.in/yaml.v3"
)

// LabFile is the lab description at the root of a lab repo.
const LabFile = "homelab.yaml"

// Lab is one parsed and checked homelab.yaml.
type Lab struct {
	Domain     string  `yaml:"domain"`
	DomainPos  Pos     `yaml:"-"`
	Network    Network `yaml:"network"`
	NetworkPos Pos     `yaml:"-"`
	// Settings holds the top-level keys the roles own (dns:, proxy:);
	// read them with SettingOf.
	Settings RoleSettings `yaml:",settings"`
	Backup   Backup       `yaml:"backup"`
	// Updates is the lab-wide image update policy and window
	// (docs/containers.md); nil: images are never updated by the agent.
	Updates  *Updates `yaml:"updates"`
	Hosts    Hosts    `yaml:"hosts"`
	HostsPos Pos      `yaml:"-"`
	Apps     []*App   `yaml:"apps"`
	// OS is how the guests' operating system is kept up to date.
	OS    *OS `yaml:"os"`
	OSPos Pos `yaml:"-"`
	// Docker is how the agent configures the Docker Engine of hosts that
	// run containers.
	Docker    *Docker `yaml:"docker"`
	DockerPos Pos     `yaml:"-"`
	// Bootstrap tells `homelab-agent bootstrap` how to build the lab on Proxmox.
	Bootstrap    *Bootstrap `yaml:"bootstrap"`
	BootstrapPos Pos        `yaml:"-"`

	// Dir is the lab repo's folder on disk.
	Dir string `yaml:"-"`
	// SecretRefs lists every ${secret:NAME} written in homelab.yaml.
	SecretRefs []SecretRef `yaml:"-"`
	// Scope limits the checks that load more than homelab.yaml (scope.go).
	Scope Scope `yaml:"-"`
}

// Network is the lab's bridge subnet and the VPN range routed into it.
type Network struct {
	CIDR       Prefix `yaml:"cidr"`
	CIDRPos    Pos    `yaml:"-"`
	Gateway    IP     `yaml:"gateway"`
	GatewayPos Pos    `yaml:"-"`
	VPNCIDR    Prefix `yaml:"vpn_cidr"`
	VPNCIDRPos Pos    `yaml:"-"`
	// LANCIDR is the home LAN routed to the lab through the node: its
	// clients may reach the services people use (the proxy's 80/443, DNS).
	LANCIDR    Prefix `yaml:"lan_cidr"`
	LANCIDRPos Pos    `yaml:"-"`
}

// Backup is the lab-wide restic policy; hosts may override the schedule.
type Backup struct {
	Repository    string `yaml:"repository"`
	RepositoryPos Pos    `yaml:"-"`
	Schedule      string `yaml:"schedule"`
	SchedulePos   Pos    `yaml:"-"`
	Keep          Keep   `yaml:"keep"`
	KeepPos       Pos    `yaml:"-"`
	Init          bool   `yaml:"init"`
	AutoRestore   *bool  `yaml:"auto_restore"`
	NotifyURL     string `yaml:"notify_url"`
	NotifyURLPos  Pos    `yaml:"-"`
	// PruneSchedule is when `restic forget --prune` applies Keep (cron).
	PruneSchedule    string `yaml:"prune_schedule"`
	PruneSchedulePos Pos    `yaml:"-"`
	// CheckSchedule is when `restic check --read-data-subset` runs (cron).
	CheckSchedule    string `yaml:"check_schedule"`
	CheckSchedulePos Pos    `yaml:"-"`
	// CheckSubset is how much data a check reads: "5%", "1/10" or "500M".
	CheckSubset    string `yaml:"check_subset"`
	CheckSubsetPos Pos    `yaml:"-"`
	// RandomDelay is the upper bound of each host's fixed delay after a
	// scheduled time ("30m"), so hosts do not all start at once.
	RandomDelay    string `yaml:"random_delay"`
	RandomDelayPos Pos    `yaml:"-"`
}

// Keep is restic's forget policy.
type Keep struct {
	Last    int `yaml:"last"`
	Hourly  int `yaml:"hourly"`
	Daily   int `yaml:"daily"`
	Weekly  int `yaml:"weekly"`
	Monthly int `yaml:"monthly"`
	Yearly  int `yaml:"yearly"`
	Pos     Pos `yaml:"-"`
}

// Host is one VM of the lab.
type Host struct {
	Name    string      `yaml:"-"`
	Pos     Pos         `yaml:"-"`
	IP      IP          `yaml:"ip"`
	IPPos   Pos         `yaml:"-"`
	Role    string      `yaml:"role"`
	RolePos Pos         `yaml:"-"`
	VM      *VM         `yaml:"vm"`
	Backup  *HostBackup `yaml:"backup"`
	// Allow admits flows from other guests that the zero-trust default denies.
	Allow []*Allow `yaml:"allow"`
	// Expose overrides the role's public name and port behind Traefik.
	Expose *Expose `yaml:"expose"`
	// Compose replaces the role's embedded compose file with one in the
	// lab repo (its folder's .env feeds interpolation).
	Compose    string `yaml:"compose"`
	ComposePos Pos    `yaml:"-"`
	// ComposeData is the compose file's content, read when the lab loads.
	ComposeData []byte `yaml:"-"`
	// Wave is the host's canary wave: its agent applies a new commit only
	// once every host of a lower wave applied it and is healthy (0: first).
	Wave    int `yaml:"wave"`
	WavePos Pos `yaml:"-"`
	// Updates overrides the lab's image update policy for the host's
	// role project.
	Updates *Updates `yaml:"updates"`
	// Settings holds the host keys its role owns (gpu:); read them with
	// HostSettingOf.
	Settings RoleSettings `yaml:",settings"`
}

// VM is how bootstrap creates the host on Proxmox.
type VM struct {
	VMID        int    `yaml:"vmid"`
	VMIDPos     Pos    `yaml:"-"`
	Node        string `yaml:"node"`
	NodePos     Pos    `yaml:"-"`
	Cores       int    `yaml:"cores"`
	CoresPos    Pos    `yaml:"-"`
	Memory      int    `yaml:"memory"`
	MemoryPos   Pos    `yaml:"-"`
	Disk        string `yaml:"disk"`
	DiskPos     Pos    `yaml:"-"`
	DataDisk    string `yaml:"data_disk"`
	DataDiskPos Pos    `yaml:"-"`
	Storage     string `yaml:"storage"`
	StoragePos  Pos    `yaml:"-"`
	// HostPCI is a host PCI device Proxmox passes into the VM (hostpci0):
	// a PCI ID such as 0000:00:02.0, or mapping=NAME, with options.
	HostPCI    string `yaml:"hostpci"`
	HostPCIPos Pos    `yaml:"-"`
	Pos        Pos    `yaml:"-"`
}

// Bootstrap is the lab-wide Proxmox settings of `homelab-agent bootstrap`;
// every key is optional (docs/bootstrap.md lists the defaults).
type Bootstrap struct {
	Node            string    `yaml:"node"`
	NodePos         Pos       `yaml:"-"`
	Storage         string    `yaml:"storage"`
	StoragePos      Pos       `yaml:"-"`
	ImageStorage    string    `yaml:"image_storage"`
	ImageStoragePos Pos       `yaml:"-"`
	Bridge          string    `yaml:"bridge"`
	BridgePos       Pos       `yaml:"-"`
	Uplink          string    `yaml:"uplink"`
	UplinkPos       Pos       `yaml:"-"`
	Image           *Download `yaml:"image"`
	Agent           *Download `yaml:"agent"`
	User            string    `yaml:"user"`
	UserPos         Pos       `yaml:"-"`
	Nameserver      IP        `yaml:"nameserver"`
	NameserverPos   Pos       `yaml:"-"`
	SSHKeys         []string  `yaml:"ssh_keys"`
	SSHKeysPos      Pos       `yaml:"-"`
	Repo            string    `yaml:"repo"`
	RepoPos         Pos       `yaml:"-"`
	Branch          string    `yaml:"branch"`
	BranchPos       Pos       `yaml:"-"`
	// TrustedKeys, KnownHosts, Interval and Listen go into every guest's
	// agent.yaml through the vendor data (none is a secret): the keys
	// whose signatures the agents require (SSH public key lines or
	// armored OpenPGP public key blocks), the lab repo server's SSH host
	// keys (known_hosts lines), the poll interval and the listen address.
	TrustedKeys    []string `yaml:"trusted_keys"`
	TrustedKeysPos Pos      `yaml:"-"`
	KnownHosts     string   `yaml:"known_hosts"`
	KnownHostsPos  Pos      `yaml:"-"`
	Interval       string   `yaml:"interval"`
	IntervalPos    Pos      `yaml:"-"`
	Listen         string   `yaml:"listen"`
	ListenPos      Pos      `yaml:"-"`
}

// Updates values of the os: key.
const (
	// UpdatesSecurity installs unattended-upgrades, limited to Debian's
	// security archive.
	UpdatesSecurity = "security"
	// UpdatesNone turns unattended upgrades off.
	UpdatesNone = "none"
)

// OS is the guests' operating system settings (os: in homelab.yaml).
type OS struct {
	// Updates is UpdatesSecurity or UpdatesNone; unset leaves the
	// guests' own setting alone.
	Updates    string `yaml:"updates"`
	UpdatesPos Pos    `yaml:"-"`
	Pos        Pos    `yaml:"-"`
}

// Docker is the Docker Engine settings of the lab's guests (docker: in
// homelab.yaml).
type Docker struct {
	// AddressPools are where the Engine takes the subnets of its
	// networks from (daemon.json's default-address-pools). Unset, the
	// agent picks a pool outside the lab's networks.
	AddressPools    []*AddressPool `yaml:"address_pools"`
	AddressPoolsPos Pos            `yaml:"-"`
	Pos             Pos            `yaml:"-"`
}

// AddressPool is one of the Docker Engine's default address pools: Base
// is cut into networks of prefix length Size.
type AddressPool struct {
	Base    Prefix `yaml:"base"`
	BasePos Pos    `yaml:"-"`
	Size    int    `yaml:"size"`
	SizePos Pos    `yaml:"-"`
	Pos     Pos    `yaml:"-"`
}

// Download is a file fetched by URL and checked against its checksum,
// written "sha256:HEX" or "sha512:HEX".
type Download struct {
	URL         string `yaml:"url"`
	URLPos      Pos    `yaml:"-"`
	Checksum    string `yaml:"checksum"`
	ChecksumPos Pos    `yaml:"-"`
	Pos         Pos    `yaml:"-"`
}

// HostBackup overrides the lab's backup settings for one host.
type HostBackup struct {
	Schedule    string `yaml:"schedule"`
	SchedulePos Pos    `yaml:"-"`
}

// Allow is one flow from another guest that a host's firewall admits.
type Allow struct {
	From     string `yaml:"from"`
	FromPos  Pos    `yaml:"-"`
	Port     int    `yaml:"port"`
	PortPos  Pos    `yaml:"-"`
	Proto    string `yaml:"proto"`
	ProtoPos Pos    `yaml:"-"`
	Pos      Pos    `yaml:"-"`
}

// Expose publishes a service as <subdomain>.<domain> through Traefik.
type Expose struct {
	Subdomain    string `yaml:"subdomain"`
	SubdomainPos Pos    `yaml:"-"`
	Port         int    `yaml:"port"`
	PortPos      Pos    `yaml:"-"`
	Pos          Pos    `yaml:"-"`
}

// App is an extra compose project run on a host beside its role.
type App struct {
	Host       string  `yaml:"host"`
	HostPos    Pos     `yaml:"-"`
	Name       string  `yaml:"name"`
	NamePos    Pos     `yaml:"-"`
	Compose    string  `yaml:"compose"`
	ComposePos Pos     `yaml:"-"`
	Expose     *Expose `yaml:"expose"`
	// Updates overrides the lab's image update policy for the app.
	Updates *Updates `yaml:"updates"`
	Pos     Pos      `yaml:"-"`
	// ComposeData is the compose file's content, read when the lab loads.
	ComposeData []byte `yaml:"-"`
}

// UpdatePolicies are the values of updates.policy.
var UpdatePolicies = []string{"pinned", "patch", "minor", "track"}

// Updates is an image update policy: lab-wide, or a host's or an app's
// override. Policy applies to every service of the project the role does
// not give another default; Services sets one per compose service.
type Updates struct {
	Policy    string `yaml:"policy"`
	PolicyPos Pos    `yaml:"-"`
	// Window is when updates are applied (cron, five fields), for
	// WindowLength (a duration, 1h when empty).
	Window          string `yaml:"window"`
	WindowPos       Pos    `yaml:"-"`
	WindowLength    string `yaml:"window_length"`
	WindowLengthPos Pos    `yaml:"-"`
	// Services overrides the policy per compose service.
	Services    map[string]string `yaml:"services"`
	ServicesPos Pos               `yaml:"-"`
	Pos         Pos               `yaml:"-"`
}

// SecretRef is one ${secret:NAME} reference and where it is written.
type SecretRef struct {
	Name string
	Pos  Pos
}

// Hosts keeps the hosts in the order homelab.yaml lists them.
type Hosts []*Host

// Get returns the named host or nil.
func (hs Hosts) Get(name string) *Host {
	for _, h := range hs {
		if h.Name == name {
			return h
		}
	}
	return nil
}

// WithRole returns the hosts that have the role, in file order.
func (l *Lab) WithRole(role string) []*Host {
	var out []*Host
	for _, h := range l.Hosts {
		if h.Role == role {
			out = append(out, h)
		}
	}
	return out
}

// UsesWaves reports whether any host is in a wave after the first.
func (l *Lab) UsesWaves() bool {
	for _, h := range l.Hosts {
		if h.Wave > 0 {
			return true
		}
	}
	return false
}

// AppsOn returns the extra apps that run on the host.
func (l *Lab) AppsOn(host string) []*App {
	var out []*App
	for _, a := range l.Apps {
		if a.Host == host {
			out = append(out, a)
		}
	}
	return out
}

// IP is an address written as a YAML string.
type IP struct{ netip.Addr }

func (ip *IP) unmarshalNode(n *yaml.Node) string {
	if n.Kind != yaml.ScalarNode || n.Tag != "!!str" {
		return "expected an IP address, got " + describe(n)
	}
	a, err := netip.ParseAddr(n.Value)
	if err != nil || a.Zone() != "" {
		return "invalid IP address " + quote(n.Value)
	}
	ip.Addr = a
	return ""
}

// Prefix is a network written as a YAML string in CIDR notation.
type Prefix struct{ netip.Prefix }

func (p *Prefix) unmarshalNode(n *yaml.Node) string {
	if n.Kind != yaml.ScalarNode || n.Tag != "!!str" {
		return "expected a network in CIDR notation, got " + describe(n)
	}
	pr, err := netip.ParsePrefix(n.Value)
	if err != nil {
		return "invalid network " + quote(n.Value) + " (want CIDR notation such as 192.168.100.0/24)"
	}
	if pr.Masked() != pr {
		return "network " + quote(n.Value) + " has host bits set; did you mean " + pr.Masked().String() + "?"
	}
	p.Prefix = pr
	return ""
}

func quote(s string) string { return "\"" + strings.ReplaceAll(s, "\"", "\\\"") + "\"" }

// DataRoot is the data disk's mount point on every VM: the one place
// data users care about lives. Nothing the agent does on its own deletes
// anything below it.
const DataRoot = "/srv/data"

// DataDir is a service's data folder as a host path, /srv/data/<service>.
func DataDir(service string) string { return DataRoot + "/" + service }
