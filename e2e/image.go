//go:build e2e

// Package e2e is the whole-lab drill: the sample lab's guests run as
// systemd containers on the Docker Engine, set up by the same cloud-init
// vendor data bootstrap renders, and scenarios (cold start, pushes,
// outages, disaster recovery) are asserted and timed. Run it with `make e2e`.
package e2e

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// guestRecipe is everything that decides the guest image's content; the
// image tag is a hash of it, so a change rebuilds and nothing else does.
var guestRecipe = struct {
	Suite, Mirror, Variant string
	Packages               []string
}{
	Suite:   "trixie",
	Mirror:  "http://deb.debian.org/debian",
	Variant: "minbase",
	Packages: []string{
		"systemd", "systemd-sysv", "dbus", "bind9", "bind9-dnsutils", "restic",
		"nftables", "git", "ca-certificates", "iproute2", "procps", "netcat-openbsd", "curl",
	},
}

func guestImageTag() string {
	h := sha256.New()
	fmt.Fprintf(h, "%s|%s|%s|%s|v1", guestRecipe.Suite, guestRecipe.Mirror, guestRecipe.Variant, strings.Join(guestRecipe.Packages, ","))
	return "homelab-agent-guest:" + hex.EncodeToString(h.Sum(nil))[:12]
}

// guestImage returns the tag of the guest image, building it with
// debootstrap and docker import when the Engine does not have it yet
// (about two minutes; later runs reuse it).
func guestImage(t testing.TB) string {
	t.Helper()
	tag := guestImageTag()
	if exec.Command("docker", "image", "inspect", tag).Run() == nil {
		return tag
	}
	if _, err := exec.LookPath("debootstrap"); err != nil {
		t.Fatalf("debootstrap is needed to build the guest image (make test-deps installs it)")
	}
	dir, err := os.MkdirTemp("/var/tmp", "hla-guest-")
	if err != nil {
		t.Fatal(err)
	}
	defer os.RemoveAll(dir)
	rootfs := filepath.Join(dir, "rootfs")
	t.Logf("building guest image %s with debootstrap (cached afterwards)", tag)
	cmd := exec.Command("debootstrap", "--variant="+guestRecipe.Variant,
		"--include="+strings.Join(guestRecipe.Packages, ","), guestRecipe.Suite, rootfs, guestRecipe.Mirror)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("debootstrap: %v\n%s", err, tail(out, 30))
	}
	// A container has no console to log in on and no hardware clock.
	os.WriteFile(filepath.Join(rootfs, "etc/hostname"), []byte("guest\n"), 0o644)
	imp := exec.Command("sh", "-c", `tar -C "$1" -c . | docker import --change 'CMD ["/lib/systemd/systemd"]' - "$2"`, "sh", rootfs, tag)
	if out, err := imp.CombinedOutput(); err != nil {
		t.Fatalf("docker import: %v\n%s", err, out)
	}
	return tag
}

func tail(b []byte, n int) string {
	lines := strings.Split(strings.TrimRight(string(b), "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}
