// Package secrets owns ${secret:NAME} references: finding them in text,
// resolving them from /etc/homelab-agent/secrets.env or HOMELAB_SECRET_<NAME>
// environment variables, and redacting resolved values from anything the
// agent prints or stores.
package secrets

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"

	"github.com/joho/godotenv"
)

// File is where a host keeps its secrets, relative to the host root.
const File = "/etc/homelab-agent/secrets.env"

// EnvPrefix prefixes environment variables that provide secrets.
const EnvPrefix = "HOMELAB_SECRET_"

// ValidName reports whether name may name a secret: upper-case letters,
// digits and underscores, starting with a letter, at most 64 characters.
func ValidName(name string) bool {
	// A loop, not a regexp: ^[A-Z][A-Z0-9_]{0,63}$ costs three million
	// instructions to compile, at the start of every command.
	if len(name) == 0 || len(name) > 64 || name[0] < 'A' || name[0] > 'Z' {
		return false
	}
	for i := 1; i < len(name); i++ {
		c := name[i]
		if !('A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '_') {
			return false
		}
	}
	return true
}

// Ref is one ${secret:NAME} found in a text.
type Ref struct {
	Name   string
	Offset int // byte offset of "${" in the text
	// Problem is non-empty when the reference is malformed.
	Problem string
}

const open = "${secret:"

// Find returns every reference in s, malformed ones included.
func Find(s string) []Ref {
	var refs []Ref
	for off := 0; ; {
		i := strings.Index(s[off:], open)
		if i < 0 {
			return refs
		}
		start := off + i
		rest := s[start+len(open):]
		end := strings.IndexByte(rest, '}')
		if end < 0 {
			refs = append(refs, Ref{Offset: start, Problem: "unterminated ${secret:...} reference (missing \"}\")"})
			return refs
		}
		name := rest[:end]
		r := Ref{Name: name, Offset: start}
		if !ValidName(name) {
			r.Problem = fmt.Sprintf("invalid secret name %q: use upper-case letters, digits and _, starting with a letter", name)
		}
		refs = append(refs, r)
		off = start + len(open) + end + 1
	}
}

// Names returns the distinct valid names referenced in s, sorted.
func Names(s string) []string {
	var out []string
	for _, r := range Find(s) {
		if r.Problem == "" && !slices.Contains(out, r.Name) {
			out = append(out, r.Name)
		}
	}
	sort.Strings(out)
	return out
}

// Store holds resolved secret values for one host.
type Store struct {
	values    map[string]string
	conflicts []Conflict
}

// Load reads root/etc/homelab-agent/secrets.env (absent is fine) and the
// HOMELAB_SECRET_* variables of environ; the environment wins. Empty
// values count as not set.
func Load(root string, environ []string) (*Store, error) {
	s := &Store{values: map[string]string{}}
	path := filepath.Join(root, File)
	f, err := os.Open(path)
	switch {
	case errors.Is(err, os.ErrNotExist):
	case err != nil:
		return nil, fmt.Errorf("reading secrets: %w", err)
	default:
		defer f.Close()
		if err := checkPrivate(f, path); err != nil {
			return nil, fmt.Errorf("reading secrets: %w", err)
		}
		m, err := godotenv.Parse(f)
		if err != nil {
			// godotenv's messages may quote the line; never echo file content.
			return nil, fmt.Errorf("reading secrets: %s is not a valid KEY=value file", path)
		}
		for k, v := range m {
			if !ValidName(k) {
				return nil, fmt.Errorf("reading secrets: %s: invalid secret name %q", path, k)
			}
			if v != "" {
				s.values[k] = v
			}
		}
	}
	// An empty value is almost always a mistake: it counts as not set.
	for _, kv := range environ {
		k, v, ok := strings.Cut(kv, "=")
		if ok && v != "" && strings.HasPrefix(k, EnvPrefix) && ValidName(k[len(EnvPrefix):]) {
			s.values[k[len(EnvPrefix):]] = v
		}
	}
	return s, nil
}

// FromMap builds a store from values (tests, callers with their own source).
func FromMap(m map[string]string) *Store {
	s := &Store{values: map[string]string{}}
	for k, v := range m {
		s.values[k] = v
	}
	return s
}

// Lookup returns a secret's value.
func (s *Store) Lookup(name string) (string, bool) {
	if s == nil {
		return "", false
	}
	v, ok := s.values[name]
	return v, ok
}

// Missing returns the names in want that the store lacks.
func (s *Store) Missing(want []string) []string {
	var out []string
	for _, n := range want {
		if _, ok := s.Lookup(n); !ok {
			out = append(out, n)
		}
	}
	return out
}

// Expand replaces every ${secret:NAME} in text with its value. Unknown or
// malformed references are an error naming the secret, never a value.
func (s *Store) Expand(text string) (string, error) {
	refs := Find(text)
	if len(refs) == 0 {
		return text, nil
	}
	var b strings.Builder
	last := 0
	for _, r := range refs {
		if r.Problem != "" {
			return "", errors.New(r.Problem)
		}
		v, ok := s.Lookup(r.Name)
		if !ok {
			return "", &MissingError{Names: []string{r.Name}}
		}
		b.WriteString(text[last:r.Offset])
		b.WriteString(v)
		last = r.Offset + len(open) + len(r.Name) + 1
	}
	b.WriteString(text[last:])
	return b.String(), nil
}

// MissingError names secrets a host needs but does not have.
type MissingError struct {
	Names []string
}

func (e *MissingError) Error() string {
	return fmt.Sprintf("missing secret %s: add it to %s (mode 0600) or set %s<NAME>",
		strings.Join(e.Names, ", "), File, EnvPrefix)
}

// ReplaceRefs returns s with every well-formed ${secret:NAME} reference
// replaced by f(NAME); malformed references are left as they are. It is
// the one parser of the reference syntax: placeholders in compose files,
// repository strings shown to people and the lab's checks all use Find.
func ReplaceRefs(s string, f func(name string) string) string {
	refs := Find(s)
	if len(refs) == 0 {
		return s
	}
	var b strings.Builder
	last := 0
	for _, r := range refs {
		if r.Problem != "" {
			continue
		}
		b.WriteString(s[last:r.Offset])
		b.WriteString(f(r.Name))
		last = r.Offset + len(open) + len(r.Name) + 1
	}
	b.WriteString(s[last:])
	return b.String()
}

// Placeholder is how a secret stands in plans, specs and reports: «secret:NAME».
func Placeholder(name string) string { return "«secret:" + name + "»" }
