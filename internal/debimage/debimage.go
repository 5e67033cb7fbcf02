// Package debimage builds Docker images for tests from Debian's packages
// with debootstrap, since no registry is reachable here but Debian's
// mirror is. An image is tagged with a hash of its recipe, so it is built
// once per machine and reused by later runs (CI runs on the same
// machine); a change of the recipe builds a new one.
package debimage

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"syscall"
	"testing"

	"github.com/homelab-agent/homelab-agent/internal/testreq"
)

// Recipe is everything that decides an image's content; Tag hashes it.
type Recipe struct {
	// Name is the image name; the tag is the recipe's hash.
	Name string
	// Suite, Mirror and Variant are debootstrap's (trixie,
	// http://deb.debian.org/debian, minbase when empty).
	Suite, Mirror, Variant string
	// Packages are installed with --include (their Depends, not Recommends).
	Packages []string
	// Files are written into the root file system (path → content; mode
	// 0755 for a script starting with #!, else 0644).
	Files map[string]string
	// Script runs in the root file system (chroot, /bin/sh) after Files.
	Script string
	// Changes are docker import --change instructions (ENV, CMD, ...).
	Changes []string
}

func (r Recipe) defaults() Recipe {
	if r.Suite == "" {
		r.Suite = "trixie"
	}
	if r.Mirror == "" {
		r.Mirror = "http://deb.debian.org/debian"
	}
	if r.Variant == "" {
		r.Variant = "minbase"
	}
	return r
}

// Tag is the image's name:tag, a hash of the recipe.
func (r Recipe) Tag() string {
	r = r.defaults()
	h := sha256.New()
	fmt.Fprintf(h, "%s|%s|%s|%s|v1", r.Suite, r.Mirror, r.Variant, strings.Join(r.Packages, ","))
	if len(r.Files) > 0 || r.Script != "" || len(r.Changes) > 0 {
		names := make([]string, 0, len(r.Files))
		for n := range r.Files {
			names = append(names, n)
		}
		sort.Strings(names)
		for _, n := range names {
			fmt.Fprintf(h, "|file %s %d %s", n, len(r.Files[n]), r.Files[n])
		}
		fmt.Fprintf(h, "|script %s|changes %s", r.Script, strings.Join(r.Changes, "\x00"))
	}
	return r.Name + ":" + hex.EncodeToString(h.Sum(nil))[:12]
}

// Build returns the recipe's image tag, building it with debootstrap and
// docker import when the Engine does not have it yet (minutes; later runs
// reuse it). Test binaries of several packages may ask at once: one
// builds, the others wait on a lock and find the image. It needs root,
// debootstrap and the docker CLI; without them the test skips (fails
// under CI=true).
func Build(t testing.TB, r Recipe) string {
	t.Helper()
	r = r.defaults()
	tag := r.Tag()
	if have(tag) {
		return tag
	}
	testreq.Tool(t, "docker")
	if _, err := exec.LookPath("debootstrap"); err != nil {
		if _, err := os.Stat("/usr/sbin/debootstrap"); err != nil {
			testreq.Missing(t, "debootstrap is needed to build image %s (make test-deps installs it)", r.Name)
		}
	}
	testreq.Root(t)
	lock, err := os.OpenFile(filepath.Join(os.TempDir(), "homelab-agent-debimage-"+strings.ReplaceAll(r.Name, "/", "_")+".lock"), os.O_CREATE|os.O_RDWR, 0o600)
	if err != nil {
		t.Fatal(err)
	}
	defer lock.Close()
	if err := syscall.Flock(int(lock.Fd()), syscall.LOCK_EX); err != nil {
		t.Fatal(err)
	}
	if have(tag) {
		return tag
	}
	if err := build(t, r, tag); err != nil {
		t.Fatalf("building image %s: %v", tag, err)
	}
	return tag
}

func have(tag string) bool { return exec.Command("docker", "image", "inspect", tag).Run() == nil }

func build(t testing.TB, r Recipe, tag string) error {
	dir, err := os.MkdirTemp("/var/tmp", "hla-debimage-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	rootfs := filepath.Join(dir, "rootfs")
	t.Logf("building image %s with debootstrap (cached afterwards)", tag)
	args := []string{"--variant=" + r.Variant}
	if len(r.Packages) > 0 {
		args = append(args, "--include="+strings.Join(r.Packages, ","))
	}
	args = append(args, r.Suite, rootfs, r.Mirror)
	if out, err := exec.Command("debootstrap", args...).CombinedOutput(); err != nil {
		return fmt.Errorf("debootstrap: %v\n%s", err, Tail(out, 30))
	}
	for name, content := range r.Files {
		p := filepath.Join(rootfs, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			return err
		}
		mode := os.FileMode(0o644)
		if strings.HasPrefix(content, "#!") {
			mode = 0o755
		}
		if err := os.WriteFile(p, []byte(content), mode); err != nil {
			return err
		}
	}
	if r.Script != "" {
		if out, err := exec.Command("chroot", rootfs, "/bin/sh", "-ec", r.Script).CombinedOutput(); err != nil {
			return fmt.Errorf("recipe script: %v\n%s", err, Tail(out, 30))
		}
	}
	// apt's package cache is not needed in the image.
	os.RemoveAll(filepath.Join(rootfs, "var/cache/apt/archives"))
	os.MkdirAll(filepath.Join(rootfs, "var/cache/apt/archives/partial"), 0o755)
	imp := []string{"import"}
	for _, c := range r.Changes {
		imp = append(imp, "--change", c)
	}
	imp = append(imp, "-", tag)
	tar := exec.Command("tar", "-C", rootfs, "-c", ".")
	docker := exec.Command("docker", imp...)
	pipe, err := tar.StdoutPipe()
	if err != nil {
		return err
	}
	docker.Stdin = pipe
	var out strings.Builder
	docker.Stdout, docker.Stderr = &out, &out
	if err := tar.Start(); err != nil {
		return err
	}
	if err := docker.Run(); err != nil {
		tar.Wait()
		return fmt.Errorf("docker import: %v\n%s", err, out.String())
	}
	return tar.Wait()
}

// Tail returns the last n lines of b.
func Tail(b []byte, n int) string {
	lines := strings.Split(strings.TrimRight(string(b), "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}

// Start runs a container of the image until the test ends (it is removed
// then), with extra `docker run` arguments (mounts, capabilities) and its
// command (nil: it idles); it returns the container's name, unique to the
// test process.
func Start(t testing.TB, tag, prefix string, cmd []string, args ...string) string {
	t.Helper()
	name := fmt.Sprintf("%s-%d", prefix, os.Getpid())
	if cmd == nil {
		cmd = []string{"sleep", "infinity"}
	}
	argv := append(append(append([]string{"run", "-d", "--rm", "--name", name}, args...), tag), cmd...)
	if out, err := exec.Command("docker", argv...).CombinedOutput(); err != nil {
		t.Fatalf("docker run %s: %v\n%s", tag, err, out)
	}
	t.Cleanup(func() { exec.Command("docker", "rm", "-f", name).Run() })
	return name
}
