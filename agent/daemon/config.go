package daemon

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"slices"
	"strconv"
	"strings"
	"time"

	"gopkg.in/yaml.v3"

	"github.com/homelab-agent/homelab-agent/agent/secrets"
)

// ConfigPath is the daemon's config file's host path.
const ConfigPath = "/etc/homelab-agent/agent.yaml"

// Defaults.
const (
	DefaultBranch   = "main"
	DefaultInterval = 15 * time.Second
	DefaultListen   = "127.0.0.1:9123"
)

// Config is agent.yaml. Every key can also be set with an environment
// variable HOMELAB_AGENT_<KEY> (nested keys joined by "_": auth.ssh_key is
// HOMELAB_AGENT_AUTH_SSH_KEY), which wins over the file.
type Config struct {
	// Repo is the lab repo: https:// URL, ssh:// or user@host:path URL, or a local path.
	Repo string `yaml:"repo"`
	// Branch is followed (default main).
	Branch string `yaml:"branch"`
	// Host is this VM's name in homelab.yaml.
	Host string `yaml:"host"`
	// Interval is the time between polls (default 15s; ±10% jitter).
	Interval Duration `yaml:"interval"`
	// Listen is the status and webhook address (default 127.0.0.1:9123).
	Listen string `yaml:"listen"`
	// Root prefixes every host path (default /).
	Root string     `yaml:"root"`
	Auth AuthConfig `yaml:"auth"`
	// TrustedKeys, when set, makes the agent apply only commits signed by
	// one of them: SSH public keys, armored OpenPGP keys, or files of either.
	TrustedKeys []string `yaml:"trusted_keys"`
	// WebhookSecret checks POST /hooks/git; without it webhooks are refused.
	WebhookSecret string `yaml:"webhook_secret"`
	// AllowForcePush accepts a branch head that does not descend from the
	// last accepted one.
	AllowForcePush bool `yaml:"allow_force_push"`
	// HealthGate, true by default, rolls a new commit back when the host's
	// probes fail after it; false only reports them (for hosts whose
	// services the probes cannot reach from the VM itself).
	HealthGate *bool `yaml:"health_gate"`
	// ImageCheckTTL is how long a registry's answer about an image is
	// reused (6h when unset).
	ImageCheckTTL Duration `yaml:"image_check_ttl"`
}

// Gated reports whether a failing probe rolls a commit back.
func (c *Config) Gated() bool { return c.HealthGate == nil || *c.HealthGate }

// AuthConfig is how the agent reaches the repo's server.
type AuthConfig struct {
	SSHKey     string `yaml:"ssh_key"`
	KnownHosts string `yaml:"known_hosts"`
	Token      string `yaml:"token"`
}

// Duration is a time.Duration written as "60s" or "5m".
type Duration time.Duration

// UnmarshalYAML implements yaml.Unmarshaler.
func (d *Duration) UnmarshalYAML(n *yaml.Node) error {
	v, err := time.ParseDuration(n.Value)
	if err != nil {
		return fmt.Errorf("line %d: interval: %w", n.Line, err)
	}
	*d = Duration(v)
	return nil
}

// MarshalYAML implements yaml.Marshaler.
func (d Duration) MarshalYAML() (any, error) { return time.Duration(d).String(), nil }

// EnvPrefix starts every environment override.
const EnvPrefix = "HOMELAB_AGENT_"

// envKeys maps each config key to its setter; the doc lists the same keys.
func (c *Config) envKeys() map[string]func(string) error {
	str := func(p *string) func(string) error { return func(v string) error { *p = v; return nil } }
	return map[string]func(string) error{
		"REPO":   str(&c.Repo),
		"BRANCH": str(&c.Branch),
		"HOST":   str(&c.Host),
		"INTERVAL": func(v string) error {
			d, err := time.ParseDuration(v)
			c.Interval = Duration(d)
			return err
		},
		"LISTEN":           str(&c.Listen),
		"ROOT":             str(&c.Root),
		"AUTH_SSH_KEY":     str(&c.Auth.SSHKey),
		"AUTH_KNOWN_HOSTS": str(&c.Auth.KnownHosts),
		"AUTH_TOKEN":       str(&c.Auth.Token),
		"TRUSTED_KEYS": func(v string) error {
			c.TrustedKeys = splitKeys(v)
			return nil
		},
		"WEBHOOK_SECRET": str(&c.WebhookSecret),
		"ALLOW_FORCE_PUSH": func(v string) error {
			b, err := strconv.ParseBool(v)
			c.AllowForcePush = b
			return err
		},
		"IMAGE_CHECK_TTL": func(v string) error {
			d, err := time.ParseDuration(v)
			c.ImageCheckTTL = Duration(d)
			return err
		},
		"HEALTH_GATE": func(v string) error {
			b, err := strconv.ParseBool(v)
			c.HealthGate = &b
			return err
		},
	}
}

// EnvKeys lists the environment variables the config reads, sorted.
func EnvKeys() []string {
	var c Config
	var out []string
	for k := range c.envKeys() {
		out = append(out, EnvPrefix+k)
	}
	slices.Sort(out)
	return out
}

// splitKeys splits HOMELAB_AGENT_TRUSTED_KEYS: one armored OpenPGP block
// is one entry; otherwise entries are separated by newlines or commas.
func splitKeys(v string) []string {
	if strings.Contains(v, "-----BEGIN") {
		return []string{v}
	}
	var out []string
	for _, f := range strings.FieldsFunc(v, func(r rune) bool { return r == '\n' || r == ',' }) {
		if f = strings.TrimSpace(f); f != "" {
			out = append(out, f)
		}
	}
	return out
}

// LoadConfig reads the config file (a missing file is an empty config
// when optional), applies HOMELAB_AGENT_* overrides from env and fills
// defaults; New checks the result.
func LoadConfig(path string, optional bool, env []string) (*Config, error) {
	c := &Config{}
	data, err := os.ReadFile(path)
	switch {
	case errors.Is(err, fs.ErrNotExist) && optional:
	case err != nil:
		return nil, fmt.Errorf("reading config: %w", err)
	default:
		dec := yaml.NewDecoder(bytes.NewReader(data))
		dec.KnownFields(true)
		if err := dec.Decode(c); err != nil && !errors.Is(err, io.EOF) {
			return nil, fmt.Errorf("%s: %w", path, err)
		}
		if c.Auth.Token != "" || c.WebhookSecret != "" {
			// It holds credentials: only root may read or change it.
			if err := secrets.CheckPrivate(path); err != nil {
				return nil, fmt.Errorf("reading config: it holds auth.token or webhook_secret: %w", err)
			}
		}
	}
	keys := c.envKeys()
	for _, kv := range env {
		k, v, _ := strings.Cut(kv, "=")
		name, ok := strings.CutPrefix(k, EnvPrefix)
		if !ok {
			continue
		}
		set, ok := keys[name]
		if !ok {
			continue // other HOMELAB_AGENT_ variables (secrets ...) are not config
		}
		if err := set(v); err != nil {
			return nil, fmt.Errorf("%s: %w", k, err)
		}
	}
	c.defaults()
	return c, nil
}

func (c *Config) defaults() {
	if c.Branch == "" {
		c.Branch = DefaultBranch
	}
	if c.Interval == 0 {
		c.Interval = Duration(DefaultInterval)
	}
	if c.Listen == "" {
		c.Listen = DefaultListen
	}
	if c.Root == "" {
		c.Root = "/"
	}
}

// Check reports missing or invalid keys.
func (c *Config) Check() error {
	var errs []error
	if c.Repo == "" {
		errs = append(errs, errors.New("repo is not set (agent.yaml repo: or HOMELAB_AGENT_REPO)"))
	}
	if c.Host == "" {
		errs = append(errs, errors.New("host is not set (agent.yaml host: or HOMELAB_AGENT_HOST)"))
	}
	if c.Interval < Duration(10*time.Millisecond) {
		errs = append(errs, fmt.Errorf("interval %s is too short", time.Duration(c.Interval)))
	}
	return errors.Join(errs...)
}

// Sample is the default agent.yaml that `install` writes.
const Sample = `# homelab-agent daemon configuration (see docs/daemon.md).
# Every key can also be set as HOMELAB_AGENT_<KEY>, e.g. HOMELAB_AGENT_HOST.
repo: %s
branch: %s
host: %s
interval: 15s
listen: 127.0.0.1:9123
# auth:
#   ssh_key: /etc/homelab-agent/deploy_key
#   known_hosts: /etc/homelab-agent/known_hosts
#   token: user:token            # HTTPS
# trusted_keys:                  # apply only commits signed by these
#   - ssh-ed25519 AAAA... owner
#   - /etc/homelab-agent/owner.asc
# webhook_secret: change-me
allow_force_push: false
`
