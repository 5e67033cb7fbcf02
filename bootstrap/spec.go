package bootstrap

import (
	"fmt"
	"net/netip"
	"os"
	"strconv"
	"strings"

	"github.com/homelab-agent/homelab-agent/agent/lab"
	"github.com/homelab-agent/homelab-agent/internal/lazyre"
)

// Defaults for hosts whose vm: settings leave a value out.
const (
	DefaultCores    = 1
	DefaultMemory   = 1024
	DefaultDisk     = "8G"
	DefaultDataDisk = "4G"
)

// VMSpec is one host's VM as homelab.yaml describes it.
type VMSpec struct {
	Host    string
	Role    string
	VMID    int
	Node    string
	Cores   int
	Memory  int    // MiB
	Disk    string // OS disk size, e.g. 8G
	Data    string // data disk size, e.g. 200G
	Storage string
	IP      netip.Addr
	// HostPCI is the PCI device passed into the VM (vm.hostpci), or "".
	HostPCI string
	// Snippet is the cloud-init vendor data; SnippetName its file name in
	// the image storage's snippets folder.
	Snippet     []byte
	SnippetName string
	// Secret marks a snippet that holds the guest's identity: written 0600.
	Secret bool
	vendor VendorInput
}

// SnippetVolume is the snippet's volume ID.
func (v *VMSpec) SnippetVolume(s Settings) string {
	return s.ImageStorage + ":snippets/" + v.SnippetName
}

// Specs lists the VMs of the lab's hosts that have vm: settings with a
// vmid, in file order; the others are returned by name in skipped.
func Specs(l *lab.Lab, s Settings) (specs []*VMSpec, skipped []string, err error) {
	agentSum := strings.TrimPrefix(s.AgentChecksum, "sha256:")
	for _, h := range l.Hosts {
		if h.VM == nil || h.VM.VMID == 0 {
			skipped = append(skipped, h.Name)
			continue
		}
		vm := h.VM
		v := &VMSpec{
			Host: h.Name, Role: h.Role, VMID: vm.VMID, Node: or(vm.Node, s.Node),
			Cores: orInt(vm.Cores, DefaultCores), Memory: orInt(vm.Memory, DefaultMemory),
			Disk: or(vm.Disk, DefaultDisk), Data: or(vm.DataDisk, DefaultDataDisk),
			Storage: or(vm.Storage, s.Storage), IP: h.IP.Addr, HostPCI: vm.HostPCI,
			SnippetName: "homelab-" + h.Name + ".yaml",
		}
		if _, err := gib(v.Data); err != nil {
			return nil, nil, fmt.Errorf("host %s: data_disk: %w", h.Name, err)
		}
		v.vendor = VendorInput{Host: h.Name, Repo: s.Repo, Branch: s.Branch, AgentURL: s.AgentURL, AgentSHA256: agentSum,
			Interval: s.Interval, Listen: s.Listen, TrustedKeys: s.TrustedKeys, KnownHosts: s.KnownHosts}
		v.Snippet = VendorData(v.vendor)
		specs = append(specs, v)
	}
	return specs, skipped, nil
}

func or(v, d string) string {
	if v == "" {
		return d
	}
	return v
}

func orInt(v, d int) int {
	if v == 0 {
		return d
	}
	return v
}

var sizeRe = lazyre.New(`^(\d+(?:\.\d+)?)([KMGT]?)$`)

// bytesOf parses 8G, 512M, 1T (a bare number is bytes, as in Proxmox).
func bytesOf(s string) (int64, error) {
	m := sizeRe.FindStringSubmatch(s)
	if m == nil {
		return 0, fmt.Errorf("invalid size %q", s)
	}
	f, _ := strconv.ParseFloat(m[1], 64)
	mult := map[string]float64{"": 1, "K": 1 << 10, "M": 1 << 20, "G": 1 << 30, "T": 1 << 40}[m[2]]
	return int64(f * mult), nil
}

// gib writes a size in GiB as Proxmox's STORAGE:SIZE allocation wants it.
func gib(s string) (string, error) {
	b, err := bytesOf(s)
	if err != nil {
		return "", err
	}
	if b < 1<<30 {
		return "", fmt.Errorf("size %s is below 1G, the smallest disk bootstrap creates", s)
	}
	return strconv.FormatFloat(float64(b)/(1<<30), 'f', -1, 64), nil
}

// EncodeSSHKeys encodes public keys (one per line) for the sshkeys
// parameter. Proxmox stores the value URL-encoded and checks it against
// /^[-%a-zA-Z0-9_.!~*'()]*$/, so every other byte — spaces, "+", "/",
// "=", "@", newlines — is percent-encoded (a space as %20, never "+").
func EncodeSSHKeys(keys []string) string {
	var b strings.Builder
	for i, k := range keys {
		if i > 0 {
			b.WriteString("%0A")
		}
		for _, c := range []byte(strings.TrimSpace(k)) {
			if c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' || c == '_' || c == '.' || c == '~' {
				b.WriteByte(c)
			} else {
				fmt.Fprintf(&b, "%%%02X", c)
			}
		}
	}
	return b.String()
}

// decodeSSHKeys reverses EncodeSSHKeys (as Proxmox's uri_unescape does: a
// "+" stays a "+").
func decodeSSHKeys(s string) []string {
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] == '%' && i+2 < len(s) {
			if n, err := strconv.ParseUint(s[i+1:i+3], 16, 8); err == nil {
				b.WriteByte(byte(n))
				i += 2
				continue
			}
		}
		b.WriteByte(s[i])
	}
	var out []string
	for _, l := range strings.Split(b.String(), "\n") {
		if l = strings.TrimSpace(l); l != "" {
			out = append(out, l)
		}
	}
	return out
}

// createParams are the parameters of POST /nodes/{node}/qemu for a VM.
func (v *VMSpec) createParams(s Settings) map[string]string {
	p := v.settings(s)
	p["vmid"] = strconv.Itoa(v.VMID)
	p["scsi0"] = v.osDisk(s)
	data, _ := gib(v.Data)
	p["scsi1"] = v.Storage + ":" + data + ",iothread=1,discard=on"
	p["ide2"] = v.Storage + ":cloudinit"
	p["net0"] = "virtio,bridge=" + s.Bridge
	return p
}

func (v *VMSpec) osDisk(s Settings) string {
	return v.Storage + ":0,import-from=" + s.ImageVolume() + ",iothread=1,discard=on"
}

// settings are the VM settings compared for drift (no disks, no net0).
func (v *VMSpec) settings(s Settings) map[string]string {
	p := map[string]string{
		"name":      v.Host,
		"tags":      ManagedTag,
		"ostype":    "l26",
		"cores":     strconv.Itoa(v.Cores),
		"memory":    strconv.Itoa(v.Memory),
		"scsihw":    "virtio-scsi-single",
		"ipconfig0": fmt.Sprintf("ip=%s/%d,gw=%s", v.IP, s.CIDR.Bits(), s.Gateway),
		"ciuser":    s.User,
		"cicustom":  "vendor=" + v.SnippetVolume(s),
		"agent":     "enabled=1",
		"onboot":    "1",
		"boot":      "order=scsi0",
		"serial0":   "socket",
		"vga":       "serial0",
	}
	// Proxmox hands the guests the node's DNS settings only when neither
	// nameserver nor searchdomain is set, so both or neither.
	if s.Nameserver != "" {
		p["nameserver"] = s.Nameserver
		p["searchdomain"] = s.Domain
	}
	if len(s.SSHKeys) > 0 {
		p["sshkeys"] = EncodeSSHKeys(s.SSHKeys)
	}
	if v.HostPCI != "" {
		p["hostpci0"] = v.HostPCI
	}
	return p
}

// snippetMode is 0600 for a snippet that holds secrets (only root on the
// node reads it: Proxmox builds the cloud-init drive as root), else 0644.
func snippetMode(v *VMSpec) os.FileMode {
	if v.Secret {
		return 0o600
	}
	return 0o644
}
