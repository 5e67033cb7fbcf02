//go:build e2e

package e2e

import (
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/homelab-agent/homelab-agent/agent/docker/dockertest"
)

// The app guests' Docker Engine: a dockerd of the drill's own (dockerd
// cannot run inside a guest without --privileged), started in a private
// mount namespace in which /srv is a tmpfs and each app guest's
// /srv/data/<service> is a link into that guest's data volume (bound whole)
// (and /etc/traefik from the proxy guest), so a container's bind mounts
// land in the guest that asked for it, never on the machine. The app
// guests get its socket as /var/run/docker.sock. Its own data root keeps
// the drill's containers, networks and images apart from the machine's
// engine and from other tests; removing it removes them all.
const (
	engineRun  = "/tmp/hla-e2e-engine" // socket, pid file, exec root (short: socket paths are limited)
	engineData = "/var/tmp/hla-e2e-engine"
	engineSock = engineRun + "/docker.sock"
)

// stopEngine stops a drill engine left running (by this run or a killed
// one: its pid file names it) and removes its folders.
func stopEngine() {
	if b, err := os.ReadFile(engineRun + "/docker.pid"); err == nil {
		if pid, err := strconv.Atoi(strings.TrimSpace(string(b))); err == nil && pid > 1 {
			cmdline, _ := os.ReadFile(fmt.Sprintf("/proc/%d/cmdline", pid))
			if strings.Contains(string(cmdline), engineRun) {
				ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
				if ids, _ := docker(ctx, "-H", "unix://"+engineSock, "ps", "-aq"); strings.TrimSpace(ids) != "" {
					docker(ctx, append([]string{"-H", "unix://" + engineSock, "rm", "-f", "-v"}, strings.Fields(ids)...)...)
				}
				// The engine shares the machine's network namespace: its
				// bridges outlive it unless it removes its networks itself.
				docker(ctx, "-H", "unix://"+engineSock, "network", "prune", "-f")
				cancel()
				syscall.Kill(pid, syscall.SIGTERM)
				for i := 0; i < 150; i++ {
					if syscall.Kill(pid, 0) != nil {
						break
					}
					time.Sleep(100 * time.Millisecond)
				}
				syscall.Kill(pid, syscall.SIGKILL)
			}
		}
	}
	// The engine's mounts lived in its own namespace: nothing to unmount here.
	os.RemoveAll(engineRun)
	os.RemoveAll(engineData)
	removeEngineBridges()
	exec.Command("ip", "link", "del", engineBridge).Run()
}

// engineBridge is the drill engine's own default bridge. Started with
// --bridge none, dockerd removes the interface docker0 — the machine's
// own, since the engine shares its network namespace — so it gets a
// bridge of its own instead, made here and removed with the engine.
const (
	engineBridge     = "hlae2e0"
	engineBridgeAddr = "10.230.255.1/24"
)

// enginePool is the address pool of the drill engine's networks, so that
// a bridge a killed engine left behind is recognised as the drill's and
// removed (and the machine's default pools are never exhausted by them).
const enginePool = "10.231.0.0/16"

// removeEngineBridges deletes bridge interfaces whose address lies in
// enginePool: leftovers of a drill engine that could not prune them.
func removeEngineBridges() {
	_, pool, _ := net.ParseCIDR(enginePool)
	ifs, err := net.Interfaces()
	if err != nil {
		return
	}
	for _, i := range ifs {
		if !strings.HasPrefix(i.Name, "br-") {
			continue
		}
		addrs, _ := i.Addrs()
		for _, a := range addrs {
			if ipn, ok := a.(*net.IPNet); ok && pool.Contains(ipn.IP) {
				exec.Command("ip", "link", "del", i.Name).Run()
				break
			}
		}
	}
}

// startEngine starts the drill's engine and loads the stand-in image
// into it under every name the roles use.
func (l *Lab) startEngine() {
	l.t.Helper()
	stopEngine()
	os.MkdirAll(engineRun, 0o700)
	os.WriteFile(engineRun+"/daemon.json", []byte(`{"default-address-pools": [{"base": "`+enginePool+`", "size": 24}]}`+"\n"), 0o600)
	for _, args := range [][]string{
		{"link", "add", engineBridge, "type", "bridge"},
		{"addr", "add", engineBridgeAddr, "dev", engineBridge},
		{"link", "set", engineBridge, "up"},
	} {
		if out, err := exec.Command("ip", args...).CombinedOutput(); err != nil {
			l.t.Fatalf("ip %s: %v %s", strings.Join(args, " "), err, out)
		}
	}
	script := `set -e
mount --make-rprivate /
mount -t tmpfs -o mode=0755 e2e-srv /srv
mkdir -p /srv/data
exec dockerd --config-file "$1/daemon.json" --data-root "$2" --exec-root "$1/exec" --host "unix://$1/docker.sock" \
  --pidfile "$1/docker.pid" --bridge ` + engineBridge + ` --iptables=false --ip6tables=false --storage-driver overlay2`
	cmd := exec.Command("unshare", "-m", "--", "sh", "-c", script, "sh", engineRun, engineData)
	logf, _ := os.Create(filepath.Join(l.Dir, "engine.log"))
	cmd.Stdout, cmd.Stderr = logf, logf
	if err := cmd.Start(); err != nil {
		l.t.Fatalf("starting the drill's dockerd: %v", err)
	}
	l.engine = cmd
	go cmd.Wait()
	deadline := time.Now().Add(time.Minute)
	for {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		_, err := docker(ctx, "-H", "unix://"+engineSock, "version")
		cancel()
		if err == nil {
			break
		}
		if time.Now().After(deadline) {
			b, _ := os.ReadFile(filepath.Join(l.Dir, "engine.log"))
			l.t.Fatalf("the drill's dockerd did not come up: %v\n%s", err, tail(b, 20))
		}
		time.Sleep(200 * time.Millisecond)
	}
	// The roles' images: the stand-in, and Debian's PostgreSQL and Redis
	// for the database names (dockertest.ImageFor), saved in one go so
	// that their shared layers travel once.
	src := map[string]string{}
	var imgs []string
	for _, n := range standinImages {
		src[n] = dockertest.ImageFor(l.t, n)
		if !slices.Contains(imgs, src[n]) {
			imgs = append(imgs, src[n])
		}
	}
	load := exec.Command("sh", append([]string{"-c", `sock=$1; shift; docker save "$@" | docker -H "unix://$sock" load -q`, "sh", engineSock}, imgs...)...)
	if out, err := load.CombinedOutput(); err != nil {
		l.t.Fatalf("loading the test images: %v\n%s", err, out)
	}
	for _, n := range standinImages {
		l.must("-H", "unix://"+engineSock, "tag", src[n], n)
	}
}

// engineMounts maps the guest's service data folder (and the proxy's
// /etc/traefik) into the engine's namespace.
func (l *Lab) engineMounts(g *Guest) {
	l.t.Helper()
	if !g.Docker {
		return
	}
	mp := strings.TrimSpace(l.must("volume", "inspect", "-f", "{{.Mountpoint}}", g.Volume))
	pid := strings.TrimSpace(l.must("inspect", "-f", "{{.State.Pid}}", g.Container))
	svc := g.Role
	// The whole volume is bound and /srv/data/<service> is a symlink into
	// it: a restore swaps the service folder inside the volume (rename),
	// which a bind of the folder itself would not follow. The engine
	// resolves the link when it creates a container, after the restore.
	script := fmt.Sprintf(`set -e
vol=/srv/vols/%[2]s dst=/srv/data/%[2]s
mkdir -p "$vol" %[1]q/%[2]s
mountpoint -q "$vol" && umount -l "$vol"
mount --bind %[1]q "$vol"
if mountpoint -q "$dst"; then umount -l "$dst"; fi
if [ -L "$dst" ]; then rm -f "$dst"; elif [ -d "$dst" ]; then rmdir "$dst"; fi
ln -s "$vol/%[2]s" "$dst"
`, mp, svc)
	if g.Role == "traefik" {
		// The guest's /etc/traefik, through its init's root.
		if _, err := l.in(g, "mkdir", "-p", "/etc/traefik"); err != nil {
			l.fail("%v", err)
		}
		script += fmt.Sprintf(`mkdir -p /srv/etc-traefik
mountpoint -q /etc/traefik && umount -l /etc/traefik
[ -d /etc/traefik ] || { echo "/etc/traefik missing on the machine" >&2; exit 1; }
mount --bind /proc/%s/root/etc/traefik /etc/traefik
`, pid)
	}
	epid, err := os.ReadFile(engineRun + "/docker.pid")
	if err != nil {
		l.fail("engine pid: %v", err)
	}
	out, err := exec.Command("nsenter", "-t", strings.TrimSpace(string(epid)), "-m", "sh", "-c", script).CombinedOutput()
	if err != nil {
		l.fail("%s: engine mounts: %v\n%s", g.Name, err, out)
	}
}
