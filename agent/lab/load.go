package lab

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"strconv"

	"gopkg.in/yaml.v3"
)

// Options tells Load what the rest of the agent knows about.
type Options struct {
	// Roles lists the registered role names; a host with another role is an error.
	Roles []string
	// Validators run after the built-in checks, one per role that checks
	// lab-wide settings it owns (the dns role checks dns.upstream, ...).
	Validators []func(*Lab, *Errors)
}

// Load reads and checks dir/homelab.yaml. On failure the error is an
// *Errors listing every problem as homelab.yaml:LINE:COL: message.
func Load(dir string, opts Options) (*Lab, error) {
	data, err := os.ReadFile(filepath.Join(dir, LabFile))
	if err != nil {
		if errors.Is(err, os.ErrNotExist) {
			return nil, fmt.Errorf("%s: no %s in the lab repo", filepath.Join(dir, LabFile), LabFile)
		}
		return nil, fmt.Errorf("reading lab: %w", err)
	}
	return Parse(dir, data, opts)
}

// Parse checks homelab.yaml's content; dir is the repo folder that relative
// paths (compose files) are resolved against.
func Parse(dir string, data []byte, opts Options) (*Lab, error) {
	var errs Errors
	var root yaml.Node
	dec := yaml.NewDecoder(bytes.NewReader(data))
	if err := dec.Decode(&root); err != nil {
		line, msg := yamlSyntaxError(err)
		errs.Add(LabFile, line, 1, msg)
		return nil, errs.Err()
	}
	l := &Lab{Dir: dir}
	if root.Kind == 0 || len(root.Content) == 0 {
		errs.Add(LabFile, 1, 1, "file is empty")
		return nil, errs.Err()
	}
	var extra yaml.Node
	if dec.Decode(&extra) == nil {
		errs.Add(LabFile, extra.Line, extra.Column, "only one YAML document is allowed")
	}
	d := &decoder{file: LabFile, errs: &errs}
	top := root.Content[0]
	if top.Kind != yaml.MappingNode {
		errs.Add(LabFile, top.Line, top.Column, "expected a mapping at the top level, got "+describe(top))
		return nil, errs.Err()
	}
	d.decode(&root, reflect.ValueOf(l).Elem())
	l.SecretRefs = scanSecrets(top, &errs)
	checkLab(l, top, opts, &errs)
	if len(errs.List) == 0 {
		for _, v := range opts.Validators {
			v(l, &errs)
		}
	}
	if err := errs.Err(); err != nil {
		return nil, err
	}
	return l, nil
}

var yamlLineRe = regexp.MustCompile(`^yaml: line (\d+): (.*)$`)

// yamlSyntaxError extracts the line from a yaml.v3 syntax error.
func yamlSyntaxError(err error) (int, string) {
	m := yamlLineRe.FindStringSubmatch(err.Error())
	if m == nil {
		return 1, "invalid YAML: " + err.Error()
	}
	line, _ := strconv.Atoi(m[1])
	return line, "invalid YAML: " + m[2]
}
