package lab

import (
	"bytes"
	"fmt"

	"gopkg.in/yaml.v3"

	"github.com/homelab-agent/homelab-agent/agent/bounded"
)

// Limits on what a lab repo may make the agent do. A commit beyond one is
// refused with an error that names the limit, so that no input (a
// mistake, or a push by someone hostile) can make the agent spend more
// than about a second and 100 MB on it (BenchmarkParsePathological).
const (
	// MaxFileSize is the largest homelab.yaml the agent reads.
	MaxFileSize = 256 << 10
	// MaxRepoFileSize is the largest other file of the repo the lab reads
	// (compose files, their .env and env files).
	MaxRepoFileSize = bounded.RepoFile
	// MaxRepoRead is how much the files a lab names may add up to.
	MaxRepoRead = 16 << 20
	// MaxDepth is how deeply mappings and lists may nest in homelab.yaml.
	MaxDepth = 32
	// MaxAliasNodes is how many values aliases (*name) may expand to in
	// total: enough for sharing settings, not for an alias bomb.
	MaxAliasNodes = 10000
	// MaxErrors is how many problems a load lists; the rest are counted.
	MaxErrors = 50
	// MaxListItems is the longest list (apps, allow, ssh_keys) and the
	// largest mapping (hosts) homelab.yaml may have: a /24 holds 253 hosts.
	MaxListItems = 256
	// smallSyntaxInput is the size up to which a syntax error is located
	// with the second parser (goccy/go-yaml); larger files get yaml.v3's
	// line only, since the second parser's cost grows faster than linearly.
	smallSyntaxInput     = 64 << 10
	maxLocatableBrackets = 1024
)

// checkShape refuses a document nested deeper than MaxDepth or with a
// list or mapping longer than MaxListItems, before anything walks it
// recursively. Aliases are not followed (the decoder bounds them).
func checkShape(n *yaml.Node, depth int, errs *Errors) bool {
	if depth > MaxDepth {
		errs.Add(LabFile, n.Line, n.Column, fmt.Sprintf("nested deeper than %d levels", MaxDepth))
		return false
	}
	items := len(n.Content)
	if n.Kind == yaml.MappingNode {
		items /= 2
	}
	if n.Kind != yaml.DocumentNode && items > MaxListItems {
		errs.Add(LabFile, n.Line, n.Column, fmt.Sprintf("%s has %d entries; the limit is %d", describe(n), items, MaxListItems))
		return false
	}
	for _, c := range n.Content {
		if !checkShape(c, depth+1, errs) {
			return false
		}
	}
	return true
}

// locatable says whether the second parser may look for a syntax
// error's position: its cost grows faster than linearly with size,
// nesting and aliases, so it runs only on small inputs whose count of
// brackets (an upper bound of their nesting) and of aliases is small. A
// real homelab.yaml passes; others get yaml.v3's line.
func locatable(data []byte) bool {
	return len(data) <= smallSyntaxInput &&
		bytes.Count(data, []byte("["))+bytes.Count(data, []byte("{")) <= maxLocatableBrackets &&
		bytes.Count(data, []byte("*")) <= maxLocatableBrackets
}

// aliasBudget tracks how many values aliases have expanded to.
type aliasBudget struct {
	used     int
	sizes    map[*yaml.Node]int
	exceeded bool
}

// take charges the expansion of alias a; false means the budget is spent
// (reported once, at the alias that spent it).
func (b *aliasBudget) take(a *yaml.Node, d *decoder) bool {
	if b.exceeded {
		return false
	}
	if b.sizes == nil {
		b.sizes = map[*yaml.Node]int{}
	}
	size, ok := b.sizes[a.Alias]
	if !ok {
		size = nodeCount(a.Alias)
		b.sizes[a.Alias] = size
	}
	b.used += size
	if b.used > MaxAliasNodes {
		b.exceeded = true
		d.errorf(a, "aliases expand to more than %d values (the limit against alias bombs); write the values out or share fewer", MaxAliasNodes)
		return false
	}
	return true
}

// nodeCount counts the nodes of a subtree, aliases as one.
func nodeCount(n *yaml.Node) int {
	c := 1
	for _, x := range n.Content {
		c += nodeCount(x)
	}
	return c
}
