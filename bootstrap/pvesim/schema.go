// Package pvesim is a Proxmox VE API simulator for tests and demos. It loads
// Proxmox's own API schema (the api-viewer's apidoc.js), rejects every
// request that the schema does not allow — unknown path or method, unknown
// or missing parameter, wrong type, enum, pattern, range or property-string
// format — with Proxmox's HTTP status and {"errors":{...}} body, and keeps
// enough state (nodes, storages, volumes, VMs, tasks) for the bootstrap to
// build a lab against it. Tasks run asynchronously for a configurable time;
// task failures, config-lock timeouts and 5xx errors can be injected.
package pvesim

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"
)

// SchemaEnv names the environment variable that points at apidoc.js.
const SchemaEnv = "PVE_APIDOC"

// Schema is Proxmox's API schema, indexed by path template and method.
type Schema struct {
	// Methods maps "METHOD /path/{template}" to the method's definition.
	Methods map[string]*Method
	// templates holds every path template split into segments.
	templates [][]string
}

// Method is one API method: its parameters and what it returns.
type Method struct {
	Method     string           `json:"method"`
	Name       string           `json:"name"`
	Parameters Object           `json:"parameters"`
	Returns    map[string]any   `json:"returns"`
	AllowToken int              `json:"allowtoken"`
	Path       string           `json:"-"`
	params     map[string]*Prop // resolved, incl. indexed families
}

// Object is a parameter list: properties and whether others are allowed.
type Object struct {
	AdditionalProperties any              `json:"additionalProperties"`
	Properties           map[string]*Prop `json:"properties"`
}

// Prop is one parameter's (or property-string key's) schema.
type Prop struct {
	Type        string          `json:"type"`
	Optional    flag            `json:"optional"`
	Enum        []string        `json:"enum"`
	Pattern     string          `json:"pattern"`
	Minimum     *jsonNum        `json:"minimum"`
	Maximum     *jsonNum        `json:"maximum"`
	MaxLength   *int            `json:"maxLength"`
	MinLength   *int            `json:"minLength"`
	Description string          `json:"description"`
	Default     any             `json:"default"`
	DefaultKey  flag            `json:"default_key"`
	Alias       string          `json:"alias"`
	KeyAlias    string          `json:"keyAlias"`
	Requires    string          `json:"requires"`
	RawFormat   json.RawMessage `json:"format"`

	// FormatName is a named format (pve-node, urlencoded, ...), or "".
	FormatName string `json:"-"`
	// Format is an inline property-string format: its keys' schemas.
	Format map[string]*Prop `json:"-"`

	re *regexp.Regexp
}

type node struct {
	Path     string             `json:"path"`
	Info     map[string]*Method `json:"info"`
	Children []*node            `json:"children"`
}

// FindSchema returns the apidoc.js to use: $PVE_APIDOC, or
// shared/proxmox/apidoc.js found by walking up from dir (the repo lives
// beside the shared folder: ../shared/proxmox/apidoc.js from its root).
func FindSchema(dir string) (string, error) {
	if p := os.Getenv(SchemaEnv); p != "" {
		if _, err := os.Stat(p); err != nil {
			return "", fmt.Errorf("$%s: %w", SchemaEnv, err)
		}
		return p, nil
	}
	d, err := filepath.Abs(dir)
	if err != nil {
		return "", err
	}
	for {
		p := filepath.Join(d, "shared", "proxmox", "apidoc.js")
		if _, err := os.Stat(p); err == nil {
			return p, nil
		}
		parent := filepath.Dir(d)
		if parent == d {
			return "", fmt.Errorf("no shared/proxmox/apidoc.js above %s and $%s is not set", dir, SchemaEnv)
		}
		d = parent
	}
}

// LoadSchema reads an apidoc.js file.
func LoadSchema(path string) (*Schema, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("reading API schema: %w", err)
	}
	return ParseSchema(data)
}

// ParseSchema extracts the JSON array from apidoc.js
// ("const apiSchema = [ ... ];" followed by viewer code) and indexes it.
func ParseSchema(data []byte) (*Schema, error) {
	start := bytes.Index(data, []byte("apiSchema"))
	if start < 0 {
		return nil, errors.New("parsing API schema: no apiSchema in the file")
	}
	open := bytes.IndexByte(data[start:], '[')
	if open < 0 {
		return nil, errors.New("parsing API schema: no array after apiSchema")
	}
	dec := json.NewDecoder(bytes.NewReader(data[start+open:]))
	var roots []*node
	if err := dec.Decode(&roots); err != nil {
		return nil, fmt.Errorf("parsing API schema: %w", err)
	}
	s := &Schema{Methods: map[string]*Method{}}
	var walk func(n *node) error
	walk = func(n *node) error {
		if len(n.Info) > 0 {
			s.templates = append(s.templates, strings.Split(strings.Trim(n.Path, "/"), "/"))
		}
		for m, def := range n.Info {
			def.Path = n.Path
			if err := def.resolve(); err != nil {
				return fmt.Errorf("parsing API schema: %s %s: %w", m, n.Path, err)
			}
			s.Methods[m+" "+n.Path] = def
		}
		for _, c := range n.Children {
			if err := walk(c); err != nil {
				return err
			}
		}
		return nil
	}
	for _, r := range roots {
		if err := walk(r); err != nil {
			return nil, err
		}
	}
	if len(s.Methods) == 0 {
		return nil, errors.New("parsing API schema: no methods")
	}
	return s, nil
}

// Match finds the path template for a concrete path and the values of its
// placeholders ({node}, {vmid} ...). ok is false when no template matches.
func (s *Schema) Match(path string) (tmpl string, vars map[string]string, ok bool) {
	segs := strings.Split(strings.Trim(path, "/"), "/")
	best := -1
	for _, t := range s.templates {
		if len(t) != len(segs) {
			continue
		}
		lit := 0
		good := true
		for i, p := range t {
			if strings.HasPrefix(p, "{") {
				continue
			}
			if p != segs[i] {
				good = false
				break
			}
			lit++
		}
		if good && lit > best {
			best = lit
			tmpl = "/" + strings.Join(t, "/")
		}
	}
	if best < 0 {
		return "", nil, false
	}
	vars = map[string]string{}
	for i, p := range strings.Split(strings.Trim(tmpl, "/"), "/") {
		if strings.HasPrefix(p, "{") {
			vars[strings.Trim(p, "{}")] = segs[i]
		}
	}
	return tmpl, vars, true
}

// Lookup returns the method for a concrete method and path.
func (s *Schema) Lookup(method, path string) (*Method, map[string]string, error) {
	tmpl, vars, ok := s.Match(path)
	if !ok {
		return nil, nil, fmt.Errorf("Method '%s %s' not implemented", method, path)
	}
	m := s.Methods[method+" "+tmpl]
	if m == nil {
		return nil, nil, fmt.Errorf("Method '%s %s' not implemented", method, path)
	}
	return m, vars, nil
}

// resolve decodes formats and compiles patterns, recursively.
func (m *Method) resolve() error {
	m.params = map[string]*Prop{}
	for k, p := range m.Parameters.Properties {
		if err := p.resolve(); err != nil {
			return fmt.Errorf("%s: %w", k, err)
		}
		m.params[k] = p
	}
	return nil
}

func (p *Prop) resolve() error {
	if len(p.RawFormat) > 0 {
		switch p.RawFormat[0] {
		case '"':
			if err := json.Unmarshal(p.RawFormat, &p.FormatName); err != nil {
				return err
			}
		case '{':
			if err := json.Unmarshal(p.RawFormat, &p.Format); err != nil {
				return err
			}
			for k, sub := range p.Format {
				if err := sub.resolve(); err != nil {
					return fmt.Errorf("%s: %w", k, err)
				}
			}
		}
	}
	if p.Pattern != "" {
		re, err := perlRegexp(p.Pattern)
		if err != nil {
			return err
		}
		p.re = re
	}
	return nil
}

var bigRepeatRe = regexp.MustCompile(`\{(\d+),(\d{4,})\}`)

// perlRegexp compiles a schema pattern the way PVE::JSONSchema applies it:
// anchored at both ends. Perl's "(?^:" group becomes "(?:"; repeat counts
// above RE2's limit of 1000 become open-ended (the length limits of the
// parameter still apply).
func perlRegexp(pat string) (*regexp.Regexp, error) {
	pat = strings.ReplaceAll(pat, "(?^:", "(?:")
	pat = strings.ReplaceAll(pat, "(?^i:", "(?i:")
	pat = bigRepeatRe.ReplaceAllString(pat, "{$1,}")
	return regexp.Compile(`^(?:` + pat + `)$`)
}

// flag is Proxmox's 0/1 (sometimes "1" or true) marker.
type flag bool

func (f *flag) UnmarshalJSON(b []byte) error {
	s := strings.Trim(string(b), `"`)
	*f = s == "1" || s == "true"
	return nil
}

// jsonNum is a number that the schema sometimes writes as a string.
type jsonNum float64

func (n *jsonNum) UnmarshalJSON(b []byte) error {
	s := strings.Trim(string(b), `"`)
	var f float64
	if _, err := fmt.Sscan(s, &f); err != nil {
		return fmt.Errorf("bad number %s", b)
	}
	*n = jsonNum(f)
	return nil
}
