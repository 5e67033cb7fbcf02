//go:build e2e

package e2e

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"
)

// startCache starts the lab's Debian package cache: Debian's
// apt-cacher-ng at cacheIP on the lab network, and on a second network of
// its own with a way out, so that it (and only it) reaches
// deb.debian.org; ForceManaged makes it fetch from the Debian mirror
// only (backends_debian; Debian's own Remap-secdeb for /debian-security,
// deb.debian.org first), whatever a guest asks for.
// Its downloads stay in the volume cacheVolume between runs.
func (l *Lab) startCache() {
	l.t.Helper()
	img := cacheImage(l.t)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if _, err := docker(ctx, "volume", "inspect", cacheVolume); err != nil {
		l.must("volume", "create", "--label", cacheLabel+"=1", cacheVolume)
	}
	l.must("run", "-d", "--name", l.ID+"-cache", "--hostname", "cache", "--network", l.Net, "--ip", cacheIP,
		"--label", labelKey+"=1", "-v", cacheVolume+":/var/cache/apt-cacher-ng",
		"-v", filepath.Join(l.Dir, "srv/files")+":/files", img)
	l.must("network", "connect", l.ID+"-out", l.ID+"-cache")
	// The volume may be new (owned by root): the cache runs as its user.
	l.must("exec", l.ID+"-cache", "chown", "-R", "apt-cacher-ng:apt-cacher-ng", "/var/cache/apt-cacher-ng")
	l.waitCache()
}

// waitCache waits until the cache answers on its port.
func (l *Lab) waitCache() {
	l.t.Helper()
	deadline := time.Now().Add(time.Minute)
	for {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		out, err := dexec(ctx, l.ID+"-cache", nil, "bash", "-c", "exec 3<>/dev/tcp/127.0.0.1/3142 2>/dev/null && echo up || true")
		cancel()
		if err == nil && strings.TrimSpace(out) == "up" {
			return
		}
		if time.Now().After(deadline) {
			logs, _ := docker(context.Background(), "logs", l.ID+"-cache")
			l.fail("the package cache did not come up: %v %s\n%s", err, out, logs)
		}
		time.Sleep(300 * time.Millisecond)
	}
}

// tailscaleStandin stands in for the tailscale CLI on the router guest:
// no tailnet is reachable from the drill. It keeps the prefs `up` sets.
const tailscaleStandin = `#!/bin/sh
# tailscale stand-in for the e2e drill: keeps what "up" sets, reports Running after it.
st=/var/lib/tailscale-standin
mkdir -p "$st"
case "$1" in
debug) cat "$st/prefs.json" 2>/dev/null || echo '{"WantRunning":false}' ;;
status) if [ -f "$st/prefs.json" ]; then echo '{"BackendState":"Running"}'; else echo '{"BackendState":"NeedsLogin"}'; fi ;;
up)
  host= routes=
  for a in "$@"; do
    case $a in --hostname=*) host=${a#--hostname=} ;; --advertise-routes=*) routes=${a#--advertise-routes=} ;; esac
  done
  r=$(printf '%s' "$routes" | sed 's/[^,][^,]*/"&"/g')
  printf '{"WantRunning":true,"Hostname":"%s","AdvertiseRoutes":[%s],"CorpDNS":false,"NoSNAT":false}\n' "$host" "$r" >"$st/prefs.json" ;;
*) echo "tailscale stand-in: unsupported: $*" >&2; exit 1 ;;
esac
`

// tailscaleRepo builds the stand-in for Tailscale's apt repository: a
// `tailscale` package (dpkg-deb, here) holding the stand-in CLI and a
// tailscaled that only sleeps, in a repository laid out as
// pkgs.tailscale.com/stable/debian (dists/trixie/main), indexed with
// apt-ftparchive and signed (InRelease) with a test key made for this
// run, all in the cache's container; the git server serves it under
// /files/tailscale/debian. It returns the test key (armored), which the
// drill's agent build pins instead of Tailscale's.
func (l *Lab) tailscaleRepo() []byte {
	l.t.Helper()
	pkg := filepath.Join(l.Dir, "tailscale-pkg")
	for path, c := range map[string]struct {
		mode    os.FileMode
		content string
	}{
		"DEBIAN/control": {0o644, "Package: tailscale\nVersion: 1.90.9\nArchitecture: all\nMaintainer: homelab-agent e2e <e2e@home.example>\n" +
			"Description: stand-in for Tailscale in the homelab-agent e2e drill\n"},
		"usr/bin/tailscale":                     {0o755, tailscaleStandin},
		"usr/sbin/tailscaled":                   {0o755, "#!/bin/sh\n# tailscaled stand-in for the e2e drill: no tailnet is reachable.\nexec sleep infinity\n"},
		"lib/systemd/system/tailscaled.service": {0o644, "[Unit]\nDescription=tailscaled stand-in for the e2e drill\n[Service]\nExecStart=/usr/sbin/tailscaled\n[Install]\nWantedBy=multi-user.target\n"},
	} {
		p := filepath.Join(pkg, path)
		os.MkdirAll(filepath.Dir(p), 0o755)
		if err := os.WriteFile(p, []byte(c.content), c.mode); err != nil {
			l.fail("%v", err)
		}
	}
	pool := filepath.Join(l.Dir, "srv/files/tailscale/debian/pool/main")
	os.MkdirAll(pool, 0o755)
	if out, err := exec.Command("dpkg-deb", "--root-owner-group", "--build", pkg, filepath.Join(pool, "tailscale_1.90.9_all.deb")).CombinedOutput(); err != nil {
		l.fail("dpkg-deb: %v %s", err, out)
	}
	script := `set -e
export GNUPGHOME=$(mktemp -d)
gpg --batch --quiet --passphrase '' --quick-gen-key 'homelab-agent e2e test repository <e2e@home.example>' ed25519 sign never
cd /files/tailscale/debian
mkdir -p dists/trixie/main/binary-amd64
apt-ftparchive packages pool >dists/trixie/main/binary-amd64/Packages
gzip -kf dists/trixie/main/binary-amd64/Packages
apt-ftparchive -o APT::FTPArchive::Release::Origin=Tailscale-e2e -o APT::FTPArchive::Release::Suite=trixie \
  -o APT::FTPArchive::Release::Codename=trixie -o APT::FTPArchive::Release::Components=main \
  -o APT::FTPArchive::Release::Architectures=amd64 release dists/trixie >/tmp/Release
mv /tmp/Release dists/trixie/Release
gpg --batch --yes --clearsign -o dists/trixie/InRelease dists/trixie/Release
gpg --batch --yes --armor --detach-sign -o dists/trixie/Release.gpg dists/trixie/Release
gpg --batch --armor --export
gpgconf --kill all
rm -rf "$GNUPGHOME"`
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	out, err := exec.CommandContext(ctx, "docker", "exec", l.ID+"-cache", "sh", "-c", script).Output()
	if err != nil || !strings.Contains(string(out), "BEGIN PGP PUBLIC KEY BLOCK") {
		l.fail("the stand-in Tailscale repository: %v\n%s", err, out)
	}
	return out
}
