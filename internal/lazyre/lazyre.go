// Package lazyre holds regular expressions that are compiled on first use
// instead of at program start: a package-level regexp.MustCompile runs in
// every command of the binary (`version` included), and bounded repeats
// such as {0,63} make some of ours cost a million instructions each.
package lazyre

import (
	"regexp"
	"sync"
)

// Regexp is a regular expression compiled the first time it is used. A
// bad expression panics on first use, as regexp.MustCompile would at init.
type Regexp struct {
	re func() *regexp.Regexp
}

// New returns expr as a Regexp compiled on first use.
func New(expr string) *Regexp {
	return &Regexp{re: sync.OnceValue(func() *regexp.Regexp { return regexp.MustCompile(expr) })}
}

// Regexp returns the compiled expression.
func (r *Regexp) Regexp() *regexp.Regexp { return r.re() }

// MatchString reports whether s contains a match.
func (r *Regexp) MatchString(s string) bool { return r.re().MatchString(s) }

// FindStringSubmatch is regexp.Regexp.FindStringSubmatch.
func (r *Regexp) FindStringSubmatch(s string) []string { return r.re().FindStringSubmatch(s) }
