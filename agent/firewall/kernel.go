package firewall

import (
	"errors"
	"fmt"
	"os"
	"reflect"
	"strings"
	"syscall"

	"github.com/google/nftables"
	"github.com/google/nftables/userdata"
)

// textTag is the userdata TLV type that keeps a rule's nft text beside its
// expressions, so that plan can show the current table in nft syntax. nft
// knows types 0 (comment) and 1 and ignores the others.
const textTag userdata.Type = 0xa7

// ErrNoPermission is returned when the agent lacks CAP_NET_ADMIN.
var ErrNoPermission = errors.New("reading or changing nftables needs CAP_NET_ADMIN: run the agent as root (or give its unit AmbientCapabilities=CAP_NET_ADMIN)")

// ErrNoNFTables is returned when the kernel has no nf_tables support.
var ErrNoNFTables = errors.New("the kernel has no nf_tables support: load the nf_tables module (modprobe nf_tables) or use a kernel built with CONFIG_NF_TABLES")

// kernelErr turns netlink errors into ones that say what to do.
func kernelErr(what string, err error) error {
	switch {
	case err == nil:
		return nil
	case denied(err):
		return fmt.Errorf("%s: %w", what, ErrNoPermission)
	case errors.Is(err, syscall.EOPNOTSUPP), errors.Is(err, syscall.EPROTONOSUPPORT), errors.Is(err, syscall.EAFNOSUPPORT):
		return fmt.Errorf("%s: %w (%v)", what, ErrNoNFTables, err)
	}
	return fmt.Errorf("%s: %w", what, err)
}

func denied(err error) bool {
	return errors.Is(err, os.ErrPermission) || errors.Is(err, syscall.EPERM) || errors.Is(err, syscall.EACCES)
}

var table = &nftables.Table{Name: TableName, Family: nftables.TableFamilyINet}

var hookNums = map[string]nftables.ChainHook{
	"prerouting": *nftables.ChainHookPrerouting, "input": *nftables.ChainHookInput,
	"forward": *nftables.ChainHookForward, "output": *nftables.ChainHookOutput,
	"postrouting": *nftables.ChainHookPostrouting,
}

func hookName(h nftables.ChainHook) string {
	for n, v := range hookNums {
		if v == h {
			return n
		}
	}
	return fmt.Sprintf("hook-%d", h)
}

// snapshot is table inet homelab as the kernel has it.
type snapshot struct {
	chains []*nftables.Chain
	rules  map[string][]*nftables.Rule
	sets   []string
	// unreadable is set when the table exists but its rules could not be
	// decoded (a hand-made rule the netlink library cannot parse): it is
	// replaced all the same, and a rollback removes it instead.
	unreadable error
}

// read returns the kernel's table inet homelab, or nil when there is none.
func read(c *nftables.Conn) (*snapshot, error) {
	tables, err := c.ListTablesOfFamily(nftables.TableFamilyINet)
	if err != nil {
		return nil, kernelErr("listing nftables tables", err)
	}
	found := false
	for _, t := range tables {
		found = found || t.Name == TableName
	}
	if !found {
		return nil, nil
	}
	chains, err := c.ListChainsOfTableFamily(nftables.TableFamilyINet)
	if err != nil {
		return nil, kernelErr("listing chains", err)
	}
	s := &snapshot{rules: map[string][]*nftables.Rule{}}
	for _, ch := range chains {
		if ch.Table.Name != TableName {
			continue
		}
		rules, err := c.GetRules(table, ch)
		if err != nil {
			if denied(err) {
				return nil, kernelErr("listing rules of chain "+ch.Name, err)
			}
			return &snapshot{unreadable: fmt.Errorf("chain %s: %w", ch.Name, err)}, nil
		}
		s.chains = append(s.chains, ch)
		s.rules[ch.Name] = rules
	}
	sets, err := c.GetSets(table)
	if err != nil {
		return nil, kernelErr("listing sets", err)
	}
	for _, st := range sets {
		s.sets = append(s.sets, st.Name)
	}
	return s, nil
}

// matches reports whether the kernel's table is exactly the ruleset:
// same chains with the same hooks, priorities and policies, and the same
// expressions and comments in every rule, in order.
func (s *snapshot) matches(rs *Ruleset) bool {
	if s == nil || s.unreadable != nil || len(s.chains) != len(rs.Chains) || len(s.sets) > 0 {
		return false
	}
	have := map[string]*nftables.Chain{}
	for _, c := range s.chains {
		have[c.Name] = c
	}
	for _, want := range rs.Chains {
		c := have[want.Name]
		if c == nil || c.Hooknum == nil || c.Priority == nil || c.Policy == nil ||
			string(c.Type) != want.Type || hookName(*c.Hooknum) != want.Hook ||
			int(*c.Priority) != want.Priority || policyName(*c.Policy) != want.Policy {
			return false
		}
		rules := s.rules[c.Name]
		if len(rules) != len(want.Rules) {
			return false
		}
		for i := range want.Rules {
			r := &want.Rules[i]
			// The comment must match; the rule's text beside it may be
			// missing (a table nft loaded from the boot script).
			if !reflect.DeepEqual(rules[i].Exprs, r.Exprs()) || comment(rules[i].UserData) != r.Comment {
				return false
			}
		}
	}
	return true
}

// comment is a rule's comment as nft stores it in its userdata.
func comment(ud []byte) string {
	s, _ := userdata.GetString(ud, userdata.TypeComment)
	return s
}

func policyName(p nftables.ChainPolicy) string {
	if p == nftables.ChainPolicyAccept {
		return "accept"
	}
	return "drop"
}

// text renders the kernel's table in nft syntax from the text each rule
// carries; rules the agent did not write are shown by handle.
func (s *snapshot) text() string {
	if s == nil {
		return ""
	}
	var b strings.Builder
	fmt.Fprintf(&b, "table inet %s {\n", TableName)
	if s.unreadable != nil {
		fmt.Fprintf(&b, "\t# not readable (%v): see nft list table inet %s\n}\n", s.unreadable, TableName)
		return b.String()
	}
	for i, c := range s.chains {
		if i > 0 {
			b.WriteString("\n")
		}
		if c.Hooknum == nil || c.Priority == nil {
			fmt.Fprintf(&b, "\tchain %s {\n", c.Name)
		} else {
			pol := "accept"
			if c.Policy != nil {
				pol = policyName(*c.Policy)
			}
			ch := &Chain{Name: c.Name, Type: string(c.Type), Hook: hookName(*c.Hooknum), Priority: int(*c.Priority), Policy: pol}
			b.WriteString(ch.header())
		}
		for _, r := range s.rules[c.Name] {
			if t, ok := userdata.GetString(r.UserData, textTag); ok {
				fmt.Fprintf(&b, "\t\t%s\n", t)
			} else {
				fmt.Fprintf(&b, "\t\t# rule handle %d: not written by homelab-agent (see nft -a list table inet %s)\n", r.Handle, TableName)
			}
		}
		b.WriteString("\t}\n")
	}
	for _, name := range s.sets {
		fmt.Fprintf(&b, "\t# set %s: not written by homelab-agent\n", name)
	}
	b.WriteString("}\n")
	return b.String()
}

func (r *Rule) userData() []byte {
	return userdata.AppendString(r.UserData(), textTag, r.Text())
}

// queueReplace queues, for one batch, the replacement of table inet
// homelab by the ruleset: the table is created (a no-op when it exists),
// deleted with everything in it, and built anew. Nothing else is touched.
func queueReplace(c *nftables.Conn, rs *Ruleset) {
	c.AddTable(table)
	c.DelTable(table)
	if rs == nil {
		return
	}
	t := c.AddTable(table)
	for _, ch := range rs.Chains {
		hook := hookNums[ch.Hook]
		prio := nftables.ChainPriority(ch.Priority)
		pol := nftables.ChainPolicyDrop
		if ch.Policy == "accept" {
			pol = nftables.ChainPolicyAccept
		}
		kc := c.AddChain(&nftables.Chain{Name: ch.Name, Table: t, Type: nftables.ChainType(ch.Type),
			Hooknum: &hook, Priority: &prio, Policy: &pol})
		for i := range ch.Rules {
			r := &ch.Rules[i]
			c.AddRule(&nftables.Rule{Table: t, Chain: kc, Exprs: r.Exprs(), UserData: r.userData()})
		}
	}
}

// queueRestore queues, for one batch, putting back a table as read
// before a change (or removing ours when there was none).
func queueRestore(c *nftables.Conn, s *snapshot) {
	c.AddTable(table)
	c.DelTable(table)
	if s == nil || s.unreadable != nil {
		return
	}
	t := c.AddTable(table)
	added := map[string]*nftables.Chain{}
	for _, ch := range s.chains { // every chain before any rule that may jump to it
		added[ch.Name] = c.AddChain(&nftables.Chain{Name: ch.Name, Table: t, Type: ch.Type,
			Hooknum: ch.Hooknum, Priority: ch.Priority, Policy: ch.Policy, Device: ch.Device})
	}
	for _, ch := range s.chains {
		for _, r := range s.rules[ch.Name] {
			c.AddRule(&nftables.Rule{Table: t, Chain: added[ch.Name], Exprs: r.Exprs, UserData: r.UserData})
		}
	}
}
