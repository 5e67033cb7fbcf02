package docker

import (
	"encoding/json"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/docker/docker/api/types/container"
	"github.com/docker/docker/api/types/network"
	"github.com/docker/go-connections/nat"
	"github.com/docker/go-units"

	"github.com/homelab-agent/homelab-agent/agent/secrets"
)

// createConfig is what ContainerCreate takes, plus the networks to
// connect before start (engines before API 1.44 take one at create).
type createConfig struct {
	Config  *container.Config
	Host    *container.HostConfig
	Net     *network.NetworkingConfig
	Connect map[string]*network.EndpointSettings
}

// labels are the managed labels of a container.
func (s *Spec) labels(hash, fields string) map[string]string {
	l := map[string]string{}
	for k, v := range s.Labels {
		l[k] = v
	}
	l[LabelManaged] = "true"
	l[LabelProject] = s.Project
	l[LabelService] = s.Service
	l[LabelHash] = hash
	l[LabelFields] = fields
	// What docker compose reads, so that `docker compose ls/ps` shows the
	// project; the agent itself only trusts its own labels.
	l["com.docker.compose.project"] = s.Project
	l["com.docker.compose.service"] = s.Service
	l["com.docker.compose.container-number"] = "1"
	l["com.docker.compose.oneoff"] = "False"
	return l
}

func parseDur(s string) time.Duration {
	d, _ := time.ParseDuration(s)
	return d
}

// build turns the spec into the create call's arguments, with secret
// values put in. The result must never be logged.
func (s *Spec) build(store *secrets.Store, hash, fields string) (*createConfig, error) {
	cfg := &container.Config{
		Image: s.Image, User: s.User, WorkingDir: s.WorkingDir, Hostname: s.Hostname,
		Domainname: s.Domainname, Tty: s.Tty, OpenStdin: s.StdinOpen, StopSignal: s.StopSignal,
		Labels: s.labels(hash, fields), ExposedPorts: nat.PortSet{},
	}
	if s.Command != nil {
		cfg.Cmd = s.Command
	}
	if s.Entrypoint != nil {
		cfg.Entrypoint = s.Entrypoint
	}
	keys := make([]string, 0, len(s.Env))
	for k := range s.Env {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	for _, k := range keys {
		cfg.Env = append(cfg.Env, k+"="+s.Env[k])
	}
	if s.StopGrace != "" {
		sec := int(parseDur(s.StopGrace).Seconds())
		cfg.StopTimeout = &sec
	}
	if h := s.Health; h != nil {
		cfg.Healthcheck = &container.HealthConfig{Test: h.Test, Interval: parseDur(h.Interval),
			Timeout: parseDur(h.Timeout), StartPeriod: parseDur(h.StartPeriod), Retries: h.Retries}
	}
	hc := &container.HostConfig{
		Binds: s.Binds, GroupAdd: s.GroupAdd, ShmSize: s.ShmSize, CapAdd: s.CapAdd, CapDrop: s.CapDrop,
		ExtraHosts: s.ExtraHosts, DNS: s.DNS, DNSSearch: s.DNSSearch, Init: s.Init,
		ReadonlyRootfs: s.ReadOnly, Privileged: s.Privileged, SecurityOpt: s.SecurityOpt,
		Sysctls: s.Sysctls, Tmpfs: s.Tmpfs, PortBindings: nat.PortMap{},
		LogConfig: container.LogConfig{Type: s.LogDriver, Config: s.LogOpts},
	}
	hc.Memory = s.MemLimit
	if s.NetworkMode != "" {
		hc.NetworkMode = container.NetworkMode(s.NetworkMode)
	}
	policy, retries, _ := strings.Cut(s.Restart, ":")
	if policy == "" {
		policy = "no"
	}
	hc.RestartPolicy.Name = container.RestartPolicyMode(policy)
	if retries != "" {
		hc.RestartPolicy.MaximumRetryCount, _ = strconv.Atoi(retries)
	}
	for _, p := range s.Ports {
		// hostip:published:target/proto
		rest, proto, _ := strings.Cut(p, "/")
		i := strings.LastIndexByte(rest, ':')
		target := rest[i+1:]
		hostPart := rest[:i]
		j := strings.LastIndexByte(hostPart, ':')
		ip, published := hostPart[:j], hostPart[j+1:]
		port, err := nat.NewPort(proto, target)
		if err != nil {
			return nil, fmt.Errorf("service %s: port %s: %w", s.Service, p, err)
		}
		cfg.ExposedPorts[port] = struct{}{}
		hc.PortBindings[port] = append(hc.PortBindings[port], nat.PortBinding{HostIP: ip, HostPort: published})
	}
	for _, e := range s.Expose {
		proto := "tcp"
		if a, b, ok := strings.Cut(e, "/"); ok {
			e, proto = a, b
		}
		port, err := nat.NewPort(proto, e)
		if err != nil {
			return nil, fmt.Errorf("service %s: expose %s: %w", s.Service, e, err)
		}
		cfg.ExposedPorts[port] = struct{}{}
	}
	for _, d := range s.Devices {
		parts := strings.SplitN(d, ":", 3)
		hc.Devices = append(hc.Devices, container.DeviceMapping{PathOnHost: parts[0], PathInContainer: parts[1], CgroupPermissions: parts[2]})
	}
	for name, lim := range s.Ulimits {
		hc.Ulimits = append(hc.Ulimits, &units.Ulimit{Name: name, Soft: int64(lim[0]), Hard: int64(lim[1])})
	}
	cc := &createConfig{Config: cfg, Host: hc, Net: &network.NetworkingConfig{EndpointsConfig: map[string]*network.EndpointSettings{}}}
	nets := make([]string, 0, len(s.Networks))
	for n := range s.Networks {
		nets = append(nets, n)
	}
	slices.Sort(nets)
	for i, n := range nets {
		ep := &network.EndpointSettings{Aliases: s.Networks[n]}
		if i == 0 {
			hc.NetworkMode = container.NetworkMode(n)
			cc.Net.EndpointsConfig[n] = ep
			continue
		}
		if cc.Connect == nil {
			cc.Connect = map[string]*network.EndpointSettings{}
		}
		cc.Connect[n] = ep
	}
	return cc, expandSecrets(cc, store)
}

// expandSecrets replaces every «secret:NAME» placeholder in the create
// arguments with the secret's value (JSON-escaped, through a round trip).
func expandSecrets(cc *createConfig, store *secrets.Store) error {
	b, err := json.Marshal(cc)
	if err != nil {
		return err
	}
	if !placeholderRe.Match(b) {
		return nil
	}
	var missing []string
	out := placeholderRe.ReplaceAllFunc(b, func(m []byte) []byte {
		name := string(placeholderRe.FindSubmatch(m)[1])
		v, ok := store.Lookup(name)
		if !ok {
			missing = append(missing, name)
			return m
		}
		q, _ := json.Marshal(v)
		return q[1 : len(q)-1]
	})
	if len(missing) > 0 {
		return &secrets.MissingError{Names: missing}
	}
	*cc = createConfig{}
	return json.Unmarshal(out, cc)
}

// resolver returns a function that puts secret values into a text, for
// hashing (missing secrets hash as their placeholder).
func resolver(store *secrets.Store) func(string) string {
	return func(s string) string {
		if !strings.Contains(s, "«secret:") {
			return s
		}
		return placeholderRe.ReplaceAllStringFunc(s, func(m string) string {
			if v, ok := store.Lookup(placeholderRe.FindStringSubmatch(m)[1]); ok {
				return v
			}
			return m
		})
	}
}
