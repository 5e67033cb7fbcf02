package files

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/homelab-agent/homelab-agent/agent/resource"
	"github.com/homelab-agent/homelab-agent/agent/secrets"
)

// planDiff writes old at the file's path and returns the plan's diff.
func planDiff(t *testing.T, f *File, old string, values map[string]string) string {
	t.Helper()
	root := t.TempDir()
	if old != "" {
		p := filepath.Join(root, f.Path)
		os.MkdirAll(filepath.Dir(p), 0o755)
		os.WriteFile(p, []byte(old), 0o644)
	}
	ch, err := f.CheckApply(context.Background(), &resource.Env{Root: root, Secrets: secrets.FromMap(values)}, false)
	if err != nil || ch == nil {
		t.Fatalf("plan: %v %+v", err, ch)
	}
	return ch.Diff
}

// After a rotation the old value is no longer in the store: the diff
// must still not show it, nor the new one.
func TestDiffHidesRotatedSecret(t *testing.T) {
	f := &File{Path: "/etc/app.conf", Content: []byte("user=admin\npassword=${secret:DB_PASS}\nport=5432\n")}
	d := planDiff(t, f, "user=admin\npassword=old-value-123\nport=5431\n", map[string]string{"DB_PASS": "new-value-456"})
	for _, bad := range []string{"old-value-123", "new-value-456"} {
		if strings.Contains(d, bad) {
			t.Fatalf("diff shows %s:\n%s", bad, d)
		}
	}
	for _, want := range []string{" user=admin\n", "-«secret:DB_PASS changed»\n", "+«secret:DB_PASS changed»\n", "-port=5431\n", "+port=5432\n"} {
		if !strings.Contains(d, want) {
			t.Fatalf("diff lacks %q:\n%s", want, d)
		}
	}
	// Unchanged secret line: shown as context without the value.
	d = planDiff(t, f, "user=root\npassword=new-value-456\nport=5432\n", map[string]string{"DB_PASS": "new-value-456"})
	if strings.Contains(d, "new-value-456") || !strings.Contains(d, " «secret:DB_PASS»\n") || !strings.Contains(d, "-user=root\n") {
		t.Fatalf("unchanged secret line:\n%s", d)
	}
}

// A line made only of a reference (a key file, a multi-line value): the
// old lines it replaced are hidden, however many they were.
func TestDiffHidesReplacedMultilineSecret(t *testing.T) {
	f := &File{Path: "/etc/tls/key.pem", Content: []byte("# managed\n${secret:TLS_KEY}\n# end\n")}
	old := "# managed\n-----BEGIN KEY-----\nOLDKEYMATERIAL1\nOLDKEYMATERIAL2\n-----END KEY-----\n# end\n"
	d := planDiff(t, f, old, map[string]string{"TLS_KEY": "-----BEGIN KEY-----\nNEWKEYMATERIAL\n-----END KEY-----"})
	if strings.Contains(d, "KEYMATERIAL") || !strings.Contains(d, "«secret:TLS_KEY changed»") || !strings.Contains(d, " # managed") {
		t.Fatalf("multi-line secret:\n%s", d)
	}
}

// A one-character secret does not garble unrelated text in the diff.
func TestDiffShortSecretDoesNotGarble(t *testing.T) {
	f := &File{Path: "/etc/app.conf", Content: []byte("domain=home.example\nflag=${secret:F}\n")}
	d := planDiff(t, f, "domain=home.example.old\nflag=x\n", map[string]string{"F": "e"})
	if !strings.Contains(d, "+domain=home.example\n") || !strings.Contains(d, "-domain=home.example.old\n") || strings.Contains(d, "flag=") {
		t.Fatalf("short secret:\n%s", d)
	}
}
