package secrets

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/homelab-agent/homelab-agent/internal/testreq"
)

func TestFind(t *testing.T) {
	refs := Find("a ${secret:ONE} b ${secret:bad-name} c ${secret:TWO")
	if len(refs) != 3 || refs[0].Name != "ONE" || refs[0].Offset != 2 || refs[0].Problem != "" ||
		!strings.Contains(refs[1].Problem, "invalid secret name") || !strings.Contains(refs[2].Problem, "unterminated") {
		t.Fatalf("refs = %+v", refs)
	}
	if got := Names("${secret:B} ${secret:A} ${secret:B}"); strings.Join(got, ",") != "A,B" {
		t.Errorf("Names = %v", got)
	}
}

func TestLoadFileAndEnv(t *testing.T) {
	root := t.TempDir()
	p := filepath.Join(root, File)
	os.MkdirAll(filepath.Dir(p), 0o755)
	os.WriteFile(p, []byte("# comment\nA=from-file\nB=from-file\nEMPTY=\n"), 0o600)
	s, err := Load(root, []string{"HOMELAB_SECRET_B=from-env", "HOMELAB_SECRET_C=c", "HOMELAB_SECRET_A=", "OTHER=x"})
	if err != nil {
		t.Fatal(err)
	}
	for name, want := range map[string]string{"A": "from-file", "B": "from-env", "C": "c"} {
		if v, _ := s.Lookup(name); v != want {
			t.Errorf("%s = %q, want %q", name, v, want)
		}
	}
	if m := s.Missing([]string{"A", "EMPTY", "OTHER"}); strings.Join(m, ",") != "EMPTY,OTHER" {
		t.Errorf("missing = %v (empty values count as missing)", m)
	}
	os.Chmod(p, 0o644)
	if _, err := Load(root, nil); err == nil || !strings.Contains(err.Error(), "readable by others") {
		t.Errorf("a world-readable secrets file must be refused: %v", err)
	}
	os.Chmod(p, 0o600)
	os.WriteFile(p, []byte("A=\"unterminated\n"), 0o600)
	if _, err := Load(root, nil); err == nil || strings.Contains(err.Error(), "unterminated") {
		t.Errorf("a broken file must be refused without echoing it: %v", err)
	}
}

func TestExpandAndRedact(t *testing.T) {
	s := FromMap(map[string]string{"PW": "hunter2", "LONG": "hunter2-and-more"})
	got, err := s.Expand("u=${secret:PW} l=${secret:LONG}")
	if err != nil || got != "u=hunter2 l=hunter2-and-more" {
		t.Fatalf("Expand = %q, %v", got, err)
	}
	if _, err := s.Expand("${secret:NOPE}"); err == nil || !strings.Contains(err.Error(), "missing secret NOPE") {
		t.Errorf("unknown secret: %v", err)
	}
	if r := s.Redact(got); r != "u=«secret:PW» l=«secret:LONG»" {
		t.Errorf("Redact = %q (the longer value must be hidden whole)", r)
	}
}

// secrets.env owned by another user is refused even with mode 0600: that
// user could feed the agent secrets.
func TestLoadRefusesForeignOwner(t *testing.T) {
	testreq.Root(t)
	root := t.TempDir()
	p := filepath.Join(root, File)
	os.MkdirAll(filepath.Dir(p), 0o755)
	os.WriteFile(p, []byte("A=value-123\n"), 0o600)
	if err := os.Chown(p, 65534, 65534); err != nil {
		t.Fatal(err)
	}
	_, err := Load(root, nil)
	if err == nil || !strings.Contains(err.Error(), "owned by uid 65534") || strings.Contains(err.Error(), "value-123") {
		t.Fatalf("Load of a secrets.env owned by nobody: err %v", err)
	}
	os.Chown(p, 0, 0)
	if _, err := Load(root, nil); err != nil {
		t.Fatalf("Load of root's secrets.env: %v", err)
	}
}

// A short value is hidden only where it stands alone; a long one anywhere.
func TestRedactShortValues(t *testing.T) {
	s := FromMap(map[string]string{"E": "e", "PIN": "4711", "LONG": "long-value-123"})
	for in, want := range map[string]string{
		"home.example":        "home.example",
		"ee e":                "ee «secret:E»",
		"pin 4711, not 47110": "pin «secret:PIN», not 47110",
		"xlong-value-123x":    "x«secret:LONG»x",
		"e":                   "«secret:E»",
		"résumé e":            "résumé «secret:E»",
	} {
		if got := s.Redact(in); got != want {
			t.Errorf("Redact(%q) = %q, want %q", in, got, want)
		}
	}
	if got := s.Holds("code 4711 here"); len(got) != 1 || got[0] != "PIN" {
		t.Errorf("Holds = %v", got)
	}
}
