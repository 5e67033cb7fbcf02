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

// cacheIP is the lab's Debian package cache (apt-cacher-ng, cache.go);
// the guest image's apt sources point at it.
const cacheIP = "192.168.100.30"

// guestRecipe is everything that decides the guest image's content; the
// image tag is a hash of it, so a change rebuilds and nothing else does.
// It holds what Debian's genericcloud image holds that a guest uses
// (systemd, apt, ca-certificates, iproute2, cloud-init, the guest agent,
// curl, e2fsprogs) and nothing a role needs: bind9, restic, nftables, git
// and the Docker Engine come through apt when the agent (or the vendor
// data) installs them. bind9-dnsutils (dig) and netcat-openbsd (nc) are
// the drill's probes.
var guestRecipe = debimage.Recipe{
	Name:    "homelab-agent-guest",
	Suite:   "trixie",
	Mirror:  "http://deb.debian.org/debian",
	Variant: "minbase",
	Packages: []string{
		"systemd", "systemd-sysv", "dbus", "apt", "ca-certificates", "iproute2", "iputils-ping", "procps",
		"curl", "e2fsprogs", "util-linux", "netcat-openbsd", "bind9-dnsutils",
	},
	Files: map[string]string{
		"/etc/hostname": "guest\n",
		// A VM reaches deb.debian.org through the node's NAT; the drill's
		// lab network has no way out, so apt goes through the lab's cache.
		"/etc/apt/sources.list.d/debian.sources": "Types: deb\nURIs: http://" + cacheIP + ":3142/debian\nSuites: trixie trixie-updates\nComponents: main\nSigned-By: /usr/share/keyrings/debian-archive-keyring.gpg\n\n" +
			"Types: deb\nURIs: http://" + cacheIP + ":3142/debian-security\nSuites: trixie-security\nComponents: main\nSigned-By: /usr/share/keyrings/debian-archive-keyring.gpg\n",
		// NoCloud from the seed folder (as a Proxmox VM's cidata drive), and
		// no network configuration: Docker gives the container its address
		// (Proxmox would give it through ipconfig0).
		"/etc/cloud/cloud.cfg.d/90-e2e.cfg": "datasource_list: [NoCloud, None]\nnetwork: {config: disabled}\napt: {preserve_sources_list: true}\n",
	},
	// cloud-init and the guest agent with apt (debootstrap's --include
	// cannot order cloud-init's Python dependencies), from the mirror
	// debootstrap used; then only the cache's sources stay.
	Script: `mv /etc/apt/sources.list.d/debian.sources /tmp/cache.sources
printf '#!/bin/sh\nexit 101\n' >/usr/sbin/policy-rc.d && chmod 0755 /usr/sbin/policy-rc.d
apt-get update -q
DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends cloud-init qemu-guest-agent
rm -f /usr/sbin/policy-rc.d /etc/apt/sources.list
mv /tmp/cache.sources /etc/apt/sources.list.d/debian.sources
apt-get clean
rm -rf /var/lib/apt/lists/*`,
	Changes: []string{`CMD ["/lib/systemd/systemd"]`},
}

// cacheRecipe is the image of the lab's servers: the package cache
// (Debian's apt-cacher-ng, which fetches only from deb.debian.org:
// ForceManaged, no other host), the tools that build the stand-in
// Tailscale repository (apt-ftparchive, gpg) and git for the git server
// (the guests' image has none).
var cacheRecipe = debimage.Recipe{
	Name:     "homelab-agent-e2e-cache",
	Suite:    "trixie",
	Mirror:   "http://deb.debian.org/debian",
	Variant:  "minbase",
	Packages: []string{"apt-cacher-ng", "apt-utils", "gpg", "gpg-agent", "ca-certificates", "git"},
	Files: map[string]string{
		"/etc/apt-cacher-ng/zz-e2e.conf":     "ForceManaged: 1\nForeGround: 1\nPassThroughPattern: ^$\n",
		"/etc/apt-cacher-ng/backends_debian": "http://deb.debian.org/debian/\n",
		"/etc/apt-cacher-ng/backends_debsec": "http://deb.debian.org/debian-security/\n",
	},
	Changes: []string{`CMD ["/usr/sbin/apt-cacher-ng", "-c", "/etc/apt-cacher-ng"]`},
}

// guestImage returns the tag of the guest image, building it with
// debootstrap and docker import when the Engine does not have it yet
// (minutes; later runs reuse it).
func guestImage(t testing.TB) string {
	t.Helper()
	return debimage.Build(t, guestRecipe)
}

// cacheImage returns the tag of the package cache's image (built once).
func cacheImage(t testing.TB) string {
	t.Helper()
	return debimage.Build(t, cacheRecipe)
}

func tail(b []byte, n int) string { return debimage.Tail(b, n) }
