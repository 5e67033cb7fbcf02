package lab

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"strconv"
	"strings"

	goyaml "github.com/goccy/go-yaml"
	yamlparser "github.com/goccy/go-yaml/parser"

	"gopkg.in/yaml.v3"

	"github.com/homelab-agent/homelab-agent/agent/bounded"
	"github.com/homelab-agent/homelab-agent/agent/repofs"
	"github.com/homelab-agent/homelab-agent/internal/lazyre"
)

// Options tells Load what the rest of the agent knows about.
type Options struct {
	// Roles lists the registered role names; a host with another role is an error.
	Roles []string
	// Validators run after the built-in checks, one per role that checks
	// lab-wide settings it owns (the dns role checks dns.upstream, ...).
	Validators []func(*Lab, *Errors)
	// Settings are the keys the roles own, decoded into their own types.
	Settings []Setting
	// Scope limits the checks that load other files (compose projects)
	// to what one pass needs; the zero Scope checks everything.
	Scope Scope
}

// Load reads and checks dir/homelab.yaml. On failure the error is an
// *Errors listing every problem as homelab.yaml:LINE:COL: message.
func Load(dir string, opts Options) (*Lab, error) {
	data, err := repofs.ReadFileLimit(dir, LabFile, LabFile, MaxFileSize)
	var tl *bounded.TooLargeError
	switch {
	case errors.As(err, &tl):
		var errs Errors
		errs.Add(LabFile, 1, 1, tl.Error())
		return nil, errs.Err()
	case errors.Is(err, os.ErrNotExist):
		return nil, fmt.Errorf("%s: no %s in the lab repo", filepath.Join(dir, LabFile), LabFile)
	case err != nil:
		return nil, fmt.Errorf("reading lab: %w", err)
	}
	return Parse(dir, data, opts)
}

// Parse checks homelab.yaml's content; dir is the repo folder that relative
// paths (compose files) are resolved against.
func Parse(dir string, data []byte, opts Options) (*Lab, error) {
	var errs Errors
	if len(data) > MaxFileSize {
		errs.Add(LabFile, 1, 1, (&bounded.TooLargeError{Name: LabFile, Size: int64(len(data)), Limit: MaxFileSize}).Error())
		return nil, errs.Err()
	}
	var root yaml.Node
	dec := yaml.NewDecoder(bytes.NewReader(data))
	if err := dec.Decode(&root); err != nil {
		line, col, msg := yamlSyntaxError(data, err)
		errs.Add(LabFile, line, col, msg)
		return nil, errs.Err()
	}
	l := &Lab{Dir: dir, Scope: opts.Scope}
	if root.Kind == 0 || len(root.Content) == 0 {
		errs.Add(LabFile, 1, 1, "file is empty")
		return nil, errs.Err()
	}
	var extra yaml.Node
	if dec.Decode(&extra) == nil {
		errs.Add(LabFile, extra.Line, extra.Column, "only one YAML document is allowed")
	}
	if !checkShape(&root, 0, &errs) {
		return nil, errs.Err()
	}
	d := &decoder{file: LabFile, errs: &errs, settings: opts.Settings}
	top := root.Content[0]
	if top.Kind != yaml.MappingNode {
		errs.Add(LabFile, top.Line, top.Column, "expected a mapping at the top level, got "+describe(top))
		return nil, errs.Err()
	}
	d.decode(&root, reflect.ValueOf(l).Elem())
	l.SecretRefs = scanSecrets(top, &errs)
	checkLab(l, top, opts, &errs)
	for _, v := range opts.Validators {
		v(l, &errs)
	}
	if err := errs.Err(); err != nil {
		return nil, err
	}
	return l, nil
}

var yamlLineRe = lazyre.New(`^yaml: line (\d+): (.*)$`)

// yamlSyntaxError locates a syntax error. yaml.v3 reports only a line (for
// unclosed flow collections, the line where they open), so the position
// and message come from goccy/go-yaml's parser, which points at the token
// where parsing failed; yaml.v3's line is the fallback, and the only
// answer for inputs too costly for the second parser (locatable).
func yamlSyntaxError(data []byte, err error) (int, int, string) {
	var se *goyaml.SyntaxError
	if !locatable(data) {
		// too costly to locate precisely: yaml.v3's line below
	} else if _, perr := yamlparser.ParseBytes(data, 0); errors.As(perr, &se) && se.Token != nil && se.Token.Position != nil {
		return se.Token.Position.Line, se.Token.Position.Column, "invalid YAML: " + se.Message
	}
	m := yamlLineRe.FindStringSubmatch(err.Error())
	if m == nil {
		return 1, 1, "invalid YAML: " + strings.TrimPrefix(err.Error(), "yaml: ")
	}
	line, _ := strconv.Atoi(m[1])
	return line, 1, "invalid YAML: " + m[2]
}
