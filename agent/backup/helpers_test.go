package backup

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"github.com/homelab-agent/homelab-agent/agent/backup/backuptest"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/homelab-agent/homelab-agent/agent/lab"
	"github.com/homelab-agent/homelab-agent/agent/secrets"
	"github.com/homelab-agent/homelab-agent/internal/testreq"
)

func s3Server(t testing.TB) string { return backuptest.S3Server(t) }

// needRestic skips (or fails under CI) without restic.
func needRestic(t testing.TB) {
	t.Helper()
	if _, err := FindRestic(); err != nil {
		testreq.Missing(t, "%v", err)
	}
}

const testPassword = "correct horse battery staple"

func testSecrets(password string) *secrets.Store {
	return secrets.FromMap(map[string]string{
		SecretPassword: password, SecretAccessKey: "AKIATESTKEY", SecretSecretKey: "test-secret-key-value",
	})
}

// testRunner is a runner for host "cloud" with its root in a temp folder
// and a repository on a fresh in-process S3 server.
func testRunner(t testing.TB, addr string) *Runner {
	t.Helper()
	needRestic(t)
	root := t.TempDir()
	cfg := Config{
		Host: "cloud", Root: root, Repository: "s3:http://" + addr + "/lab-backups", Init: true, AutoRestore: true,
		Schedule: DefaultSchedule, PruneSchedule: DefaultPruneSchedule, CheckSchedule: DefaultCheckSchedule,
		CheckSubset: "100%", Keep: lab.Keep{Daily: 7},
	}
	return &Runner{Config: cfg, Secrets: testSecrets(testPassword)}
}

func job(svc string) Job {
	return Job{Service: svc, Host: "cloud", Paths: []string{DataDir(svc)}}
}

// writeTree fills a service's data folder with files of several sizes,
// modes and a symlink.
func writeTree(t testing.TB, root, svc string) string {
	t.Helper()
	dir := filepath.Join(root, DataDir(svc))
	files := map[string]struct {
		size int
		mode fs.FileMode
	}{
		"config/config.php":      {1200, 0o640},
		"data/admin/files/a.jpg": {300 << 10, 0o644},
		"data/admin/files/b.bin": {2 << 20, 0o600},
		"data/empty":             {0, 0o644},
		"run.sh":                 {64, 0o755},
	}
	for name, f := range files {
		p := filepath.Join(dir, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o750); err != nil {
			t.Fatal(err)
		}
		b := make([]byte, f.size)
		for i := range b {
			b[i] = byte(i*7 + len(name))
		}
		if err := os.WriteFile(p, b, f.mode); err != nil {
			t.Fatal(err)
		}
		os.Chmod(p, f.mode)
	}
	os.Mkdir(filepath.Join(dir, "data/admin/cache"), 0o700)
	os.Symlink("files/a.jpg", filepath.Join(dir, "data/admin/latest.jpg"))
	os.Chmod(dir, 0o751)
	return dir
}

// treeHash lists every entry under dir with its type, mode and content
// hash (symlinks by target), one line each.
func treeHash(t testing.TB, dir string) string {
	t.Helper()
	var lines []string
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(dir, p)
		fi, err := os.Lstat(p)
		if err != nil {
			return err
		}
		line := fmt.Sprintf("%s %v", rel, fi.Mode())
		switch {
		case fi.Mode()&fs.ModeSymlink != 0:
			target, _ := os.Readlink(p)
			line += " -> " + target
		case fi.Mode().IsRegular():
			f, err := os.Open(p)
			if err != nil {
				return err
			}
			h := sha256.New()
			io.Copy(h, f)
			f.Close()
			line += " " + hex.EncodeToString(h.Sum(nil))
		}
		lines = append(lines, line)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	sort.Strings(lines)
	return strings.Join(lines, "\n")
}

func ctxT(t testing.TB) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	t.Cleanup(cancel)
	return ctx
}

// noSecretIn fails when any test secret's value appears in s.
func noSecretIn(t testing.TB, what, s string) {
	t.Helper()
	for _, v := range []string{testPassword, "AKIATESTKEY", "test-secret-key-value"} {
		if strings.Contains(s, v) {
			t.Errorf("%s holds a secret value: %s", what, s)
		}
	}
}
