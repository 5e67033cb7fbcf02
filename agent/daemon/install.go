package daemon

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"

	"github.com/coreos/go-systemd/v22/unit"
	"github.com/google/renameio/v2"

	"github.com/homelab-agent/homelab-agent/agent/firewall"
)

// UnitPath is the systemd unit's host path.
const UnitPath = "/etc/systemd/system/homelab-agent.service"

// EnvFile is an optional file of HOMELAB_AGENT_* overrides the unit reads.
const EnvFile = "/etc/homelab-agent/agent.env"

// DataDir is where a lab VM's data disk is mounted (bootstrap's vendor
// data mounts it by label); the unit waits for it when it is a mount.
const DataDir = "/srv/data"

// Unit renders the systemd unit that runs `bin run`: Type=notify (READY
// after the first converge), a watchdog, restart on failure, and a stop
// timeout long enough to finish the resource in progress. It is the one
// unit both `install` and bootstrap's vendor data write.
func Unit(bin string) []byte {
	o := unit.NewUnitOption
	opts := []*unit.UnitOption{
		o("Unit", "Description", "homelab-agent: converge this host from the lab repo"),
		o("Unit", "Wants", "network-online.target"),
		o("Unit", "After", "network-online.target docker.service"),
		// Where the data disk is a mount of its own, the agent waits for it
		// (a restore must not fill the OS disk's /srv/data); elsewhere this
		// only orders it after the root file system.
		o("Unit", "RequiresMountsFor", DataDir),
		o("Service", "Type", "notify"),
		o("Service", "NotifyAccess", "main"),
		o("Service", "ExecStart", bin+" run --config "+ConfigPath),
		o("Service", "EnvironmentFile", "-"+EnvFile),
		o("Service", "Restart", "always"),
		o("Service", "RestartSec", "5s"),
		// The first converge may pull container images.
		o("Service", "TimeoutStartSec", "15min"),
		o("Service", "WatchdogSec", "2min"),
		o("Service", "TimeoutStopSec", "2min"),
		o("Service", "KillMode", "mixed"),
		o("Install", "WantedBy", "multi-user.target"),
	}
	b, _ := io.ReadAll(unit.Serialize(opts))
	return append([]byte("# Written by `homelab-agent install`; local edits are overwritten. See docs/daemon.md.\n"), b...)
}

// InstallOptions are what `install` writes into the default config.
type InstallOptions struct {
	// Root prefixes every path written (tests, images).
	Root string
	// Bin is the agent binary's host path used in ExecStart.
	Bin                string
	Repo, Branch, Host string
}

// InstallResult says what Install wrote.
type InstallResult struct {
	Unit        string
	UnitChanged bool
	// FirewallUnit loads the saved firewall table early in boot
	// (firewall.BootUnit).
	FirewallUnit        string
	FirewallUnitChanged bool
	Config              string
	ConfigWritten       bool // false when a config was already there
}

// Install writes the unit files (the agent's and the firewall's boot unit,
// replacing older ones) and, when there is none, the default agent.yaml
// (mode 0600).
func Install(o InstallOptions) (*InstallResult, error) {
	if o.Root == "" {
		o.Root = "/"
	}
	if o.Branch == "" {
		o.Branch = DefaultBranch
	}
	res := &InstallResult{Unit: filepath.Join(o.Root, UnitPath), Config: filepath.Join(o.Root, ConfigPath)}
	want := Unit(o.Bin)
	old, err := os.ReadFile(res.Unit)
	if err != nil || !bytes.Equal(old, want) {
		if err := writeFile(res.Unit, want, 0o644); err != nil {
			return nil, err
		}
		res.UnitChanged = true
	}
	res.FirewallUnit = filepath.Join(o.Root, firewall.BootUnitPath)
	if res.FirewallUnitChanged, err = writeIfChanged(res.FirewallUnit, firewall.BootUnit()); err != nil {
		return nil, err
	}
	if _, err := os.Stat(res.Config); errors.Is(err, fs.ErrNotExist) {
		cfg := fmt.Sprintf(Sample, strconv.Quote(o.Repo), strconv.Quote(o.Branch), strconv.Quote(o.Host))
		if err := writeFile(res.Config, []byte(cfg), 0o600); err != nil {
			return nil, err
		}
		res.ConfigWritten = true
	} else if err != nil {
		return nil, err
	}
	return res, nil
}

func writeIfChanged(path string, want []byte) (bool, error) {
	if old, err := os.ReadFile(path); err == nil && bytes.Equal(old, want) {
		return false, nil
	}
	return true, writeFile(path, want, 0o644)
}

func writeFile(path string, data []byte, mode fs.FileMode) error {
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return fmt.Errorf("installing %s: %w", path, err)
	}
	if err := renameio.WriteFile(path, data, mode); err != nil {
		return fmt.Errorf("installing %s: %w", path, err)
	}
	return nil
}
