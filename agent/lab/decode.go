package lab

import (
	"fmt"
	"reflect"
	"strconv"
	"strings"

	"gopkg.in/yaml.v3"
)

// decoder turns a YAML node tree into Go values strictly: every unknown key,
// wrong type and duplicate key becomes an Error carrying the node's position,
// and decoding continues so that one run reports every problem.
type decoder struct {
	file string
	errs *Errors
	// settings are the role-owned keys (Options.Settings).
	settings []Setting
	// key is the mapping key whose value is being decoded, for messages.
	key string
	// aliases bounds what aliases expand to (MaxAliasNodes).
	aliases aliasBudget
}

func (d *decoder) errorf(n *yaml.Node, format string, args ...any) {
	d.errs.Add(d.file, n.Line, n.Column, fmt.Sprintf(format, args...))
}

// decode fills v (a pointer) from n.
func (d *decoder) decode(n *yaml.Node, v reflect.Value) {
	if n.Kind == yaml.AliasNode {
		if !d.aliases.take(n, d) {
			return
		}
		n = n.Alias
	}
	if n.Kind == yaml.DocumentNode {
		if len(n.Content) == 0 {
			return
		}
		n = n.Content[0]
	}
	if v.Kind() == reflect.Pointer {
		if isNull(n) {
			return
		}
		if v.Type().Elem().Kind() == reflect.Struct && n.Kind != yaml.MappingNode &&
			!v.Type().Implements(reflect.TypeOf((*nodeUnmarshaler)(nil)).Elem()) {
			// Left nil: a block that is not a mapping (expose: 0) is an
			// error, never an empty block with no position.
			d.errorf(n, "expected a mapping, got %s", describe(n))
			return
		}
		if v.IsNil() {
			v.Set(reflect.New(v.Type().Elem()))
		}
		d.decode(n, v.Elem())
		return
	}
	if pos, ok := v.Addr().Interface().(*Pos); ok {
		*pos = Pos{Line: n.Line, Col: n.Column}
		return
	}
	if hs, ok := v.Addr().Interface().(*Hosts); ok {
		d.decodeHosts(n, hs)
		return
	}
	if u, ok := v.Addr().Interface().(nodeUnmarshaler); ok {
		if msg := u.unmarshalNode(n); msg != "" {
			d.errorf(n, "%s", msg)
		}
		return
	}
	switch v.Kind() {
	case reflect.Struct:
		d.decodeStruct(n, v)
	case reflect.Slice:
		if isNull(n) {
			return
		}
		if n.Kind != yaml.SequenceNode {
			d.errorf(n, "expected a list, got %s", describe(n))
			return
		}
		key := d.key
		s := reflect.MakeSlice(v.Type(), 0, len(n.Content))
		for _, c := range n.Content {
			if et := v.Type().Elem(); et.Kind() == reflect.Pointer && et.Elem().Kind() == reflect.Struct {
				// A list of mappings holds only mappings: the checks and the
				// roles dereference every item and read its position.
				if r := resolve(c); isNull(r) {
					d.errorf(c, "%s: empty list item: expected a mapping", key)
					continue
				} else if r.Kind != yaml.MappingNode {
					d.errorf(c, "%s: expected a mapping, got %s", key, describe(r))
					continue
				}
			}
			ev := reflect.New(v.Type().Elem()).Elem()
			d.decode(c, ev)
			s = reflect.Append(s, ev)
		}
		v.Set(s)
	case reflect.Map:
		if isNull(n) {
			return
		}
		if n.Kind != yaml.MappingNode {
			d.errorf(n, "expected a mapping, got %s", describe(n))
			return
		}
		m := reflect.MakeMapWithSize(v.Type(), len(n.Content)/2)
		seen := map[string]bool{}
		for i := 0; i+1 < len(n.Content); i += 2 {
			k, val := n.Content[i], n.Content[i+1]
			if seen[k.Value] {
				d.errorf(k, "duplicate key %q", k.Value)
				continue
			}
			seen[k.Value] = true
			ev := reflect.New(v.Type().Elem()).Elem()
			d.decode(val, ev)
			m.SetMapIndex(reflect.ValueOf(k.Value).Convert(v.Type().Key()), ev)
		}
		v.Set(m)
	default:
		d.decodeScalar(n, v)
	}
}

// decodeHosts reads the hosts mapping, keeping file order and each name's
// position.
func (d *decoder) decodeHosts(n *yaml.Node, hs *Hosts) {
	if isNull(n) {
		return
	}
	if n.Kind != yaml.MappingNode {
		d.errorf(n, "expected a mapping of host names to hosts, got %s", describe(n))
		return
	}
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, val := n.Content[i], n.Content[i+1]
		if hs.Get(k.Value) != nil {
			d.errorf(k, "duplicate host name %q", k.Value)
			continue
		}
		h := &Host{Name: k.Value, Pos: Pos{Line: k.Line, Col: k.Column}}
		d.decode(val, reflect.ValueOf(h).Elem())
		*hs = append(*hs, h)
	}
}

func (d *decoder) decodeStruct(n *yaml.Node, v reflect.Value) {
	if isNull(n) {
		return
	}
	if n.Kind != yaml.MappingNode {
		d.errorf(n, "expected a mapping, got %s", describe(n))
		return
	}
	t := v.Type()
	fields := map[string]int{}
	var names []string
	var roleKeys map[string]Setting
	var roleInto *RoleSettings
	for i := 0; i < t.NumField(); i++ {
		full := t.Field(i).Tag.Get("yaml")
		if full == settingsTag {
			roleInto = v.Field(i).Addr().Interface().(*RoleSettings)
			roleKeys = map[string]Setting{}
			for _, s := range d.settingsFor(t == reflect.TypeOf(Host{})) {
				roleKeys[s.Key] = s
				names = append(names, s.Key)
			}
			continue
		}
		tag := strings.Split(full, ",")[0]
		if tag == "" || tag == "-" {
			continue
		}
		fields[tag] = i
		names = append(names, tag)
	}
	seen := map[string]bool{}
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, val := n.Content[i], n.Content[i+1]
		idx, ok := fields[k.Value]
		if s, isRole := roleKeys[k.Value]; !ok && isRole {
			if seen[k.Value] {
				d.errorf(k, "duplicate key %q", k.Value)
				continue
			}
			seen[k.Value] = true
			d.decodeSetting(s, k, val, roleInto)
			continue
		}
		if !ok {
			d.errorf(k, "unknown key %q (known keys: %s)", k.Value, strings.Join(names, ", "))
			continue
		}
		if seen[k.Value] {
			d.errorf(k, "duplicate key %q", k.Value)
			continue
		}
		seen[k.Value] = true
		d.key = k.Value
		d.decode(val, v.Field(idx))
		if pf := v.FieldByName(t.Field(idx).Name + "Pos"); pf.IsValid() && pf.Type() == reflect.TypeOf(Pos{}) {
			pf.Set(reflect.ValueOf(Pos{Line: val.Line, Col: val.Column}))
		}
	}
	if pf := v.FieldByName("Pos"); pf.IsValid() && pf.Type() == reflect.TypeOf(Pos{}) && pf.IsZero() {
		pf.Set(reflect.ValueOf(Pos{Line: n.Line, Col: n.Column}))
	}
}

func (d *decoder) decodeScalar(n *yaml.Node, v reflect.Value) {
	if n.Kind != yaml.ScalarNode {
		d.errorf(n, "expected %s, got %s", kindName(v.Kind()), describe(n))
		return
	}
	switch v.Kind() {
	case reflect.String:
		if n.Tag != "!!str" && n.Tag != "!!int" && n.Tag != "!!float" {
			d.errorf(n, "expected a string, got %s", describe(n))
			return
		}
		v.SetString(n.Value)
	case reflect.Bool:
		if n.Tag != "!!bool" {
			d.errorf(n, "expected true or false, got %s", describe(n))
			return
		}
		b, _ := strconv.ParseBool(strings.ToLower(n.Value))
		v.SetBool(b)
	case reflect.Int, reflect.Int64, reflect.Int32:
		i, err := strconv.ParseInt(n.Value, 0, v.Type().Bits())
		if n.Tag != "!!int" || err != nil {
			d.errorf(n, "expected an integer, got %s", describe(n))
			return
		}
		v.SetInt(i)
	default:
		d.errorf(n, "cannot decode into %s", v.Type())
	}
}

// nodeUnmarshaler is implemented by field types that parse their own scalar
// (addresses, prefixes); a non-empty result is the error message.
type nodeUnmarshaler interface {
	unmarshalNode(n *yaml.Node) string
}

// resolve follows an alias to the node it names.
func resolve(n *yaml.Node) *yaml.Node {
	if n.Kind == yaml.AliasNode && n.Alias != nil {
		return n.Alias
	}
	return n
}

func isNull(n *yaml.Node) bool { return n.Kind == yaml.ScalarNode && n.Tag == "!!null" }

func kindName(k reflect.Kind) string {
	switch k {
	case reflect.String:
		return "a string"
	case reflect.Bool:
		return "true or false"
	case reflect.Int, reflect.Int64, reflect.Int32:
		return "an integer"
	}
	return k.String()
}

func describe(n *yaml.Node) string {
	switch n.Kind {
	case yaml.MappingNode:
		return "a mapping"
	case yaml.SequenceNode:
		return "a list"
	case yaml.ScalarNode:
		switch n.Tag {
		case "!!null":
			return "null"
		case "!!bool":
			return "boolean " + n.Value
		case "!!int":
			return "integer " + n.Value
		case "!!float":
			return "number " + n.Value
		}
		return strconv.Quote(n.Value)
	}
	return "an alias"
}
