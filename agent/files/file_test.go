package files

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"github.com/homelab-agent/homelab-agent/agent/resource"
	"github.com/homelab-agent/homelab-agent/agent/secrets"
)

func env(root string) *resource.Env {
	return &resource.Env{Root: root, Secrets: secrets.FromMap(map[string]string{"TOKEN": "s3cr3t-value"})}
}

func TestCreateUpdateModeOnly(t *testing.T) {
	root := t.TempDir()
	f := &File{Path: "/etc/x/app.conf", Content: []byte("a=1\ntoken=${secret:TOKEN}\n"), Mode: 0o640}
	ch, err := f.CheckApply(context.Background(), env(root), true)
	if err != nil || ch == nil || ch.Action != "create" {
		t.Fatalf("create: %v %+v", err, ch)
	}
	if strings.Contains(ch.Diff, "s3cr3t-value") || !strings.Contains(ch.Diff, "«secret:TOKEN»") {
		t.Errorf("diff must redact the secret: %q", ch.Diff)
	}
	p := filepath.Join(root, "etc/x/app.conf")
	if data, _ := os.ReadFile(p); string(data) != "a=1\ntoken=s3cr3t-value\n" {
		t.Fatalf("content %q", data)
	}
	fi, _ := os.Stat(p)
	if fi.Mode().Perm() != 0o640 {
		t.Errorf("mode %v", fi.Mode())
	}
	ino := fi.Sys().(*syscall.Stat_t).Ino

	// Only the mode drifted: fixed in place, not rewritten.
	os.Chmod(p, 0o666)
	ch, err = f.CheckApply(context.Background(), env(root), true)
	if err != nil || ch == nil || ch.Summary != "mode 0666 -> 0640" || ch.Diff != "" {
		t.Fatalf("mode drift: %v %+v", err, ch)
	}
	fi, _ = os.Stat(p)
	if fi.Mode().Perm() != 0o640 || fi.Sys().(*syscall.Stat_t).Ino != ino {
		t.Errorf("mode fix rewrote the file or missed: %v", fi.Mode())
	}

	// Content drift: a diff naming both sides, then a new inode (atomic rename).
	os.WriteFile(p, []byte("a=2\ntoken=s3cr3t-value\n"), 0o640)
	ch, _ = f.CheckApply(context.Background(), env(root), false)
	if ch == nil || !strings.Contains(ch.Diff, "-a=2") || !strings.Contains(ch.Diff, "+a=1") {
		t.Fatalf("content drift diff: %+v", ch)
	}
	if _, err := f.CheckApply(context.Background(), env(root), true); err != nil {
		t.Fatal(err)
	}
	if ch, _ := f.CheckApply(context.Background(), env(root), false); ch != nil {
		t.Errorf("not converged: %+v", ch)
	}
}

func TestDirectoryInTheWay(t *testing.T) {
	root := t.TempDir()
	os.MkdirAll(filepath.Join(root, "etc/app.conf"), 0o755)
	f := &File{Path: "/etc/app.conf", Content: []byte("x")}
	if _, err := f.CheckApply(context.Background(), env(root), true); err == nil || !strings.Contains(err.Error(), "is a directory") {
		t.Fatalf("err = %v", err)
	}
}

// TestStaleTempsRemoved: an agent killed between creating its temp file and
// renaming it leaves ".name<digits>"; the next write removes it, and only it.
func TestStaleTempsRemoved(t *testing.T) {
	root := t.TempDir()
	dir := filepath.Join(root, "etc")
	os.MkdirAll(dir, 0o755)
	for _, n := range []string{".named.conf8412345", ".named.conf.bak", "named.conf9"} {
		os.WriteFile(filepath.Join(dir, n), []byte("old"), 0o644)
	}
	f := &File{Path: "/etc/named.conf", Content: []byte("new\n")}
	if _, err := f.CheckApply(context.Background(), env(root), true); err != nil {
		t.Fatal(err)
	}
	entries, _ := os.ReadDir(dir)
	var names []string
	for _, e := range entries {
		names = append(names, e.Name())
	}
	if got := strings.Join(names, ","); got != ".named.conf.bak,named.conf,named.conf9" {
		t.Errorf("files left: %s", got)
	}
}

func TestMissingSecretNamesIt(t *testing.T) {
	f := &File{Path: "/etc/a", Content: []byte("${secret:NOPE}")}
	_, err := f.CheckApply(context.Background(), env(t.TempDir()), false)
	if err == nil || !strings.Contains(err.Error(), "missing secret NOPE") {
		t.Fatalf("err = %v", err)
	}
}
