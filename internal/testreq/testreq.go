// Package testreq decides what a test does when something it needs (root,
// a tool, the Docker Engine) is missing: on a developer's machine it skips
// with a one-line reason; under CI=true it fails, so that nothing real is
// silently skipped in CI.
package testreq

import (
	"os"
	"os/exec"
	"path/filepath"
	"testing"
)

// InCI reports whether the tests run under CI (CI=true).
func InCI() bool { return os.Getenv("CI") == "true" }

// Missing skips the test, or fails it under CI, with the reason.
func Missing(t testing.TB, format string, args ...any) {
	t.Helper()
	if InCI() {
		t.Fatalf("CI=true and a prerequisite is missing: "+format, args...)
	}
	t.Skipf("skipping: "+format, args...)
}

// Tool returns the path of a command, or skips/fails when it is absent.
func Tool(t testing.TB, name string) string {
	t.Helper()
	p, err := exec.LookPath(name)
	if err != nil {
		Missing(t, "%s is not installed (make test installs it)", name)
	}
	return p
}

// Root skips/fails unless the test runs as root.
func Root(t testing.TB) {
	t.Helper()
	if os.Geteuid() != 0 {
		Missing(t, "the test needs root")
	}
}

// SharedEnv names the folder of the project's shared test data (Traefik's
// schemas, Proxmox's apidoc.js, upstream compose files) when it is not
// found beside the repo.
const SharedEnv = "HOMELAB_SHARED_DIR"

// SharedFile returns the path of rel inside the shared test data folder:
// $HOMELAB_SHARED_DIR, else a "shared" folder beside the repo or any
// folder above the test, else /work/shared. When it is absent the test
// skips, or fails under CI=true.
func SharedFile(t testing.TB, rel string) string {
	t.Helper()
	if p, ok := FindShared(rel); ok {
		return p
	}
	Missing(t, "shared test data %s not found (set $%s to the shared folder)", rel, SharedEnv)
	return ""
}

// FindShared looks for rel in the shared test data folder (see SharedFile).
func FindShared(rel string) (string, bool) {
	var dirs []string
	if d := os.Getenv(SharedEnv); d != "" {
		dirs = append(dirs, d)
	}
	if wd, err := os.Getwd(); err == nil {
		for d := wd; ; d = filepath.Dir(d) {
			dirs = append(dirs, filepath.Join(d, "shared"))
			if filepath.Dir(d) == d {
				break
			}
		}
	}
	dirs = append(dirs, "/work/shared")
	for _, d := range dirs {
		p := filepath.Join(d, rel)
		if _, err := os.Stat(p); err == nil {
			return p, true
		}
	}
	return "", false
}
