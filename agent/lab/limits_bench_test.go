package lab_test

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/homelab-agent/homelab-agent/agent/lab"
	"github.com/homelab-agent/homelab-agent/agent/role"
)

// limitSize is the size the pathological inputs grow to: the limit on
// homelab.yaml, so each shows the worst the parser does with an input it
// does not refuse for its size.
const limitSize = lab.MaxFileSize

const labHead = "domain: home.example\nnetwork: {cidr: 10.0.0.0/8, gateway: 10.0.0.1}\n"

// grow repeats line(i) after head while the result fits in size.
func grow(head string, size int, line func(i int) string, tail string) []byte {
	return growN(head, size, -1, line, tail)
}

// growN is grow with at most n lines (n < 0: no bound).
func growN(head string, size, n int, line func(i int) string, tail string) []byte {
	var b strings.Builder
	b.WriteString(head)
	for i := 0; i != n; i++ {
		l := line(i)
		if b.Len()+len(l)+len(tail) > size {
			break
		}
		b.WriteString(l)
	}
	b.WriteString(tail)
	return []byte(b.String())
}

// pathological are inputs that once took seconds to minutes and gigabytes.
func pathological() map[string][]byte {
	hostIP := func(i int) string { return fmt.Sprintf("10.%d.%d.%d", i>>16&255, i>>8&255, i&255+2) }
	return map[string][]byte{
		// An unclosed flow sequence nested as deep as the file allows: the
		// second parser (for the error's position) was quadratic in depth.
		"deep-flow-open": []byte(labHead + "hosts: " + strings.Repeat("[", limitSize-len(labHead)-7)),
		"deep-flow-closed": []byte(labHead + "hosts: " + strings.Repeat("[", (limitSize-len(labHead)-7)/2) +
			strings.Repeat("]", (limitSize-len(labHead)-7)/2)),
		"deep-flow-mapping": grow(labHead+"hosts: ", limitSize, func(int) string { return "{a: " }, ""),
		"deep-block":        grow(labHead+"hosts:\n", limitSize, func(i int) string { return strings.Repeat(" ", i+1) + "a:\n" }, ""),
		// One error per line or more.
		"many-errors": grow(labHead+"hosts:\n", limitSize, func(i int) string {
			return fmt.Sprintf("  h%d: {ip: 10.0.0.%d, role: nope, vm: {vmid: 1}}\n", i, i%250+2)
		}, ""),
		"many-unknown-keys": grow(labHead, limitSize, func(i int) string { return fmt.Sprintf("k%d: 1\n", i) }, ""),
		// Every host's allow list is one anchored list of 200 flows.
		"alias-allow": growN(labHead+"hosts:\n  h0: {ip: 10.0.0.2, role: dns, allow: &al ["+
			strings.Repeat("{from: h1, port: 53, proto: udp}, ", 200)+"]}\n", limitSize, lab.MaxListItems-1, func(i int) string {
			return fmt.Sprintf("  h%d: {ip: %s, role: dns, allow: *al}\n", i+1, hostIP(i+1))
		}, ""),
		// One anchored app repeated as every item of apps: (each reads its
		// compose file and is checked by its role).
		"alias-apps": grow(labHead+"hosts:\n  h0: {ip: 10.0.0.2, role: jellyfin}\napps:\n  - &a {host: h0, name: whoami, compose: apps/whoami/compose.yaml}\n",
			limitSize, func(int) string { return "  - *a\n" }, ""),
		// Billion laughs: ten levels of ten aliases, under bootstrap.ssh_keys.
		"alias-laughs": func() []byte {
			var b strings.Builder
			b.WriteString(labHead + "hosts: {h0: {ip: 10.0.0.2, role: dns}}\nbootstrap:\n  ssh_keys: &l0 [a, a, a, a, a, a, a, a, a, a]\n")
			for i := 1; i < 10; i++ {
				fmt.Fprintf(&b, "  node%d: &l%d [%s]\n", i, i, strings.TrimSuffix(strings.Repeat(fmt.Sprintf("*l%d, ", i-1), 10), ", "))
			}
			b.WriteString("  user: *l9\n")
			return []byte(b.String())
		}(),
		// Many distinct apps on a host whose role checks every compose file.
		"many-apps": grow(labHead+"hosts:\n  h0: {ip: 10.0.0.2, role: jellyfin}\napps:\n", limitSize, func(i int) string {
			return fmt.Sprintf("  - {host: h0, name: a%d, compose: apps/whoami/compose.yaml}\n", i)
		}, ""),
		// As many errors as the list limit lets through, several per host.
		"max-errors": growN(labHead+"hosts:\n", limitSize, lab.MaxListItems, func(i int) string {
			return fmt.Sprintf("  h%d: {ip: 10.0.0.%d, role: nope, vm: {vmid: 1, cores: 0}, allow: [{from: x, port: 0, proto: sctp}]}\n", i, i%250+2)
		}, ""),
		// As many distinct apps as allowed, each compose file parsed by the role's check.
		"max-apps": growN(labHead+"hosts:\n  h0: {ip: 10.0.0.2, role: jellyfin}\napps:\n", limitSize, lab.MaxListItems, func(i int) string {
			return fmt.Sprintf("  - {host: h0, name: a%d, compose: apps/whoami/compose.yaml}\n", i)
		}, ""),
		// As many hosts as allowed, each with a long allow list.
		"max-hosts-allow": growN(labHead+"hosts:\n", limitSize, lab.MaxListItems, func(i int) string {
			return fmt.Sprintf("  h%d: {ip: %s, role: dns, allow: [%s]}\n", i, hostIP(i),
				strings.Repeat(fmt.Sprintf("{from: h%d, port: 53}, ", (i+1)%lab.MaxListItems), 8))
		}, ""),
		// A syntax error at the end of the largest file the second parser
		// is asked to locate one in.
		"locatable-syntax-error": grow(labHead+"hosts:\n", 64<<10-20, func(i int) string {
			return fmt.Sprintf("  h%d:\n    ip: %s\n    role: dns\n", i, hostIP(i))
		}, "bad: [\n  x: y\n"),
		// Many hosts, each allowing flows from another.
		"many-hosts-allow": grow(labHead+"hosts:\n", limitSize, func(i int) string {
			return fmt.Sprintf("  h%d: {ip: %s, role: dns, allow: [{from: h%d, port: 53}]}\n", i, hostIP(i), i/2)
		}, ""),
		// Aliases and a syntax error at the end (the second parser runs).
		"alias-syntax-error": grow(labHead+"x: &a [1, 2, 3, 4, 5, 6, 7, 8, 9, 10]\ny: [", limitSize, func(int) string { return "*a, " }, "\n  bad: ["),
		// Many syntax errors' worth of junk.
		"junk": grow("", limitSize, func(i int) string { return "- : [{ ]] }}: -: &x *y !z |\n" }, ""),
	}
}

// BenchmarkParsePathological measures each pathological input. The
// target: every input up to the size limit is accepted or refused in
// under a second and 100 MB of allocations.
func BenchmarkParsePathological(b *testing.B) {
	dir := filepath.Join(fixtures, "lab")
	opts := role.LabOptions()
	inputs := pathological()
	for _, name := range sortedKeys(inputs) {
		data := inputs[name]
		b.Run(name, func(b *testing.B) {
			b.SetBytes(int64(len(data)))
			b.ReportAllocs()
			for b.Loop() {
				lab.Parse(dir, data, opts)
			}
		})
	}
}

func sortedKeys(m map[string][]byte) []string {
	var ks []string
	for k := range m {
		ks = append(ks, k)
	}
	for i := range ks {
		for j := i + 1; j < len(ks); j++ {
			if ks[j] < ks[i] {
				ks[i], ks[j] = ks[j], ks[i]
			}
		}
	}
	return ks
}

var _ = os.ReadFile
