package docker

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/compose-spec/compose-go/v2/types"
)

// Spec is one service's desired container, normalised so that equal
// intent gives equal JSON. Strings may hold «secret:NAME» placeholders.
type Spec struct {
	Project     string              `json:"-"`
	Service     string              `json:"-"`
	Name        string              `json:"name"`
	Image       string              `json:"image"`
	PullPolicy  string              `json:"-"`
	DependsOn   map[string]string   `json:"-"` // service -> condition
	Command     []string            `json:"command,omitempty"`
	Entrypoint  []string            `json:"entrypoint,omitempty"`
	Env         map[string]string   `json:"env,omitempty"`
	User        string              `json:"user,omitempty"`
	WorkingDir  string              `json:"working_dir,omitempty"`
	Hostname    string              `json:"hostname,omitempty"`
	Domainname  string              `json:"domainname,omitempty"`
	Ports       []string            `json:"ports,omitempty"`
	Expose      []string            `json:"expose,omitempty"`
	Binds       []string            `json:"volumes,omitempty"`
	Tmpfs       map[string]string   `json:"tmpfs,omitempty"`
	Devices     []string            `json:"devices,omitempty"`
	GroupAdd    []string            `json:"group_add,omitempty"`
	ShmSize     int64               `json:"shm_size,omitempty"`
	MemLimit    int64               `json:"mem_limit,omitempty"`
	Restart     string              `json:"restart,omitempty"`
	NetworkMode string              `json:"network_mode,omitempty"`
	Networks    map[string][]string `json:"networks,omitempty"` // Docker network name -> aliases
	Health      *Health             `json:"healthcheck,omitempty"`
	Labels      map[string]string   `json:"labels,omitempty"`
	CapAdd      []string            `json:"cap_add,omitempty"`
	CapDrop     []string            `json:"cap_drop,omitempty"`
	ExtraHosts  []string            `json:"extra_hosts,omitempty"`
	DNS         []string            `json:"dns,omitempty"`
	DNSSearch   []string            `json:"dns_search,omitempty"`
	Init        *bool               `json:"init,omitempty"`
	StopSignal  string              `json:"stop_signal,omitempty"`
	StopGrace   string              `json:"stop_grace_period,omitempty"`
	ReadOnly    bool                `json:"read_only,omitempty"`
	Tty         bool                `json:"tty,omitempty"`
	StdinOpen   bool                `json:"stdin_open,omitempty"`
	Privileged  bool                `json:"privileged,omitempty"`
	SecurityOpt []string            `json:"security_opt,omitempty"`
	Sysctls     map[string]string   `json:"sysctls,omitempty"`
	Ulimits     map[string][2]int   `json:"ulimits,omitempty"`
	LogDriver   string              `json:"log_driver,omitempty"`
	LogOpts     map[string]string   `json:"log_opts,omitempty"`
	// Volumes lists the named volumes (Docker names) the container mounts.
	Volumes []string `json:"-"`
}

// Health is a container healthcheck; Test ["NONE"] disables the image's.
type Health struct {
	Test        []string `json:"test,omitempty"`
	Interval    string   `json:"interval,omitempty"`
	Timeout     string   `json:"timeout,omitempty"`
	StartPeriod string   `json:"start_period,omitempty"`
	Retries     int      `json:"retries,omitempty"`
}

// passthrough are host paths bind-mounted as they are even under --root:
// they belong to the host, not to the lab.
var passthrough = []string{"/etc/localtime", "/etc/timezone", "/dev", "/proc", "/sys", "/run", "/var/run", "/lib/modules"}

func hostPath(root func(string) string, p string) string {
	for _, pre := range passthrough {
		if p == pre || strings.HasPrefix(p, pre+"/") {
			return p
		}
	}
	return root(p)
}

func convertProject(src *Source, p *types.Project, env types.Mapping, root func(string) string) (*project, error) {
	out := &project{Name: src.Name, Networks: map[string]netSpec{}, Volumes: map[string]volSpec{}}
	names, err := order(p)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", fileNames(src), err)
	}
	for name, n := range p.Networks {
		dn := n.Name
		if dn == "" || dn == p.Name+"_"+name {
			dn = src.Name + "_" + name
		}
		out.Networks[name] = netSpec{Name: dn, Driver: n.Driver, DriverOpts: n.DriverOpts, Internal: n.Internal,
			Attachable: n.Attachable, External: bool(n.External), Labels: n.Labels}
	}
	for name, v := range p.Volumes {
		dn := v.Name
		if dn == "" || dn == p.Name+"_"+name {
			dn = src.Name + "_" + name
		}
		out.Volumes[name] = volSpec{Name: dn, Driver: v.Driver, DriverOpts: v.DriverOpts, External: bool(v.External), Labels: v.Labels}
	}
	secretSet := map[string]bool{}
	for _, name := range names {
		s := p.Services[name]
		spec, err := convertService(src, p, out, s, env, root)
		if err != nil {
			return nil, err
		}
		b, _ := json.Marshal(spec)
		placeholderNames(string(b), secretSet)
		out.Services = append(out.Services, spec)
	}
	for n := range secretSet {
		out.Secrets = append(out.Secrets, n)
	}
	sort.Strings(out.Secrets)
	return out, nil
}

func convertService(src *Source, p *types.Project, proj *project, s types.ServiceConfig, env types.Mapping, root func(string) string) (*Spec, error) {
	where := func(key string) string { return fmt.Sprintf("%s: services.%s.%s", fileNames(src), s.Name, key) }
	if s.Image == "" {
		return nil, fmt.Errorf("%s: missing (the agent does not build images)", where("image"))
	}
	sp := &Spec{Project: src.Name, Service: s.Name, Image: s.Image, Name: s.ContainerName,
		Command: s.Command, Entrypoint: s.Entrypoint, User: s.User, WorkingDir: s.WorkingDir,
		Hostname: s.Hostname, Domainname: s.DomainName, GroupAdd: s.GroupAdd, ShmSize: int64(s.ShmSize),
		MemLimit: int64(s.MemLimit), Restart: s.Restart, NetworkMode: s.NetworkMode, Labels: s.Labels,
		CapAdd: s.CapAdd, CapDrop: s.CapDrop, DNS: s.DNS, DNSSearch: s.DNSSearch, Init: s.Init,
		StopSignal: s.StopSignal, ReadOnly: s.ReadOnly, Tty: s.Tty, StdinOpen: s.StdinOpen,
		Privileged: s.Privileged, SecurityOpt: s.SecurityOpt, Sysctls: s.Sysctls, Expose: s.Expose,
		DependsOn: map[string]string{}}
	if sp.Name == "" {
		sp.Name = src.Name + "-" + s.Name + "-1"
	}
	switch s.PullPolicy {
	case "", types.PullPolicyMissing, types.PullPolicyIfNotPresent:
		sp.PullPolicy = types.PullPolicyMissing
	case types.PullPolicyAlways, types.PullPolicyNever:
		sp.PullPolicy = s.PullPolicy
	default:
		return nil, fmt.Errorf("%s: %q is not supported (use always, missing or never)", where("pull_policy"), s.PullPolicy)
	}
	switch s.Restart {
	case "", "no", "always", "unless-stopped", "on-failure":
	default:
		if !strings.HasPrefix(s.Restart, "on-failure:") {
			return nil, fmt.Errorf("%s: invalid restart policy %q", where("restart"), s.Restart)
		}
	}
	for d, dep := range s.DependsOn {
		if _, ok := p.Services[d]; !ok {
			continue
		}
		cond := dep.Condition
		if cond == "" {
			cond = types.ServiceConditionStarted
		}
		sp.DependsOn[d] = cond
	}
	if s.StopGracePeriod != nil {
		sp.StopGrace = time.Duration(*s.StopGracePeriod).String()
	}
	var err error
	if sp.Env, err = serviceEnv(src, s, env, root); err != nil {
		return nil, err
	}
	for _, port := range s.Ports {
		proto := port.Protocol
		if proto == "" {
			proto = "tcp"
		}
		if port.Mode != "" && port.Mode != "ingress" && port.Mode != "host" {
			return nil, fmt.Errorf("%s: mode %q is not supported", where("ports"), port.Mode)
		}
		sp.Ports = append(sp.Ports, fmt.Sprintf("%s:%s:%d/%s", port.HostIP, port.Published, port.Target, proto))
	}
	slices.Sort(sp.Ports)
	for _, v := range s.Volumes {
		mode := ""
		if v.ReadOnly {
			mode = ":ro"
		}
		switch v.Type {
		case types.VolumeTypeBind:
			srcPath := v.Source
			if !filepath.IsAbs(srcPath) {
				clean := filepath.Clean(srcPath)
				if clean == ".." || strings.HasPrefix(clean, "../") || src.DataDir == "" {
					return nil, fmt.Errorf("%s: relative bind source %q must stay inside the data dir", where("volumes"), v.Source)
				}
				srcPath = filepath.Join(src.DataDir, clean)
			}
			sp.Binds = append(sp.Binds, hostPath(root, filepath.Clean(srcPath))+":"+v.Target+mode)
		case types.VolumeTypeVolume:
			if v.Source == "" { // anonymous volume
				sp.Binds = append(sp.Binds, v.Target+mode)
				continue
			}
			vol, ok := proj.Volumes[v.Source]
			if !ok {
				return nil, fmt.Errorf("%s: named volume %q is not declared under top-level volumes", where("volumes"), v.Source)
			}
			sp.Binds = append(sp.Binds, vol.Name+":"+v.Target+mode)
			sp.Volumes = append(sp.Volumes, v.Source)
		case types.VolumeTypeTmpfs:
			if sp.Tmpfs == nil {
				sp.Tmpfs = map[string]string{}
			}
			opt := ""
			if v.Tmpfs != nil && v.Tmpfs.Size != 0 {
				opt = fmt.Sprintf("size=%d", int64(v.Tmpfs.Size))
			}
			sp.Tmpfs[v.Target] = opt
		default:
			return nil, fmt.Errorf("%s: volume type %q is not supported", where("volumes"), v.Type)
		}
	}
	for _, t := range s.Tmpfs {
		if sp.Tmpfs == nil {
			sp.Tmpfs = map[string]string{}
		}
		path, opt, _ := strings.Cut(t, ":")
		sp.Tmpfs[path] = opt
	}
	for _, d := range s.Devices {
		perm := d.Permissions
		if perm == "" {
			perm = "rwm"
		}
		target := d.Target
		if target == "" {
			target = d.Source
		}
		sp.Devices = append(sp.Devices, d.Source+":"+target+":"+perm)
	}
	for host, ips := range s.ExtraHosts {
		for _, ip := range ips {
			sp.ExtraHosts = append(sp.ExtraHosts, host+":"+ip)
		}
	}
	slices.Sort(sp.ExtraHosts)
	if s.NetworkMode == "" {
		sp.Networks = map[string][]string{}
		for name, cfg := range s.Networks {
			n, ok := proj.Networks[name]
			if !ok {
				return nil, fmt.Errorf("%s: network %q is not declared under top-level networks", where("networks"), name)
			}
			aliases := []string{s.Name}
			if cfg != nil {
				aliases = append(aliases, cfg.Aliases...)
			}
			sp.Networks[n.Name] = aliases
		}
	}
	if h := s.HealthCheck; h != nil {
		switch {
		case h.Disable:
			sp.Health = &Health{Test: []string{"NONE"}}
		default:
			hc := &Health{Test: h.Test}
			if h.Interval != nil {
				hc.Interval = time.Duration(*h.Interval).String()
			}
			if h.Timeout != nil {
				hc.Timeout = time.Duration(*h.Timeout).String()
			}
			if h.StartPeriod != nil {
				hc.StartPeriod = time.Duration(*h.StartPeriod).String()
			}
			if h.Retries != nil {
				hc.Retries = int(*h.Retries)
			}
			if len(hc.Test) > 0 || hc.Interval != "" || hc.Timeout != "" || hc.StartPeriod != "" || hc.Retries != 0 {
				sp.Health = hc
			}
		}
	}
	for name, u := range s.Ulimits {
		if sp.Ulimits == nil {
			sp.Ulimits = map[string][2]int{}
		}
		if u.Single != 0 {
			sp.Ulimits[name] = [2]int{u.Single, u.Single}
		} else {
			sp.Ulimits[name] = [2]int{u.Soft, u.Hard}
		}
	}
	if s.Logging != nil {
		sp.LogDriver, sp.LogOpts = s.Logging.Driver, s.Logging.Options
	}
	return sp, nil
}

// fields returns a short hash per spec field (per variable for env), of
// the spec with secrets put in, salted with the container name. The label
// made of them tells plan which field changed without holding any value.
func (s *Spec) fields(resolve func(string) string) map[string]string {
	b, _ := json.Marshal(s)
	var m map[string]json.RawMessage
	_ = json.Unmarshal(b, &m)
	out := map[string]string{}
	h := func(v string) string {
		sum := sha256.Sum256([]byte(s.Name + "\x00" + resolve(v)))
		return hex.EncodeToString(sum[:6])
	}
	for k, raw := range m {
		if k == "env" {
			for ek, ev := range s.Env {
				out["env."+ek] = h(ev)
			}
			continue
		}
		out[k] = h(string(raw))
	}
	return out
}

// encodeFields renders fields as the label value: "k=h,k=h" sorted.
func encodeFields(f map[string]string) string {
	keys := make([]string, 0, len(f))
	for k := range f {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	var b strings.Builder
	for i, k := range keys {
		if i > 0 {
			b.WriteByte(',')
		}
		b.WriteString(k + "=" + f[k])
	}
	return b.String()
}

func decodeFields(s string) map[string]string {
	out := map[string]string{}
	for _, kv := range strings.Split(s, ",") {
		if k, v, ok := strings.Cut(kv, "="); ok {
			out[k] = v
		}
	}
	return out
}

// hashFields is the spec hash: a hash of every field's hash.
func hashFields(f map[string]string) string {
	sum := sha256.Sum256([]byte(encodeFields(f)))
	return hex.EncodeToString(sum[:16])
}

// reasons says which fields differ between a container's label and the
// desired fields, for a person: "image changed", "env FOO changed".
func reasons(oldLabel string, want map[string]string) []string {
	if oldLabel == "" {
		return []string{"spec changed"}
	}
	old := decodeFields(oldLabel)
	keys := map[string]bool{}
	for k := range old {
		keys[k] = true
	}
	for k := range want {
		keys[k] = true
	}
	sorted := make([]string, 0, len(keys))
	for k := range keys {
		sorted = append(sorted, k)
	}
	sort.Strings(sorted)
	var out []string
	for _, k := range sorted {
		label := strings.ReplaceAll(k, "_", " ")
		if strings.HasPrefix(k, "env.") {
			label = "env " + k[4:]
		}
		o, had := old[k]
		n, has := want[k]
		switch {
		case had && !has:
			out = append(out, label+" removed")
		case !had && has:
			out = append(out, label+" added")
		case o != n:
			out = append(out, label+" changed")
		}
	}
	if len(out) == 0 {
		out = []string{"spec changed"}
	}
	return out
}
