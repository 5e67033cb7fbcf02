package firewall

import (
	"context"
	"errors"
	"fmt"
	"os"
	"slices"

	"github.com/aymanbagabas/go-udiff"
	"github.com/google/nftables"

	"github.com/homelab-agent/homelab-agent/agent/files"
	"github.com/homelab-agent/homelab-agent/agent/resource"
)

// Subsystem is the name --only uses for the firewall.
const Subsystem = "firewall"

// RenderedPath is where the table is written, in nft syntax, when a pass
// runs under a --root folder instead of on the real host: the kernel of
// the machine running a demo is never touched.
const RenderedPath = "/var/lib/homelab-agent/nftables.nft"

// Table is the resource for table inet homelab.
type Table struct {
	// Host is what the table admits; Build makes the ruleset from it.
	Host Host
	// Ruleset, when set, is used as it is instead of Build(Host).
	Ruleset *Ruleset
	// ProbeTargets must stay reachable after a change (see DialProbe);
	// the lab gives the gateway, the daemon adds its git remote through
	// WithConfirm.
	ProbeTargets []string
	// Persist is the host path (PersistPath) where the table, once applied
	// and confirmed, is saved as an nft script for BootUnit; "" saves
	// nothing. It is written on every apply pass that leaves the table as
	// built, so a host upgraded from an agent without it gets the file.
	Persist string
	// NetNS is a network namespace file (/run/netns/NAME) to work in;
	// "" is the agent's own namespace.
	NetNS string

	// beforeFlush and beforeRestore let tests add to the replacing and
	// the restoring batch (to make them fail).
	beforeFlush, beforeRestore func(c *nftables.Conn)
}

var _ resource.Resource = (*Table)(nil)

// ID implements resource.Resource.
func (t *Table) ID() string { return "nftables:inet " + TableName }

// Subsystem implements resource.Resource.
func (t *Table) Subsystem() string { return Subsystem }

// CheckApply implements resource.Resource. The table is compared rule by
// rule (expressions and comments) with the kernel's; when it differs,
// apply replaces it in one netlink batch, then confirms that the host can
// still reach its probe targets and rolls back otherwise.
func (t *Table) CheckApply(ctx context.Context, env *resource.Env, apply bool) (*resource.Change, error) {
	rs := t.Ruleset
	if rs == nil {
		var err error
		if rs, err = Build(t.Host); err != nil {
			return nil, fmt.Errorf("building table inet %s: %w", TableName, err)
		}
	} else if err := rs.Validate(); err != nil {
		return nil, fmt.Errorf("building table inet %s: %w", TableName, err)
	}
	want := rs.Render()
	if t.NetNS == "" && env.Root != "" && env.Root != "/" {
		return t.checkFile(ctx, env, apply, want)
	}
	c, done, err := t.conn()
	if err != nil {
		return nil, err
	}
	defer done()
	cur, err := read(c)
	if err != nil {
		return nil, err
	}
	if cur.matches(rs) {
		if apply {
			return nil, t.persist(ctx, env, rs)
		}
		return nil, nil
	}
	ch := &resource.Change{ID: t.ID(), Subsystem: Subsystem, Action: "update", Summary: "replace rules",
		Diff: udiff.Unified("kernel", "lab", cur.text(), want)}
	if cur == nil {
		ch.Action, ch.Summary = "create", "create table"
	}
	if !apply {
		return ch, nil
	}
	cf := confirmFrom(ctx)
	var targets []string
	if cf.Probe == nil {
		// Only what answers now must answer after the change: a remote
		// that is down (after a power cut) does not make a table "wrong".
		targets = answering(ctx, env, append(slices.Clone(t.ProbeTargets), cf.Targets...))
		if len(targets) > 0 {
			cf.Probe = DialProbe(targets...)
		}
	}
	queueReplace(c, rs)
	if t.beforeFlush != nil {
		t.beforeFlush(c)
	}
	if err := c.Flush(); err != nil {
		return ch, kernelErr("replacing table inet "+TableName+" (the old table is unchanged)", err)
	}
	if cf.Probe == nil {
		return ch, t.persist(ctx, env, rs)
	}
	if perr := confirm(ctx, cf); perr != nil {
		rej := &RejectedError{Diff: ch.Diff, Timeout: cf.Timeout, Err: perr, Targets: targets}
		queueRestore(c, cur)
		if t.beforeRestore != nil {
			t.beforeRestore(c)
		}
		if err := c.Flush(); err != nil {
			rej.RestoreErr = err
			// Never leave the host unfiltered: keep a table that admits
			// SSH as the new one does (from the gateway and the VPN).
			min, merr := Minimal(t.Host)
			if merr == nil {
				queueReplace(c, min)
				merr = c.Flush()
			}
			if merr == nil {
				rej.Minimal = true
			} else {
				queueRestore(c, nil)
				if err := c.Flush(); err != nil {
					return ch, errors.Join(rej, fmt.Errorf("loading a minimal table: %v; removing the rejected table: %w", merr, err))
				}
			}
		}
		ch.Summary = "rejected: rolled back"
		return ch, rej
	}
	return ch, t.persist(ctx, env, rs)
}

// conn opens a netlink connection in the resource's namespace.
func (t *Table) conn() (*nftables.Conn, func(), error) {
	opts := []nftables.ConnOption{nftables.AsLasting()}
	var ns *os.File
	if t.NetNS != "" {
		f, err := os.Open(t.NetNS)
		if err != nil {
			return nil, nil, fmt.Errorf("opening network namespace: %w", err)
		}
		ns = f
		opts = append(opts, nftables.WithNetNSFd(int(f.Fd())))
	}
	c, err := nftables.New(opts...)
	if err != nil {
		if ns != nil {
			ns.Close()
		}
		return nil, nil, kernelErr("opening netlink", err)
	}
	return c, func() {
		c.CloseLasting()
		if ns != nil {
			ns.Close()
		}
	}, nil
}

// checkFile compares and writes the rendered table under a --root folder.
func (t *Table) checkFile(ctx context.Context, env *resource.Env, apply bool, want string) (*resource.Change, error) {
	f := &files.File{Path: RenderedPath, Content: []byte(want), Mode: 0o644}
	ch, err := f.CheckApply(ctx, env, apply)
	if ch != nil {
		ch.ID, ch.Subsystem = t.ID(), Subsystem
		ch.Summary = "table written to " + RenderedPath + " (not loaded: --root is not /)"
	}
	return ch, err
}
