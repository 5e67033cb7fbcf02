package pvesim

import (
	"fmt"
	"net/netip"
	"net/url"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
)

// Validate checks a request's parameters (path placeholders included)
// against the method's schema the way PVE::JSONSchema does, and returns
// Proxmox's per-parameter error messages; nil means the request is valid.
func (m *Method) Validate(vars map[string]string, form url.Values) map[string]string {
	errs := map[string]string{}
	values := map[string]string{}
	for k, v := range vars {
		values[k] = v
	}
	for k, vs := range form {
		if len(vs) > 1 {
			errs[k] = "duplicate parameter"
			continue
		}
		if _, isVar := vars[k]; isVar && vs[0] != vars[k] {
			errs[k] = "parameter conflicts with the path"
			continue
		}
		values[k] = vs[0]
	}
	for k, v := range values {
		p := m.param(k)
		if p == nil {
			errs[k] = "property is not defined in schema and the schema does not allow additional properties"
			continue
		}
		if msg := checkValue(p, v); msg != "" {
			errs[k] = msg
		}
		if p.Requires != "" {
			if _, ok := values[p.Requires]; !ok {
				errs[p.Requires] = fmt.Sprintf("missing property - '%s' requires this property", k)
			}
		}
	}
	for k, p := range m.Parameters.Properties {
		if bool(p.Optional) || strings.Contains(k, "[n]") {
			continue
		}
		if _, ok := values[k]; !ok {
			errs[k] = "property is missing and it is not optional"
		}
	}
	if len(errs) == 0 {
		return nil
	}
	return errs
}

var indexedRe = regexp.MustCompile(`^([a-z_-]+?)(\d+)$`)
var nMaxRe = regexp.MustCompile(`n is 0 to (\d+)`)

// param finds a parameter's schema; "net3" resolves to the "net[n]" family.
func (m *Method) param(name string) *Prop {
	if p, ok := m.params[name]; ok {
		return p
	}
	sub := indexedRe.FindStringSubmatch(name)
	if sub == nil {
		return nil
	}
	p, ok := m.params[sub[1]+"[n]"]
	if !ok {
		return nil
	}
	if mm := nMaxRe.FindStringSubmatch(p.Description); mm != nil {
		maxN, _ := strconv.Atoi(mm[1])
		if n, _ := strconv.Atoi(sub[2]); n > maxN {
			return nil
		}
	}
	return p
}

var (
	boolRe   = regexp.MustCompile(`(?i)^(1|true|yes|on|0|false|no|off)$`)
	intRe    = regexp.MustCompile(`^[+-]?\d+$`)
	numberRe = regexp.MustCompile(`^[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?$`)
)

// checkValue checks one value against one schema; "" means valid.
func checkValue(p *Prop, v string) string {
	switch p.Type {
	case "boolean":
		if !boolRe.MatchString(v) {
			return fmt.Sprintf("type check ('boolean') failed - got '%s'", v)
		}
	case "integer", "number":
		re := intRe
		if p.Type == "number" {
			re = numberRe
		}
		if !re.MatchString(v) {
			return fmt.Sprintf("type check ('%s') failed - got '%s'", p.Type, v)
		}
		f, _ := strconv.ParseFloat(v, 64)
		if p.Minimum != nil && f < float64(*p.Minimum) {
			return fmt.Sprintf("value must have a minimum value of %v", float64(*p.Minimum))
		}
		if p.Maximum != nil && f > float64(*p.Maximum) {
			return fmt.Sprintf("value must have a maximum value of %v", float64(*p.Maximum))
		}
	case "string", "":
		if p.MaxLength != nil && len(v) > *p.MaxLength {
			return fmt.Sprintf("value may only be %d characters long", *p.MaxLength)
		}
		if p.MinLength != nil && len(v) < *p.MinLength {
			return fmt.Sprintf("value must be at least %d characters long", *p.MinLength)
		}
	}
	if len(p.Enum) > 0 && !slices.Contains(p.Enum, v) {
		return fmt.Sprintf("value '%s' does not have a value in the enumeration '%s'", v, strings.Join(p.Enum, ", "))
	}
	if p.re != nil && !p.re.MatchString(v) {
		return "value does not match the regex pattern"
	}
	if p.Format != nil {
		if msg := checkPropertyString(p.Format, v); msg != "" {
			return "invalid format - " + msg
		}
		return ""
	}
	if p.FormatName != "" {
		if msg := checkFormat(p.FormatName, v); msg != "" {
			return "invalid format - " + msg
		}
	}
	return ""
}

// ParsePropertyString splits "virtio=AA:..,bridge=vmbr1" into keys the way
// PVE::JSONSchema::parse_property_string does: a part without "=" is the
// value of the format's default key, keyAlias keys (net's "virtio=MAC")
// set both their alias and the keyAlias key, and alias keys are renamed.
func ParsePropertyString(format map[string]*Prop, s string) (map[string]string, error) {
	out := map[string]string{}
	if s == "" {
		return out, nil
	}
	defKey := ""
	for k, p := range format {
		if p.DefaultKey {
			defKey = k
		}
	}
	for _, part := range splitParts(s) {
		k, v, hasEq := strings.Cut(part, "=")
		if !hasEq {
			if defKey == "" {
				return nil, fmt.Errorf("value without key, but schema does not define a default key")
			}
			if _, dup := out[defKey]; dup {
				return nil, fmt.Errorf("default key '%s' was already set", defKey)
			}
			out[defKey] = part
			continue
		}
		p, ok := format[k]
		if !ok {
			return nil, fmt.Errorf("%s: property is not defined in schema", k)
		}
		if p.KeyAlias != "" {
			out[p.KeyAlias] = k
			k = p.Alias
		} else if p.Alias != "" {
			k = p.Alias
		}
		if _, dup := out[k]; dup {
			return nil, fmt.Errorf("duplicate key in comma-separated list property: %s", k)
		}
		out[k] = unquote(v)
	}
	return out, nil
}

// splitParts splits on commas outside double quotes.
func splitParts(s string) []string {
	var parts []string
	var cur strings.Builder
	inQ := false
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c == '"':
			inQ = !inQ
			cur.WriteByte(c)
		case c == ',' && !inQ:
			parts = append(parts, cur.String())
			cur.Reset()
		default:
			cur.WriteByte(c)
		}
	}
	return append(parts, cur.String())
}

func unquote(v string) string {
	if len(v) >= 2 && v[0] == '"' && v[len(v)-1] == '"' {
		return v[1 : len(v)-1]
	}
	return v
}

func checkPropertyString(format map[string]*Prop, s string) string {
	kv, err := ParsePropertyString(format, s)
	if err != nil {
		return "format error\n" + err.Error()
	}
	var msgs []string
	for k, v := range kv {
		p := format[k]
		if p == nil {
			msgs = append(msgs, fmt.Sprintf("%s: property is not defined in schema", k))
			continue
		}
		if msg := checkValue(p, v); msg != "" {
			msgs = append(msgs, fmt.Sprintf("%s: %s", k, msg))
		}
	}
	for k, p := range format {
		if p.Alias != "" || bool(p.Optional) || p.Type == "" {
			continue
		}
		if _, ok := kv[k]; !ok {
			msgs = append(msgs, fmt.Sprintf("%s: property is missing and it is not optional", k))
		}
	}
	if len(msgs) == 0 {
		return ""
	}
	slices.Sort(msgs)
	return "format error\n" + strings.Join(msgs, "\n")
}

// Named formats as PVE registers them (PVE::JSONSchema, PVE::QemuServer,
// PVE::Storage). Formats not listed here are accepted and counted.
var (
	nodeRe      = regexp.MustCompile(`^(?i:[a-z0-9]([a-z0-9\-]*[a-z0-9])?)$`)
	storageIDRe = regexp.MustCompile(`^(?i:[a-z][a-z0-9\-_.]*[a-z0-9])$`)
	volumeIDRe  = regexp.MustCompile(`^(?i:[a-z][a-z0-9\-_.]*[a-z0-9]):(.+)$`)
	bridgeRe    = regexp.MustCompile(`^[-_.\w\d]+$`)
	macRe       = regexp.MustCompile(`^(?i:[a-f0-9][02468ace](?::[a-f0-9]{2}){5})$`)
	urlencRe    = regexp.MustCompile(`^[-%a-zA-Z0-9_.!~*'()]*$`)
	dnsNameRe   = regexp.MustCompile(`^(?i:([a-z0-9]([a-z0-9\-]*[a-z0-9])?\.)*([a-z0-9]([a-z0-9\-]*[a-z0-9])?))$`)
	tagRe       = regexp.MustCompile(`^(?i:[a-z0-9_][a-z0-9_\-+.]*)$`)
	configIDRe  = regexp.MustCompile(`^(?i:[a-z][a-z0-9_-]+)$`)
	diskSizeRe  = regexp.MustCompile(`^\d+(\.\d+)?[KMGT]?$`)
	ifaceRe     = regexp.MustCompile(`^[a-zA-Z][a-zA-Z0-9_.]{1,20}$`)
	contentRe   = regexp.MustCompile(`^(images|rootdir|vztmpl|iso|backup|snippets|import|none)$`)
)

// uncheckedFormats records the named formats seen that the simulator does
// not check (their values pass); see UncheckedFormats.
var (
	uncheckedMu      sync.Mutex
	uncheckedFormats = map[string]bool{}
)

// UncheckedFormats lists the named formats the simulator met but does not
// check, so that tests can see what the schema check did not cover.
func UncheckedFormats() []string {
	uncheckedMu.Lock()
	defer uncheckedMu.Unlock()
	var out []string
	for k := range uncheckedFormats {
		out = append(out, k)
	}
	slices.Sort(out)
	return out
}

var ipconfigFormat = map[string]*Prop{
	"ip":  {Type: "string", Optional: true, FormatName: "pve-ipv4-config"},
	"gw":  {Type: "string", Optional: true, FormatName: "ipv4"},
	"ip6": {Type: "string", Optional: true, FormatName: "pve-ipv6-config"},
	"gw6": {Type: "string", Optional: true, FormatName: "ipv6"},
}

var cicustomFormat = map[string]*Prop{
	"meta":    {Type: "string", Optional: true, FormatName: "pve-volume-id"},
	"network": {Type: "string", Optional: true, FormatName: "pve-volume-id"},
	"user":    {Type: "string", Optional: true, FormatName: "pve-volume-id"},
	"vendor":  {Type: "string", Optional: true, FormatName: "pve-volume-id"},
}

var bootFormat = map[string]*Prop{
	"legacy": {Type: "string", Optional: true, DefaultKey: true, re: regexp.MustCompile(`^[acdn]{1,4}$`)},
	"order":  {Type: "string", Optional: true, re: regexp.MustCompile(`^[a-z0-9]+(;[a-z0-9]+)*$`)},
}

// hostpciFormat is Proxmox's pve-qm-hostpci (PVE/QemuServer/PCI.pm):
// host PCI IDs (the default key, ";"-separated) or a resource mapping,
// and the device's options.
var hostpciFormat = map[string]*Prop{
	"host":          {Type: "string", Optional: true, DefaultKey: true, re: regexp.MustCompile(`^(?i:(?:[a-f0-9]{4,}:)?[a-f0-9]{2}:[a-f0-9]{2}(?:\.[a-f0-9])?(?:;(?:[a-f0-9]{4,}:)?[a-f0-9]{2}:[a-f0-9]{2}(?:\.[a-f0-9])?)*)$`)},
	"mapping":       {Type: "string", Optional: true, re: configIDRe},
	"pcie":          {Type: "boolean", Optional: true},
	"rombar":        {Type: "boolean", Optional: true},
	"romfile":       {Type: "string", Optional: true},
	"x-vga":         {Type: "boolean", Optional: true},
	"legacy-igd":    {Type: "boolean", Optional: true},
	"mdev":          {Type: "string", Optional: true},
	"device-id":     {Type: "string", Optional: true},
	"vendor-id":     {Type: "string", Optional: true},
	"sub-device-id": {Type: "string", Optional: true},
	"sub-vendor-id": {Type: "string", Optional: true},
}

// CheckFormat checks v against a named format of Proxmox's schema; "" is
// valid (or a format the simulator does not check, see UncheckedFormats).
func CheckFormat(name, v string) string { return checkFormat(name, v) }

func checkFormat(name, v string) string {
	bad := func(what string) string { return fmt.Sprintf("value does not look like a valid %s", what) }
	switch name {
	case "pve-node":
		if !nodeRe.MatchString(v) {
			return bad("node name")
		}
	case "pve-vmid":
	case "pve-storage-id":
		if !storageIDRe.MatchString(v) {
			return "storage ID '" + v + "' contains illegal characters"
		}
	case "pve-volume-id":
		if !volumeIDRe.MatchString(v) {
			return "unable to parse volume ID '" + v + "'"
		}
	case "pve-volume-id-or-qm-path":
		if v != "none" && v != "cdrom" && !strings.HasPrefix(v, "/") && !volumeIDRe.MatchString(v) {
			return "unable to parse volume ID '" + v + "'"
		}
	case "pve-volume-id-or-absolute-path":
		if !strings.HasPrefix(v, "/") && !volumeIDRe.MatchString(v) {
			return "unable to parse volume ID '" + v + "'"
		}
	case "pve-bridge-id":
		if !bridgeRe.MatchString(v) {
			return bad("bridge ID")
		}
	case "pve-iface":
		if !ifaceRe.MatchString(v) {
			return bad("interface name")
		}
	case "mac-addr":
		if !macRe.MatchString(v) {
			return bad("MAC address")
		}
	case "urlencoded":
		if !urlencRe.MatchString(v) {
			return "invalid urlencoded string: " + v
		}
	case "dns-name":
		if !dnsNameRe.MatchString(v) {
			return bad("DNS name")
		}
	case "pve-tag-list":
		for _, t := range strings.FieldsFunc(v, func(r rune) bool { return r == ';' || r == ',' || r == ' ' }) {
			if !tagRe.MatchString(t) {
				return "invalid tag '" + t + "'"
			}
		}
	case "pve-configid":
		if !configIDRe.MatchString(v) {
			return "invalid configuration ID '" + v + "'"
		}
	case "pve-configid-list":
		for _, t := range strings.FieldsFunc(v, func(r rune) bool { return r == ';' || r == ',' || r == ' ' || r == '\x00' }) {
			if !configIDRe.MatchString(t) {
				return "invalid configuration ID '" + t + "'"
			}
		}
	case "pve-storage-content":
		if !contentRe.MatchString(v) {
			return "invalid content type '" + v + "'"
		}
	case "pve-storage-content-list":
		for _, t := range strings.Split(v, ",") {
			if !contentRe.MatchString(t) {
				return "invalid content type '" + t + "'"
			}
		}
	case "disk-size":
		if !diskSizeRe.MatchString(v) {
			return "disk size '" + v + "' does not match the regex"
		}
	case "ipv4", "ipv6", "ip":
		a, err := netip.ParseAddr(v)
		if err != nil || (name == "ipv4" && !a.Is4()) || (name == "ipv6" && !a.Is6()) {
			return bad(name + " address")
		}
	case "CIDRv4", "CIDRv6", "CIDR":
		pr, err := netip.ParsePrefix(v)
		if err != nil || (name == "CIDRv4" && !pr.Addr().Is4()) || (name == "CIDRv6" && !pr.Addr().Is6()) {
			return bad("IP address with prefix length")
		}
	case "pve-ipv4-config":
		if v != "dhcp" {
			return checkFormat("CIDRv4", v)
		}
	case "pve-ipv6-config":
		if v != "dhcp" && v != "auto" {
			return checkFormat("CIDRv6", v)
		}
	case "address-list":
		for _, a := range strings.FieldsFunc(v, func(r rune) bool { return r == ' ' || r == ',' || r == ';' }) {
			if _, err := netip.ParseAddr(a); err != nil {
				return "unable to parse address '" + a + "'"
			}
		}
	case "pve-qm-ipconfig":
		if msg := checkPropertyString(ipconfigFormat, v); msg != "" {
			return msg
		}
		kv, _ := ParsePropertyString(ipconfigFormat, v)
		if kv["gw"] != "" && (kv["ip"] == "" || kv["ip"] == "dhcp") {
			return "gateway specified without specifying an IP address"
		}
	case "pve-qm-cicustom":
		return checkPropertyString(cicustomFormat, v)
	case "pve-qm-boot":
		return checkPropertyString(bootFormat, v)
	case "pve-qm-hostpci":
		if msg := checkPropertyString(hostpciFormat, v); msg != "" {
			return msg
		}
		kv, _ := ParsePropertyString(hostpciFormat, v)
		if (kv["host"] == "") == (kv["mapping"] == "") {
			return "either 'host' or 'mapping' must be set"
		}
	default:
		uncheckedMu.Lock()
		uncheckedFormats[name] = true
		uncheckedMu.Unlock()
	}
	return ""
}
