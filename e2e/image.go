//go:build e2e

// Package e2e is the whole-lab drill: the sample lab's guests run as
// systemd containers on the Docker Engine, set up by the same cloud-init
// vendor data bootstrap renders, and scenarios (cold start, pushes,
// outages, disaster recovery) are asserted and timed. Run it with `make e2e`.
package e2e

import (
	"testing"

	"github.com/homelab-agent/homelab-agent/internal/debimage"
)

// guestRecipe is everything that decides the guest image's content; the
// image tag is a hash of it, so a change rebuilds and nothing else does.
var guestRecipe = debimage.Recipe{
	Name:    "homelab-agent-guest",
	Suite:   "trixie",
	Mirror:  "http://deb.debian.org/debian",
	Variant: "minbase",
	Packages: []string{
		"systemd", "systemd-sysv", "dbus", "bind9", "bind9-dnsutils", "restic",
		"nftables", "git", "ca-certificates", "iproute2", "procps", "netcat-openbsd", "curl",
	},
	// A container has no console to log in on and no hardware clock.
	Files:   map[string]string{"/etc/hostname": "guest\n"},
	Changes: []string{`CMD ["/lib/systemd/systemd"]`},
}

// guestImage returns the tag of the guest image, building it with
// debootstrap and docker import when the Engine does not have it yet
// (minutes; later runs reuse it).
func guestImage(t testing.TB) string {
	t.Helper()
	return debimage.Build(t, guestRecipe)
}

func tail(b []byte, n int) string { return debimage.Tail(b, n) }
