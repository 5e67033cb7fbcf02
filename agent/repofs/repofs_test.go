package repofs_test

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/homelab-agent/homelab-agent/agent/repofs"
)

func TestReadFileStaysInTheRepo(t *testing.T) {
	top := t.TempDir()
	repo := filepath.Join(top, "repo")
	os.MkdirAll(filepath.Join(repo, "apps", "x"), 0o755)
	secret := filepath.Join(top, "secret")
	os.WriteFile(secret, []byte("TOP-SECRET\n"), 0o600)
	os.WriteFile(filepath.Join(repo, "common.env"), []byte("A=1\n"), 0o644)
	must := func(err error) {
		if err != nil {
			t.Fatal(err)
		}
	}
	must(os.Symlink("../../common.env", filepath.Join(repo, "apps", "x", "inside.env")))
	must(os.Symlink("../../../secret", filepath.Join(repo, "apps", "x", "relative.env")))
	must(os.Symlink(secret, filepath.Join(repo, "apps", "x", "absolute.env")))
	must(os.Symlink("/etc", filepath.Join(repo, "etc")))
	if b, err := repofs.ReadFile(repo, "apps/x/inside.env"); err != nil || string(b) != "A=1\n" {
		t.Fatalf("link inside the repo: %q, %v", b, err)
	}
	for _, rel := range []string{"apps/x/relative.env", "apps/x/absolute.env", "etc/passwd", "../secret"} {
		b, err := repofs.ReadFile(repo, rel)
		if !errors.Is(err, repofs.ErrOutside) || b != nil || strings.Contains(err.Error(), "TOP-SECRET") || strings.Contains(err.Error(), top+"/secret") {
			t.Errorf("%s: %q, %v; want ErrOutside", rel, b, err)
		}
	}
	if _, err := repofs.ReadFile(repo, "missing.yaml"); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("missing: %v", err)
	}
	if _, err := repofs.ReadFile(repo, "apps"); !errors.Is(err, repofs.ErrNotRegular) {
		t.Errorf("folder: %v", err)
	}
}
