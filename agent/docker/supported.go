package docker

import (
	"fmt"
	"sort"
	"strings"

	"gopkg.in/yaml.v3"
)

// keyset is a set of compose keys the converger honours; "*" below a key
// means any sub-key is fine (free-form maps such as environment).
type keyset map[string]keyset

var (
	anyKey = keyset{"*": nil}
	leaf   = keyset(nil)
)

// supportedKeys is the compose subset the agent implements. A key outside
// it is an error naming the file, line and key: silently ignoring a key
// would run something other than what the file says.
var supportedKeys = keyset{
	"name": leaf, "version": leaf,
	"services": {"*": {
		"image": leaf, "container_name": leaf, "command": leaf, "entrypoint": leaf,
		"environment": leaf, "env_file": leaf, "labels": leaf, "user": leaf,
		"working_dir": leaf, "hostname": leaf, "domainname": leaf, "restart": leaf,
		"depends_on": {"*": {"condition": leaf, "required": leaf}},
		"healthcheck": {"test": leaf, "interval": leaf, "timeout": leaf, "retries": leaf,
			"start_period": leaf, "disable": leaf},
		"volumes": {"*": {"type": leaf, "source": leaf, "target": leaf, "read_only": leaf,
			"bind": {"create_host_path": leaf}, "tmpfs": {"size": leaf}}},
		"networks":    {"*": {"aliases": leaf}},
		"ports":       {"*": {"target": leaf, "published": leaf, "host_ip": leaf, "protocol": leaf, "mode": leaf}},
		"expose":      leaf,
		"devices":     leaf,
		"group_add":   leaf,
		"shm_size":    leaf,
		"tmpfs":       leaf,
		"cap_add":     leaf,
		"cap_drop":    leaf,
		"extra_hosts": leaf, "dns": leaf, "dns_search": leaf, "init": leaf,
		"stop_signal": leaf, "stop_grace_period": leaf, "read_only": leaf, "tty": leaf,
		"stdin_open": leaf, "privileged": leaf, "pull_policy": leaf, "sysctls": leaf,
		"ulimits": leaf, "security_opt": leaf, "mem_limit": leaf, "network_mode": leaf,
		"logging": {"driver": leaf, "options": leaf}, "profiles": leaf,
		"extends": {"service": leaf},
	}},
	"networks": {"*": {"name": leaf, "driver": leaf, "driver_opts": leaf, "external": leaf,
		"internal": leaf, "labels": leaf, "attachable": leaf}},
	"volumes": {"*": {"name": leaf, "driver": leaf, "driver_opts": leaf, "external": leaf, "labels": leaf}},
}

// hints explain the most common unsupported keys.
var hints = map[string]string{
	"build":    "build the image elsewhere and push it to a registry",
	"deploy":   "swarm deploy settings; use mem_limit, restart and so on instead",
	"secrets":  "write ${secret:NAME} in environment instead",
	"configs":  "render the file with the agent and bind-mount it",
	"include":  "list the files in homelab.yaml instead",
	"file":     "extends from another file; keep the base service in the same file",
	"links":    "services reach each other by name on the project network",
	"scale":    "one container per service",
	"develop":  "development-only",
	"platform": "pull the right image for the host",
}

// UnsupportedError names a compose key the agent does not implement.
type UnsupportedError struct {
	File      string
	Line, Col int
	Key       string // dotted path, e.g. services.web.build
}

func (e *UnsupportedError) Error() string {
	last := e.Key[strings.LastIndexByte(e.Key, '.')+1:]
	msg := fmt.Sprintf("%s:%d:%d: %s: not supported by homelab-agent", e.File, e.Line, e.Col, e.Key)
	if h := hints[last]; h != "" {
		msg += " (" + h + ")"
	}
	return msg
}

// checkSupported walks a compose file's YAML and returns the first key
// outside supportedKeys, by position.
func checkSupported(f File) error {
	var doc yaml.Node
	if err := yaml.Unmarshal(f.Content, &doc); err != nil {
		return fmt.Errorf("%s: invalid YAML: %w", f.Name, err)
	}
	if len(doc.Content) == 0 {
		return fmt.Errorf("%s: empty compose file", f.Name)
	}
	var found []*UnsupportedError
	var walk func(n *yaml.Node, ks keyset, path string)
	walk = func(n *yaml.Node, ks keyset, path string) {
		if ks == nil {
			return
		}
		switch n.Kind {
		case yaml.AliasNode:
			walk(n.Alias, ks, path)
		case yaml.SequenceNode:
			// List items (volumes, ports, ...) are checked against the "*" entry.
			if sub, ok := ks["*"]; ok {
				for _, c := range n.Content {
					walk(c, sub, path)
				}
			}
		case yaml.MappingNode:
			for i := 0; i+1 < len(n.Content); i += 2 {
				k, v := n.Content[i], n.Content[i+1]
				key := k.Value
				p := strings.TrimPrefix(path+"."+key, ".")
				if strings.HasPrefix(key, "x-") || key == "<<" {
					if key == "<<" {
						walk(v, ks, path)
					}
					continue
				}
				sub, ok := ks[key]
				if !ok {
					sub, ok = ks["*"]
				}
				if !ok {
					found = append(found, &UnsupportedError{File: f.Name, Line: k.Line, Col: k.Column, Key: p})
					continue
				}
				walk(v, sub, p)
			}
		}
	}
	walk(doc.Content[0], supportedKeys, "")
	if len(found) == 0 {
		return nil
	}
	sort.SliceStable(found, func(i, j int) bool { return found[i].Line < found[j].Line })
	return found[0]
}
