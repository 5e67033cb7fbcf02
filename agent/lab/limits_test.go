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

// parseErr parses data in dir and returns the error text (fails on success).
func parseErr(t *testing.T, dir string, data []byte) string {
	t.Helper()
	l, err := lab.Parse(dir, data, role.LabOptions())
	if err == nil {
		t.Fatalf("accepted: %+v", l)
	}
	if _, ok := err.(*lab.Errors); !ok {
		t.Fatalf("error is %T, want *lab.Errors: %v", err, err)
	}
	return err.Error()
}

func TestLimitFileSize(t *testing.T) {
	got := parseErr(t, t.TempDir(), make([]byte, lab.MaxFileSize+1))
	if want := "homelab.yaml:1:1: homelab.yaml is larger than the limit of 256 KiB (262145 bytes)"; got != want {
		t.Fatalf("got %q, want %q", got, want)
	}
	// Load never reads a huge file whole: a sparse 64 GiB homelab.yaml.
	dir := t.TempDir()
	f, err := os.Create(filepath.Join(dir, lab.LabFile))
	if err != nil {
		t.Fatal(err)
	}
	if err := f.Truncate(64 << 30); err != nil {
		t.Fatal(err)
	}
	f.Close()
	_, err = lab.Load(dir, role.LabOptions())
	if err == nil || err.Error() != "homelab.yaml:1:1: homelab.yaml is larger than the limit of 256 KiB (68719476736 bytes)" {
		t.Fatalf("Load: %v", err)
	}
}

func TestLimitDepth(t *testing.T) {
	data := labHead + "hosts: " + strings.Repeat("{a: ", 40) + "1" + strings.Repeat("}", 40) + "\n"
	got := parseErr(t, t.TempDir(), []byte(data))
	// The document is level 0, the top mapping 1, hosts' value 2: the
	// 33rd level is the key of the 31st "{a:" (each opens at column 8 + 4*i).
	if want := fmt.Sprintf("homelab.yaml:3:%d: nested deeper than 32 levels", 8+4*30+1); got != want {
		t.Fatalf("got %q, want %q", got, want)
	}
	// Deeper than yaml.v3's own limit, and unclosed: one line, quickly.
	for _, data := range []string{
		labHead + "hosts: " + strings.Repeat("[", 20000) + strings.Repeat("]", 20000),
		labHead + "hosts: " + strings.Repeat("[", 200000),
	} {
		got := parseErr(t, t.TempDir(), []byte(data))
		if !strings.HasPrefix(got, "homelab.yaml:") || !strings.Contains(got, "invalid YAML") || strings.Contains(got, "\n") {
			t.Fatalf("got %q", got)
		}
	}
}

func TestLimitListItems(t *testing.T) {
	data := growN(labHead+"hosts:\n", lab.MaxFileSize, lab.MaxListItems+1, func(i int) string {
		return fmt.Sprintf("  h%d: {ip: 10.0.%d.%d, role: dns}\n", i, i/200, i%200+2)
	}, "")
	got := parseErr(t, t.TempDir(), data)
	if want := "homelab.yaml:4:3: a mapping has 257 entries; the limit is 256"; got != want {
		t.Fatalf("got %q, want %q", got, want)
	}
}

func TestLimitAliases(t *testing.T) {
	_, err := lab.Parse(t.TempDir(), pathological()["alias-allow"], role.LabOptions())
	errs, ok := err.(*lab.Errors)
	if !ok {
		t.Fatalf("err = %v", err)
	}
	var got []string
	for _, e := range errs.List {
		if strings.Contains(e.Msg, "aliases expand") {
			got = append(got, e.Error())
		}
	}
	// Host h0 allows 200 flows; h1 to h7 share them (1401 values each);
	// h8's alias (line 12) is the one that passes 10000.
	if want := "homelab.yaml:12:41: aliases expand to more than 10000 values (the limit against alias bombs); write the values out or share fewer"; len(got) != 1 || got[0] != want {
		t.Fatalf("got %q, want once %q", got, want)
	}
	// Sharing a mapping a few times is fine.
	data := labHead + "hosts:\n  h1: &h {ip: 10.0.0.2, role: dns, vm: &vm {cores: 2, memory: 2048}}\n  h2: {ip: 10.0.0.3, role: dns, vm: *vm}\n"
	if _, err := lab.Parse(t.TempDir(), []byte(data), role.LabOptions()); err != nil {
		t.Fatalf("a shared vm mapping: %v", err)
	}
}

func TestLimitErrorsListed(t *testing.T) {
	data := grow(labHead+"hosts:\n", 1<<20, func(i int) string {
		if i >= 200 {
			return strings.Repeat("x", 1<<20)
		}
		return fmt.Sprintf("  h%d: {ip: 10.0.0.%d, role: nope}\n", i, i+2)
	}, "")
	got := parseErr(t, t.TempDir(), data)
	lines := strings.Split(got, "\n")
	if len(lines) != lab.MaxErrors+1 {
		t.Fatalf("%d lines, want %d problems and a count", len(lines), lab.MaxErrors)
	}
	if !strings.HasPrefix(lines[0], "homelab.yaml:4:28: unknown role \"nope\"") {
		t.Fatalf("first line %q: want the first problem in file order", lines[0])
	}
	if last := lines[len(lines)-1]; last != "... and 150 more problems (fix these first)" {
		t.Fatalf("last line %q", last)
	}
}

func TestLimitRepoFiles(t *testing.T) {
	dir := t.TempDir()
	write := func(name string, size int) {
		if err := os.WriteFile(filepath.Join(dir, name), []byte("services: {}\n"+strings.Repeat("#", size-13)), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	write("big.yaml", lab.MaxRepoFileSize+1)
	head := labHead + "hosts:\n  h0: {ip: 10.0.0.2, role: dns}\napps:\n"
	got := parseErr(t, dir, []byte(head+"  - {host: h0, name: big, compose: big.yaml}\n"))
	if want := `homelab.yaml:6:36: compose file "big.yaml" is larger than the limit of 1 MiB (1048577 bytes)`; got != want {
		t.Fatalf("got %q, want %q", got, want)
	}
	// Seventeen files of 1 MiB: more than the lab may read in all.
	var b strings.Builder
	b.WriteString(head)
	for i := range 17 {
		write(fmt.Sprintf("c%d.yaml", i), lab.MaxRepoFileSize)
		fmt.Fprintf(&b, "  - {host: h0, name: a%d, compose: c%d.yaml}\n", i, i)
	}
	got = parseErr(t, dir, []byte(b.String()))
	if !strings.Contains(got, `homelab.yaml:22:36: compose file "c16.yaml": the files homelab.yaml names add up to more than the limit of 16 MiB`) {
		t.Fatalf("got %q", got)
	}
}

// TestPathologicalInputsRefused parses every input of the benchmark: each
// is refused with located errors (the benchmark measures how fast).
func TestPathologicalInputsRefused(t *testing.T) {
	dir := filepath.Join(fixtures, "lab")
	for name, data := range pathological() {
		t.Run(name, func(t *testing.T) {
			if len(data) > lab.MaxFileSize {
				t.Fatalf("input is %d bytes, over the limit", len(data))
			}
			got := parseErr(t, dir, data)
			for _, line := range strings.Split(got, "\n") {
				if !strings.HasPrefix(line, "homelab.yaml:") && !strings.HasPrefix(line, "... and ") {
					t.Fatalf("line %q is not located", line)
				}
			}
		})
	}
}
