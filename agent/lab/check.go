package lab

import (
	"errors"
	"io/fs"
	"maps"
	"net"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/robfig/cron/v3"
	"golang.org/x/crypto/ssh"
	"gopkg.in/yaml.v3"

	"github.com/homelab-agent/homelab-agent/agent/bounded"
	"github.com/homelab-agent/homelab-agent/agent/repofs"
	"github.com/homelab-agent/homelab-agent/agent/secrets"
	"github.com/homelab-agent/homelab-agent/internal/lazyre"
)

var (
	labelRe   = lazyre.New(`^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$`)
	domainRe  = lazyre.New(`^([a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?\.)+[a-z][a-z0-9-]{0,61}[a-z0-9]$`)
	sizeRe    = lazyre.New(`^[1-9][0-9]*[KMGT]?$`)
	emailRe   = lazyre.New(`^[^@\s]+@[^@\s]+\.[^@\s]+$`)
	hostPCIRe = lazyre.New(`^(?i:((host=)?([a-f0-9]{4,}:)?[a-f0-9]{2}:[a-f0-9]{2}(\.[a-f0-9])?(;([a-f0-9]{4,}:)?[a-f0-9]{2}:[a-f0-9]{2}(\.[a-f0-9])?)*|mapping=[a-z][a-z0-9_-]+)(,[a-z-]+=[^,=\s]+)*)$`)
	subsetRe  = lazyre.New(`^([0-9]+(\.[0-9]+)?%|[1-9][0-9]*/[1-9][0-9]*|[1-9][0-9]*[KMGT]?)$`)
)

// checkLab runs the whole-lab checks that need more than one value.
func checkLab(l *Lab, top *yaml.Node, opts Options, errs *Errors) {
	required := func(present bool, p Pos, key string) {
		if !present {
			errs.At(p, "missing required key %q", key)
		}
	}
	topPos := Pos{Line: top.Line, Col: top.Column}
	required(l.Domain != "", topPos, "domain")
	if l.Domain != "" && !domainRe.MatchString(l.Domain) {
		errs.At(l.DomainPos, "invalid domain %q: want a lower-case DNS name such as home.example", l.Domain)
	}
	files := &repoFiles{dir: l.Dir}
	checkNetwork(l, topPos, errs)
	checkHosts(l, topPos, opts, files, errs)
	checkBackup(l, errs)
	checkUpdates(l.Updates, errs)
	checkApps(l, files, errs)
	checkOS(l, errs)
	checkDocker(l, errs)
	if l.Bootstrap != nil {
		checkBootstrap(l.Bootstrap, errs)
	}
	checkHostSettings(l, opts, errs)
}

func checkNetwork(l *Lab, topPos Pos, errs *Errors) {
	n := &l.Network
	if l.NetworkPos == (Pos{}) {
		errs.At(topPos, "missing required key %q", "network")
		return
	}
	if !n.CIDR.IsValid() {
		if n.CIDRPos == (Pos{}) {
			errs.At(l.NetworkPos, "missing required key %q", "network.cidr")
		}
		return
	}
	if !n.CIDR.Addr().Is4() {
		errs.At(n.CIDRPos, "network.cidr must be an IPv4 network, got %s", n.CIDR)
	} else if n.CIDR.Bits() > 30 {
		errs.At(n.CIDRPos, "network.cidr %s is too small for a lab (at most /30)", n.CIDR)
	}
	switch {
	case !n.Gateway.IsValid():
		if n.GatewayPos == (Pos{}) {
			errs.At(l.NetworkPos, "missing required key %q", "network.gateway")
		}
	case !n.CIDR.Contains(n.Gateway.Addr):
		errs.At(n.GatewayPos, "gateway %s is outside network.cidr %s", n.Gateway, n.CIDR)
	}
	if n.VPNCIDR.IsValid() && n.VPNCIDR.Overlaps(n.CIDR.Prefix) {
		errs.At(n.VPNCIDRPos, "vpn_cidr %s overlaps network.cidr %s", n.VPNCIDR, n.CIDR)
	}
	if lan := n.LANCIDR; lan.IsValid() {
		switch {
		case !lan.Addr().Is4():
			errs.At(n.LANCIDRPos, "network.lan_cidr must be an IPv4 network, got %s", lan)
		case lan.Overlaps(n.CIDR.Prefix):
			errs.At(n.LANCIDRPos, "lan_cidr %s overlaps network.cidr %s", lan, n.CIDR)
		case n.VPNCIDR.IsValid() && lan.Overlaps(n.VPNCIDR.Prefix):
			errs.At(n.LANCIDRPos, "lan_cidr %s overlaps vpn_cidr %s", lan, n.VPNCIDR)
		}
	}
}

func checkHosts(l *Lab, topPos Pos, opts Options, files *repoFiles, errs *Errors) {
	if l.HostsPos == (Pos{}) {
		errs.At(topPos, "missing required key %q", "hosts")
		return
	}
	if len(l.Hosts) == 0 {
		errs.At(l.HostsPos, "the lab has no hosts")
		return
	}
	ips := map[string]string{}
	vmids := map[int]string{}
	for _, h := range l.Hosts {
		if !labelRe.MatchString(h.Name) {
			errs.At(h.Pos, "invalid host name %q: want a lower-case DNS label (a-z, 0-9, -)", h.Name)
		}
		if h.RolePos == (Pos{}) {
			errs.At(h.Pos, "host %s: missing required key %q", h.Name, "role")
		} else if len(opts.Roles) > 0 && !slices.Contains(opts.Roles, h.Role) {
			errs.At(h.RolePos, "unknown role %q (known roles: %s)", h.Role, strings.Join(opts.Roles, ", "))
		}
		checkHostIP(l, h, ips, errs)
		if h.WavePos != (Pos{}) && (h.Wave < 0 || h.Wave > 99) {
			errs.At(h.WavePos, "wave must be between 0 and 99, got %d", h.Wave)
		}
		if vm := h.VM; vm != nil {
			if vm.VMIDPos != (Pos{}) {
				if vm.VMID < 100 || vm.VMID > 999999999 {
					errs.At(vm.VMIDPos, "vmid %d out of range (Proxmox accepts 100 to 999999999)", vm.VMID)
				} else if other, dup := vmids[vm.VMID]; dup {
					errs.At(vm.VMIDPos, "vmid %d is already used by host %s", vm.VMID, other)
				} else {
					vmids[vm.VMID] = h.Name
				}
			}
			if vm.CoresPos != (Pos{}) && (vm.Cores < 1 || vm.Cores > 128) {
				errs.At(vm.CoresPos, "cores must be between 1 and 128, got %d", vm.Cores)
			}
			if vm.MemoryPos != (Pos{}) && vm.Memory < 16 {
				errs.At(vm.MemoryPos, "memory is in MiB and must be at least 16, got %d", vm.Memory)
			}
			if vm.HostPCI != "" && !hostPCIRe.MatchString(vm.HostPCI) {
				errs.At(vm.HostPCIPos, "invalid hostpci %q: want a PCI ID such as 0000:00:02.0 (or 00:02.0, several joined by ;) or mapping=NAME, then options such as ,pcie=1", vm.HostPCI)
			}
			for _, s := range []struct {
				v   string
				p   Pos
				key string
			}{{vm.Disk, vm.DiskPos, "disk"}, {vm.DataDisk, vm.DataDiskPos, "data_disk"}} {
				if s.p != (Pos{}) && !sizeRe.MatchString(s.v) {
					errs.At(s.p, "invalid %s size %q: want a number with an optional K, M, G or T suffix, such as 8G", s.key, s.v)
				}
			}
			if vm.Node != "" && !labelRe.MatchString(vm.Node) {
				errs.At(vm.NodePos, "invalid node name %q", vm.Node)
			}
		}
		if h.Backup != nil && h.Backup.Schedule != "" {
			checkCron(h.Backup.Schedule, h.Backup.SchedulePos, errs)
		}
		for _, a := range h.Allow {
			checkAllow(l, h, a, errs)
		}
		if h.Expose != nil {
			checkExpose(h.Expose, errs)
		}
		checkUpdates(h.Updates, errs)
		if h.ComposePos != (Pos{}) {
			h.ComposeData = files.read(h.Compose, h.ComposePos, "compose file", errs)
		}
	}
}

func checkHostIP(l *Lab, h *Host, ips map[string]string, errs *Errors) {
	if !h.IP.IsValid() {
		if h.IPPos == (Pos{}) {
			errs.At(h.Pos, "host %s: missing required key %q", h.Name, "ip")
		}
		return
	}
	n := l.Network
	ip := h.IP.Addr
	switch {
	case n.CIDR.IsValid() && !n.CIDR.Contains(ip):
		errs.At(h.IPPos, "ip %s of host %s is outside network.cidr %s", ip, h.Name, n.CIDR)
	case n.Gateway.IsValid() && ip == n.Gateway.Addr:
		errs.At(h.IPPos, "ip %s of host %s is the gateway's address", ip, h.Name)
	case n.CIDR.IsValid() && ip == n.CIDR.Addr():
		errs.At(h.IPPos, "ip %s of host %s is the network address of %s", ip, h.Name, n.CIDR)
	case n.CIDR.IsValid() && ip == lastAddr(n.CIDR.Prefix):
		errs.At(h.IPPos, "ip %s of host %s is the broadcast address of %s", ip, h.Name, n.CIDR)
	default:
		if other, dup := ips[ip.String()]; dup {
			errs.At(h.IPPos, "ip %s of host %s is already used by host %s", ip, h.Name, other)
		} else {
			ips[ip.String()] = h.Name
		}
	}
}

func checkAllow(l *Lab, h *Host, a *Allow, errs *Errors) {
	switch {
	case a.FromPos == (Pos{}):
		errs.At(a.Pos, "allow: missing required key %q", "from")
	case a.From == h.Name:
		errs.At(a.FromPos, "allow: host %s cannot allow itself", h.Name)
	case l.Hosts.Get(a.From) == nil:
		errs.At(a.FromPos, "allow: unknown host %q", a.From)
	}
	if a.PortPos == (Pos{}) {
		errs.At(a.Pos, "allow: missing required key %q", "port")
	} else if a.Port < 1 || a.Port > 65535 {
		errs.At(a.PortPos, "port %d out of range 1-65535", a.Port)
	}
	if a.Proto != "" && a.Proto != "tcp" && a.Proto != "udp" {
		errs.At(a.ProtoPos, "proto must be tcp or udp, got %q", a.Proto)
	}
}

func checkExpose(e *Expose, errs *Errors) {
	if e.SubdomainPos != (Pos{}) && !labelRe.MatchString(e.Subdomain) {
		errs.At(e.SubdomainPos, "invalid subdomain %q: want a lower-case DNS label", e.Subdomain)
	}
	if e.PortPos != (Pos{}) && (e.Port < 1 || e.Port > 65535) {
		errs.At(e.PortPos, "port %d out of range 1-65535", e.Port)
	}
}

func checkBackup(l *Lab, errs *Errors) {
	b := &l.Backup
	if b.Schedule != "" {
		checkCron(b.Schedule, b.SchedulePos, errs)
	}
	k := b.Keep
	for _, v := range []int{k.Last, k.Hourly, k.Daily, k.Weekly, k.Monthly, k.Yearly} {
		if v < 0 {
			errs.At(b.KeepPos, "keep counts cannot be negative")
			break
		}
	}
	for _, c := range []struct {
		v string
		p Pos
	}{{b.PruneSchedule, b.PruneSchedulePos}, {b.CheckSchedule, b.CheckSchedulePos}} {
		if c.v != "" {
			checkCron(c.v, c.p, errs)
		}
	}
	if b.CheckSubset != "" && !subsetRe.MatchString(b.CheckSubset) {
		errs.At(b.CheckSubsetPos, "invalid check_subset %q: want a percentage (5%%), a fraction (1/10) or a size (500M)", b.CheckSubset)
	}
	if b.RandomDelay != "" {
		if d, err := time.ParseDuration(b.RandomDelay); err != nil || d < 0 || d > 24*time.Hour {
			errs.At(b.RandomDelayPos, "invalid random_delay %q: want a duration between 0s and 24h, such as 30m", b.RandomDelay)
		}
	}
	if b.NotifyURL != "" && !strings.HasPrefix(b.NotifyURL, "https://") && !strings.HasPrefix(b.NotifyURL, "http://") {
		errs.At(b.NotifyURLPos, "notify_url must be an http or https URL")
	}
}

// checkUpdates validates an updates: block (lab-wide, a host's or an app's).
func checkUpdates(u *Updates, errs *Errors) {
	if u == nil {
		return
	}
	policy := func(v string, p Pos) {
		if !slices.Contains(UpdatePolicies, v) {
			errs.At(p, "unknown update policy %q (want one of %s)", v, strings.Join(UpdatePolicies, ", "))
		}
	}
	if u.PolicyPos != (Pos{}) {
		policy(u.Policy, u.PolicyPos)
	}
	for _, svc := range slices.Sorted(maps.Keys(u.Services)) {
		policy(u.Services[svc], u.ServicesPos)
	}
	if u.WindowPos != (Pos{}) {
		checkCron(u.Window, u.WindowPos, errs)
	}
	if u.WindowLengthPos != (Pos{}) {
		if d, err := time.ParseDuration(u.WindowLength); err != nil || d < time.Minute || d > 7*24*time.Hour {
			errs.At(u.WindowLengthPos, "invalid window_length %q: want a duration from 1m to 168h, such as 2h", u.WindowLength)
		} else if u.Window == "" {
			errs.At(u.WindowLengthPos, "window_length needs a window (a cron expression such as \"0 4 * * 0\")")
		}
	}
}

// checkCron validates a five-field cron expression (or @daily-style descriptor).
func checkCron(expr string, p Pos, errs *Errors) {
	if _, err := cron.ParseStandard(expr); err != nil {
		errs.At(p, "invalid cron expression %q: %v", expr, err)
	}
}

func checkApps(l *Lab, files *repoFiles, errs *Errors) {
	seen := map[string]bool{}
	for _, a := range l.Apps {
		if a.HostPos == (Pos{}) {
			errs.At(a.Pos, "app: missing required key %q", "host")
		} else if l.Hosts.Get(a.Host) == nil {
			errs.At(a.HostPos, "app %s: unknown host %q", a.Name, a.Host)
		}
		if a.NamePos == (Pos{}) {
			errs.At(a.Pos, "app: missing required key %q", "name")
		} else if !labelRe.MatchString(a.Name) {
			errs.At(a.NamePos, "invalid app name %q: want a lower-case DNS label", a.Name)
		} else if seen[a.Host+"/"+a.Name] {
			errs.At(a.NamePos, "app %q is already defined on host %s", a.Name, a.Host)
		}
		seen[a.Host+"/"+a.Name] = true
		if a.ComposePos == (Pos{}) {
			errs.At(a.Pos, "app %s: missing required key %q", a.Name, "compose")
		} else {
			a.ComposeData = files.read(a.Compose, a.ComposePos, "compose file", errs)
		}
		if a.Expose != nil {
			checkExpose(a.Expose, errs)
		}
		checkUpdates(a.Updates, errs)
	}
}

// repoFiles reads the files homelab.yaml names, each once, within
// MaxRepoFileSize each and MaxRepoRead in all.
type repoFiles struct {
	dir   string
	cache map[string][]byte
	total int64
}

// read reads a regular file inside the lab repo named by rel.
func (f *repoFiles) read(rel string, p Pos, what string, errs *Errors) []byte {
	clean := filepath.Clean(rel)
	if filepath.IsAbs(rel) || clean == ".." || strings.HasPrefix(clean, "../") {
		errs.At(p, "%s %q must be a path inside the lab repo", what, rel)
		return nil
	}
	if data, ok := f.cache[clean]; ok {
		return data
	}
	size, err := repofs.Size(f.dir, clean)
	if err == nil && f.total+min(size, MaxRepoFileSize+1) > MaxRepoRead {
		errs.At(p, "%s %q: the files homelab.yaml names add up to more than the limit of %s", what, rel, bounded.Size(MaxRepoRead))
		return nil
	}
	var data []byte
	if err == nil {
		data, err = repofs.ReadFileLimit(f.dir, clean, what+" "+strconv.Quote(rel), MaxRepoFileSize)
	}
	var tl *bounded.TooLargeError
	switch {
	case errors.Is(err, fs.ErrNotExist):
		errs.At(p, "%s %q does not exist in the lab repo", what, rel)
	case errors.Is(err, repofs.ErrOutside):
		errs.At(p, "%s %q leads out of the lab repo (a symbolic link or \"..\" pointing outside); refusing to read it", what, rel)
	case errors.Is(err, repofs.ErrNotRegular):
		errs.At(p, "%s %q is not a regular file", what, rel)
	case errors.As(err, &tl):
		errs.At(p, "%v", err)
	case err != nil:
		errs.At(p, "reading %s %q: %v", what, rel, err)
	}
	if err != nil {
		return nil
	}
	f.total += int64(len(data))
	if f.cache == nil {
		f.cache = map[string][]byte{}
	}
	f.cache[clean] = data
	return data
}

// scanSecrets finds every ${secret:NAME} in the document's scalars and
// reports malformed ones at their exact column.
func scanSecrets(n *yaml.Node, errs *Errors) []SecretRef {
	var refs []SecretRef
	var walk func(n *yaml.Node)
	walk = func(n *yaml.Node) {
		if n.Kind == yaml.ScalarNode {
			col := n.Column
			if n.Style&(yaml.DoubleQuotedStyle|yaml.SingleQuotedStyle) != 0 {
				col++
			}
			for _, r := range secrets.Find(n.Value) {
				p := Pos{Line: n.Line, Col: col + r.Offset}
				if strings.Contains(n.Value[:r.Offset], "\n") {
					p.Col = n.Column
				}
				if r.Problem != "" {
					errs.At(p, "%s", r.Problem)
					continue
				}
				refs = append(refs, SecretRef{Name: r.Name, Pos: p})
			}
		}
		for _, c := range n.Content {
			walk(c)
		}
	}
	walk(n)
	return refs
}

var (
	storageIDRe = lazyre.New(`^[a-z][a-z0-9\-_.]*[a-z0-9]$`)
	bridgeRe    = lazyre.New(`^[a-zA-Z][a-zA-Z0-9_.]{1,14}$`)
	userRe      = lazyre.New(`^[a-z_][a-z0-9_-]{0,31}$`)
	checksumRe  = lazyre.New(`^(sha256:[0-9a-f]{64}|sha512:[0-9a-f]{128})$`)
	sshKeyRe    = lazyre.New(`^(ssh-[a-z0-9-]+|ecdsa-sha2-[a-z0-9-]+|sk-[a-z0-9@.-]+) [A-Za-z0-9+/=]+( .*)?$`)
)

func checkBootstrap(b *Bootstrap, errs *Errors) {
	if b.Node != "" && !labelRe.MatchString(b.Node) {
		errs.At(b.NodePos, "invalid node name %q", b.Node)
	}
	for _, s := range []struct {
		v   string
		p   Pos
		key string
	}{{b.Storage, b.StoragePos, "storage"}, {b.ImageStorage, b.ImageStoragePos, "image_storage"}} {
		if s.v != "" && !storageIDRe.MatchString(s.v) {
			errs.At(s.p, "invalid %s %q: want a Proxmox storage ID such as local-lvm", s.key, s.v)
		}
	}
	for _, s := range []struct {
		v   string
		p   Pos
		key string
	}{{b.Bridge, b.BridgePos, "bridge"}, {b.Uplink, b.UplinkPos, "uplink"}} {
		if s.v != "" && !bridgeRe.MatchString(s.v) {
			errs.At(s.p, "invalid %s %q: want an interface name such as vmbr1", s.key, s.v)
		}
	}
	if b.Bridge != "" && b.Bridge == b.Uplink {
		errs.At(b.BridgePos, "bridge and uplink are both %q", b.Bridge)
	}
	if b.User != "" && !userRe.MatchString(b.User) {
		errs.At(b.UserPos, "invalid user %q: want a lower-case login name", b.User)
	}
	for i, k := range b.SSHKeys {
		if !sshKeyRe.MatchString(strings.TrimSpace(k)) {
			errs.At(b.SSHKeysPos, "ssh_keys[%d] is not an OpenSSH public key (type base64 [comment])", i)
		}
	}
	for _, d := range []struct {
		d   *Download
		key string
	}{{b.Image, "image"}, {b.Agent, "agent"}} {
		if d.d == nil {
			continue
		}
		if d.d.URLPos == (Pos{}) {
			errs.At(d.d.Pos, "bootstrap.%s: missing required key %q", d.key, "url")
		} else if !strings.HasPrefix(d.d.URL, "https://") && !strings.HasPrefix(d.d.URL, "http://") {
			errs.At(d.d.URLPos, "bootstrap.%s.url must be an http or https URL", d.key)
		}
		if d.d.Checksum != "" && !checksumRe.MatchString(d.d.Checksum) {
			errs.At(d.d.ChecksumPos, "invalid checksum %q: want sha256:HEX or sha512:HEX (lower-case)", d.d.Checksum)
		}
	}
	if b.Agent != nil && b.Agent.Checksum != "" && !strings.HasPrefix(b.Agent.Checksum, "sha256:") {
		errs.At(b.Agent.ChecksumPos, "bootstrap.agent.checksum must be sha256:HEX")
	}
	for i, k := range b.TrustedKeys {
		k = strings.TrimSpace(k)
		if !sshKeyRe.MatchString(k) && !(strings.HasPrefix(k, "-----BEGIN PGP PUBLIC KEY BLOCK-----") && strings.HasSuffix(k, "-----END PGP PUBLIC KEY BLOCK-----")) {
			errs.At(b.TrustedKeysPos, "trusted_keys[%d] is neither an OpenSSH public key line nor an armored OpenPGP public key block (a file name would name a file on the guest, which has none)", i)
		}
	}
	for i, line := range strings.Split(b.KnownHosts, "\n") {
		line = strings.TrimSpace(line)
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		if _, _, _, _, _, err := ssh.ParseKnownHosts([]byte(line)); err != nil {
			errs.At(b.KnownHostsPos, "known_hosts line %d is not a known_hosts line (hosts keytype key): %v", i+1, err)
		}
	}
	if b.Interval != "" {
		if d, err := time.ParseDuration(b.Interval); err != nil || d < time.Second || d > 24*time.Hour {
			errs.At(b.IntervalPos, "invalid interval %q: want a duration from 1s to 24h, such as 15s", b.Interval)
		}
	}
	if b.Listen != "" {
		host, port, err := net.SplitHostPort(b.Listen)
		n, perr := strconv.Atoi(port)
		if err != nil || perr != nil || n < 1 || n > 65535 || (host != "" && net.ParseIP(host) == nil) {
			errs.At(b.ListenPos, "invalid listen address %q: want IP:PORT, such as 0.0.0.0:9123", b.Listen)
		}
	}
	if b.Repo != "" && strings.ContainsAny(b.Repo, " \t\n") {
		errs.At(b.RepoPos, "invalid repo URL %q", b.Repo)
	}
}

// ValidEmail reports whether s looks like an e-mail address (one @, a dot
// in the domain, no spaces): the check roles use for their address keys.
func ValidEmail(s string) bool { return emailRe.MatchString(s) }
