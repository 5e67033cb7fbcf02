package firewall

import (
	"context"
	"fmt"
	"io"

	"github.com/coreos/go-systemd/v22/unit"

	"github.com/homelab-agent/homelab-agent/agent/files"
	"github.com/homelab-agent/homelab-agent/agent/resource"
)

// PersistPath is where the agent keeps the last table it applied and
// confirmed, as an nft script: BootUnit loads it early in boot, before
// the network and Docker come up, so a host is filtered from its first
// packet even when the git remote cannot be reached after a power cut.
const PersistPath = "/var/lib/homelab-agent/firewall.nft"

// BootUnitName is the oneshot unit that loads PersistPath at boot.
const BootUnitName = "homelab-agent-firewall.service"

// BootUnitPath is BootUnitName's host path.
const BootUnitPath = "/etc/systemd/system/" + BootUnitName

// NftPath is nft's path on Debian (package nftables, priority important).
const NftPath = "/usr/sbin/nft"

// BootScript is the ruleset as an nft script that replaces table inet
// homelab in one transaction (create it if missing, delete it, define it),
// so loading it twice, or over an older table, gives the same table.
func (rs *Ruleset) BootScript() string {
	return fmt.Sprintf("#!%s -f\n# Written by homelab-agent after each confirmed firewall change; loaded at boot by %s.\n"+
		"# Local edits are overwritten. See docs/firewall.md.\nadd table inet %s\ndelete table inet %s\n%s",
		NftPath, BootUnitName, TableName, TableName, rs.Render())
}

// BootUnit renders the unit that loads PersistPath with `nft -f` before
// network-pre.target (so before any interface is configured) and before
// Docker and the agent, after nftables.service (whose stock config flushes
// the whole ruleset). It runs only when the file exists; a file nft
// refuses fails the unit, visibly, and the agent's first pass applies the
// last good commit all the same.
func BootUnit() []byte {
	o := unit.NewUnitOption
	opts := []*unit.UnitOption{
		o("Unit", "Description", "homelab-agent: load the last confirmed firewall table before the network"),
		o("Unit", "Documentation", "man:nft(8)"),
		o("Unit", "DefaultDependencies", "no"),
		o("Unit", "Wants", "network-pre.target"),
		o("Unit", "Before", "network-pre.target docker.service homelab-agent.service shutdown.target"),
		o("Unit", "After", "nftables.service"),
		o("Unit", "Conflicts", "shutdown.target"),
		o("Unit", "RequiresMountsFor", "/var/lib/homelab-agent"),
		o("Unit", "ConditionPathExists", PersistPath),
		o("Service", "Type", "oneshot"),
		o("Service", "RemainAfterExit", "yes"),
		o("Service", "StandardInput", "null"),
		o("Service", "ExecStart", NftPath+" -f "+PersistPath),
		o("Install", "WantedBy", "sysinit.target"),
	}
	b, _ := io.ReadAll(unit.Serialize(opts))
	return append([]byte("# Written by homelab-agent; local edits are overwritten. See docs/firewall.md.\n"), b...)
}

// persist writes the boot script of rs to t.Persist when it differs.
func (t *Table) persist(ctx context.Context, env *resource.Env, rs *Ruleset) error {
	if t.Persist == "" {
		return nil
	}
	f := &files.File{Path: t.Persist, Content: []byte(rs.BootScript()), Mode: 0o600}
	ch, err := f.CheckApply(ctx, env, true)
	if err != nil {
		return fmt.Errorf("saving table inet %s for the next boot: %w", TableName, err)
	}
	if ch != nil {
		env.Logger().Info("saved the firewall table for the next boot", "path", t.Persist)
	}
	return nil
}
