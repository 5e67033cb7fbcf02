package lab

import (
	"fmt"
	"reflect"
	"slices"

	"gopkg.in/yaml.v3"
)

// Setting is a key of homelab.yaml owned by a role rather than by the lab
// model: a top-level key (dns:, proxy:) or, with Host, a key of the
// role's hosts (gpu:). The strict decoder fills a fresh New() with the
// key's value, with the same errors as the rest of the file.
type Setting struct {
	// Key is the YAML key.
	Key string
	// Host makes it a key of hosts.<name> rather than of the top level.
	Host bool
	// Role is the role that owns the key (filled by the registry): a host
	// key is an error on a host of another role.
	Role string
	// New returns a pointer to the role's zero settings value.
	New func() any
}

// settingsTag marks the field of Lab and Host that holds the role-owned
// keys; where it stands in the struct is where they are listed in the
// "known keys" of an error.
const settingsTag = ",settings"

// RoleSettings holds the decoded values of role-owned keys, by key.
type RoleSettings struct {
	values map[string]any
	pos    map[string]Pos
}

// set records a decoded value and where its key stands.
func (s *RoleSettings) set(key string, v any, p Pos) {
	if s.values == nil {
		s.values, s.pos = map[string]any{}, map[string]Pos{}
	}
	s.values[key], s.pos[key] = v, p
}

// Keys lists the keys set, in no particular order.
func (s *RoleSettings) Keys() []string {
	var out []string
	for k := range s.values {
		out = append(out, k)
	}
	slices.Sort(out)
	return out
}

// Pos is where key stands in homelab.yaml, or the zero Pos when unset.
func (s *RoleSettings) Pos(key string) Pos { return s.pos[key] }

// SettingOf returns the lab's value of a top-level role-owned key, or a
// new zero T when homelab.yaml leaves it out.
func SettingOf[T any](l *Lab, key string) *T { return settingOf[T](&l.Settings, key) }

// HostSettingOf returns a host's value of a role-owned host key, or a new
// zero T when the host leaves it out.
func HostSettingOf[T any](h *Host, key string) *T { return settingOf[T](&h.Settings, key) }

func settingOf[T any](s *RoleSettings, key string) *T {
	if v, ok := s.values[key].(*T); ok {
		return v
	}
	return new(T)
}

// settingsFor returns the role-owned keys of one level (top or host).
func (d *decoder) settingsFor(host bool) []Setting {
	var out []Setting
	for _, s := range d.settings {
		if s.Host == host {
			out = append(out, s)
		}
	}
	return out
}

// decodeSetting decodes a role-owned key's value into the role's type.
func (d *decoder) decodeSetting(s Setting, k, val *yaml.Node, into *RoleSettings) {
	v := s.New()
	rv := reflect.ValueOf(v)
	if rv.Kind() != reflect.Pointer {
		panic(fmt.Sprintf("lab: setting %q: New must return a pointer", s.Key))
	}
	d.decode(val, rv.Elem())
	into.set(s.Key, v, Pos{Line: k.Line, Col: k.Column})
}

// checkHostSettings reports role-owned host keys on hosts of other roles.
func checkHostSettings(l *Lab, opts Options, errs *Errors) {
	owner := map[string]string{}
	for _, s := range opts.Settings {
		if s.Host {
			owner[s.Key] = s.Role
		}
	}
	for _, h := range l.Hosts {
		for _, k := range h.Settings.Keys() {
			if r := owner[k]; r != "" && h.Role != "" && h.Role != r {
				errs.At(h.Settings.Pos(k), "host %s: key %q is for hosts of role %s, not %s", h.Name, k, r, h.Role)
			}
		}
	}
}
