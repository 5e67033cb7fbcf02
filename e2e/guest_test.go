//go:build e2e

package e2e

import (
	"archive/tar"
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/homelab-agent/homelab-agent/agent/docker/dockertest"
	"github.com/homelab-agent/homelab-agent/bootstrap"
)

// A guest is a systemd container booted from the plain image, as a VM
// boots from Debian's cloud image: Debian's cloud-init reads bootstrap's
// vendor data from the NoCloud seed folder (a VM's cidata drive) and
// formats the data disk, a real block device (a loop device over a sparse
// file, at the path a Proxmox scsi1 disk has in the guest). App guests
// run their own Docker Engine, installed by the agent from Debian's
// docker.io.

// diskSize is every guest's data disk (sparse; the lab's data_disk sizes
// are a VM's, not the machine's to give).
const diskSize = 2 << 30

// attachDisk gives the guest its data disk: a sparse file and a loop
// device over it, made once and kept until the drill ends.
func (l *Lab) attachDisk(g *Guest) {
	l.t.Helper()
	if g.Loop != "" {
		return
	}
	g.Disk = filepath.Join(l.Dir, "disks", g.Name+".img")
	os.MkdirAll(filepath.Dir(g.Disk), 0o755)
	f, err := os.Create(g.Disk)
	if err == nil {
		err = f.Truncate(diskSize)
		f.Close()
	}
	if err != nil {
		l.fail("%s: data disk file: %v", g.Name, err)
	}
	out, err := exec.Command("losetup", "--find", "--show", g.Disk).CombinedOutput()
	if err != nil {
		l.fail("%s: losetup: %v %s", g.Name, err, out)
	}
	g.Loop = strings.TrimSpace(string(out))
}

// wipeDisk makes the guest's data disk blank again (a new, empty disk on
// the same loop device): the file is emptied and the loop device told.
func (l *Lab) wipeDisk(g *Guest) {
	l.t.Helper()
	if err := os.Truncate(g.Disk, 0); err != nil {
		l.fail("%s: wiping the data disk: %v", g.Name, err)
	}
	if err := os.Truncate(g.Disk, diskSize); err != nil {
		l.fail("%s: wiping the data disk: %v", g.Name, err)
	}
	if out, err := exec.Command("losetup", "--set-capacity", g.Loop).CombinedOutput(); err != nil {
		l.fail("%s: losetup --set-capacity: %v %s", g.Name, err, out)
	}
}

// detachDrillLoops detaches every loop device whose file is the drill's
// (this run's or a killed run's, also once the file is deleted).
func detachDrillLoops() {
	out, _ := exec.Command("losetup", "-a", "-n", "-O", "NAME,BACK-FILE").Output()
	for _, line := range strings.Split(string(out), "\n") {
		f := strings.Fields(line)
		if len(f) >= 2 && strings.Contains(f[1], "/hla-e2e-") {
			exec.Command("losetup", "-d", f[0]).Run()
		}
	}
}

// standinPorts is the port a stand-in answers on for the image names the
// roles publish (the stand-in serves HTTP on $PORT, 8080 by default);
// traefik runs on the host's network and answers on its 443.
var standinPorts = map[string]string{
	"docker.io/library/nextcloud:apache":       "80",
	"ghcr.io/immich-app/immich-server:release": "2283",
	"docker.io/jellyfin/jellyfin:10.10":        "8096",
	"traefik/whoami:v1.10":                     "80",
	"docker.io/library/traefik:v3.5":           "443",
}

// prepareImages saves the test images once into the drill's folder, which
// the app guests get read-only at /opt/e2e: their engines load them at
// their first start (docker.service's ExecStartPost in the drill's
// drop-in), since no registry is reachable.
func (l *Lab) prepareImages() {
	l.t.Helper()
	dir := filepath.Join(l.Dir, "images")
	os.MkdirAll(dir, 0o755)
	l.images = map[string]string{}
	var standin, dbs []string
	l.standin = dockertest.Standin(l.t)
	for _, n := range standinImages {
		src := dockertest.ImageFor(l.t, n)
		l.images[n] = src
		if src == l.standin {
			if !slices.Contains(standin, src) {
				standin = append(standin, src)
			}
		} else if !slices.Contains(dbs, src) {
			dbs = append(dbs, src)
		}
	}
	for file, imgs := range map[string][]string{"standin.tar": standin, "databases.tar": dbs} {
		args := append([]string{"save", "-o", filepath.Join(dir, file)}, imgs...)
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
		_, err := docker(ctx, args...)
		cancel()
		if err != nil {
			l.fail("saving the test images: %v", err)
		}
	}
}

// loadScript is docker.service's ExecStartPost in an app guest: it loads
// the test images into the guest's engine once, tags each under the name
// the roles use, and gives the stand-ins the port the role publishes.
func (l *Lab) loadScript(g *Guest) string {
	var b strings.Builder
	b.WriteString("#!/bin/sh\n# e2e: the test images, loaded into this guest's own engine once (no registry is reachable).\nset -e\ndocker() { " + guestDocker + " \"$@\"; }\n")
	b.WriteString("[ -e /var/lib/docker/.e2e-images ] && exit 0\n")
	b.WriteString("docker load -q -i /opt/e2e/standin.tar\n")
	if g.Role == "nextcloud" || g.Role == "immich" {
		b.WriteString("docker load -q -i /opt/e2e/databases.tar\n")
	}
	dbs := g.Role == "nextcloud" || g.Role == "immich"
	for _, n := range standinImages {
		src := l.images[n]
		if src != l.standin && !dbs {
			continue // a database image: not loaded here
		}
		if port, ok := standinPorts[n]; ok {
			env := "-c 'ENV PORT=" + port + "'"
			if port == "443" {
				// traefik: HTTPS with a certificate naming every routed name,
				// as the route probes want.
				env += " -c 'ENV TLS_NAMES=*." + l.Lab.Domain + "'"
			}
			fmt.Fprintf(&b, "docker rm -f e2e-port >/dev/null 2>&1 || true\ndocker create --name e2e-port %s >/dev/null\ndocker commit %s e2e-port %s >/dev/null\ndocker rm e2e-port >/dev/null\n", src, env, n)
		} else {
			fmt.Fprintf(&b, "docker tag %s %s\n", src, n)
		}
	}
	b.WriteString("touch /var/lib/docker/.e2e-images\n")
	return b.String()
}

// procSysNet makes the guest's /proc/sys/net writable, as a VM's is
// (Docker mounts /proc/sys read-only): the router's forwarding and the
// guest engine's own settings are its network namespace's. The rest of
// /proc/sys, which is the machine's, stays read-only.
const procSysNet = `[Unit]
Description=e2e: /proc/sys/net writable (this network namespace's), as on a VM
DefaultDependencies=no
Before=sysinit.target systemd-sysctl.service

[Service]
Type=oneshot
RemainAfterExit=yes
ExecStart=/bin/mount --bind /proc/sys/net /proc/sys/net
ExecStart=/bin/mount -o remount,bind,rw /proc/sys/net

[Install]
WantedBy=sysinit.target
`

// dataDiskMount mounts /srv/data from /etc/fstab at boot, as systemd
// does on a VM: in a container systemd's fstab generator ignores entries
// of devices ("Running in a container, ignoring fstab device entry"), so
// a restarted guest would come up without its data disk. On the first
// boot /etc/fstab has no entry yet: the first-boot script adds it.
const dataDiskMount = `[Unit]
Description=e2e: mount /srv/data from /etc/fstab (systemd ignores fstab device entries in a container)
DefaultDependencies=no
After=local-fs-pre.target
Before=local-fs.target homelab-agent.service

[Service]
Type=oneshot
RemainAfterExit=yes
ExecStart=/bin/sh -c 'if grep -q "[[:space:]]/srv/data[[:space:]]" /etc/fstab && ! mountpoint -q /srv/data; then mount /srv/data; fi'

[Install]
WantedBy=local-fs.target
`

// dockerDropIn is the drill's addition to the guest engine's unit:
// storage driver vfs (overlayfs cannot be stacked on the container's
// own), the IPv6 setting dockerd cannot write into a container's
// /proc/sys, and the test images loaded at its first start.
const dockerDropIn = `[Service]
Environment=DOCKER_DRIVER=vfs
Environment=DOCKER_ALLOW_IPV6_ON_IPV4_INTERFACE=1
TimeoutStartSec=15min
ExecStartPost=/usr/local/lib/e2e/load-images.sh
`

// operatorFiles are the drill's container adaptations, put into a guest
// before its first boot. No secret: the vendor data carries the guest's
// identity and the webhook secret, and the guest decrypts the rest from
// the lab repo.
func (l *Lab) operatorFiles(g *Guest) []tarFile {
	files := []tarFile{
		{"/etc/systemd/system/e2e-procsys.service", 0o644, procSysNet},
		{"/etc/systemd/system/sysinit.target.wants/e2e-procsys.service", 0o777, "../e2e-procsys.service"},
		{"/etc/systemd/system/e2e-datadisk.service", 0o644, dataDiskMount},
		{"/etc/systemd/system/local-fs.target.wants/e2e-datadisk.service", 0o777, "../e2e-datadisk.service"},
	}
	if g.Docker {
		files = append(files,
			tarFile{"/etc/systemd/system/docker.service.d/e2e.conf", 0o644, dockerDropIn},
			tarFile{"/usr/local/lib/e2e/load-images.sh", 0o755, l.loadScript(g)})
	}
	return files
}

type tarFile struct {
	Path    string
	Mode    int64 // 0o777 marks a symlink to Content
	Content string
}

// tarOf packs files (with their folders) for `docker cp - CONTAINER:/`.
func tarOf(files []tarFile) []byte {
	var buf bytes.Buffer
	w := tar.NewWriter(&buf)
	dirs := map[string]bool{}
	for _, f := range files {
		var parents []string
		for d := filepath.Dir(f.Path); d != "/" && !dirs[d]; d = filepath.Dir(d) {
			parents = append(parents, d)
			dirs[d] = true
		}
		slices.Reverse(parents)
		for _, d := range parents {
			w.WriteHeader(&tar.Header{Name: strings.TrimPrefix(d, "/") + "/", Typeflag: tar.TypeDir, Mode: 0o755})
		}
		if f.Mode == 0o777 {
			w.WriteHeader(&tar.Header{Name: strings.TrimPrefix(f.Path, "/"), Typeflag: tar.TypeSymlink, Linkname: f.Content, Mode: 0o777})
			continue
		}
		w.WriteHeader(&tar.Header{Name: strings.TrimPrefix(f.Path, "/"), Typeflag: tar.TypeReg, Mode: f.Mode, Size: int64(len(f.Content))})
		w.Write([]byte(f.Content))
	}
	w.Close()
	return buf.Bytes()
}

// startGuest boots the guest as a fresh VM: data disk attached (made
// when it has none), the NoCloud seed with the vendor data, the drill's
// container adaptations copied in before the first boot, then the container
// started; it returns once cloud-init is done and checks what the vendor
// data must have done (the data disk formatted and mounted, the agent's
// unit enabled).
func (l *Lab) startGuest(g *Guest, vendor []byte) {
	l.t.Helper()
	g.Vendor = vendor
	l.attachDisk(g)
	l.boots++
	seed := filepath.Join(l.Dir, "seed", g.Name)
	os.RemoveAll(seed)
	os.MkdirAll(seed, 0o755)
	for name, content := range map[string]string{
		"meta-data":   fmt.Sprintf("instance-id: iid-%s-%d\nlocal-hostname: %s\n", g.Name, l.boots, g.Name),
		"user-data":   "#cloud-config\n{}\n",
		"vendor-data": string(vendor),
	} {
		if err := os.WriteFile(filepath.Join(seed, name), []byte(content), 0o644); err != nil {
			l.fail("%v", err)
		}
	}
	args := []string{"create", "--name", g.Container, "--hostname", g.Name, "--network", l.Net, "--ip", g.IP,
		"--label", labelKey + "=1", "--cap-add", "SYS_ADMIN", "--cap-add", "NET_ADMIN",
		// SYS_PTRACE: runc enters a container's namespaces by opening
		// /proc/PID/ns/* of a process of another user (docker exec, health
		// checks of PostgreSQL and Redis, which run as their own users).
		"--cap-add", "SYS_PTRACE",
		"--security-opt", "seccomp=unconfined", "--security-opt", "apparmor=unconfined", "--cgroupns=host",
		"-v", "/sys/fs/cgroup:/sys/fs/cgroup:rw", "--tmpfs", "/run", "--tmpfs", "/run/lock",
		"--stop-signal", "SIGRTMIN+3",
		"-v", seed + ":/var/lib/cloud/seed/nocloud:ro",
		// The disk at the path a Proxmox scsi1 disk has, and under its
		// kernel name: with no udev in a container, mount(8) finds
		// LABEL=homelab-data by scanning /proc/partitions' names in /dev.
		"--device", g.Loop + ":" + bootstrap.DefaultDataDevice, "--device", g.Loop + ":" + g.Loop}
	if g.Docker {
		l.must("volume", "create", "--label", labelKey+"=1", g.Volume)
		docker, err := exec.LookPath("docker")
		if err != nil {
			l.fail("%v", err)
		}
		args = append(args, "-v", g.Volume+":/var/lib/docker", "-v", filepath.Join(l.Dir, "images")+":/opt/e2e:ro",
			"-v", docker+":"+guestDocker+":ro")
	}
	l.must(append(args, l.Image, "/lib/systemd/systemd")...)
	cp := exec.Command("docker", "cp", "-", g.Container+":/")
	cp.Stdin = bytes.NewReader(tarOf(l.operatorFiles(g)))
	if out, err := cp.CombinedOutput(); err != nil {
		l.fail("%s: copying the drill's files: %v %s", g.Name, err, out)
	}
	l.must("start", g.Container)
	l.waitCloudInit(g)
}

// waitCloudInit waits until cloud-init finished in the guest and checks
// its work: the data disk formatted (ext4, label homelab-data) and
// mounted at /srv/data, the agent's unit enabled.
func (l *Lab) waitCloudInit(g *Guest) {
	l.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Minute)
	defer cancel()
	out, err := dexec(ctx, g.Container, nil, "cloud-init", "status", "--wait", "--long")
	if err != nil && !strings.Contains(out, "status: done") {
		log, _ := dexec(context.Background(), g.Container, nil, "tail", "-n", "60", "/var/log/cloud-init-output.log")
		l.fail("%s: cloud-init: %v\n%s\n/var/log/cloud-init-output.log:\n%s", g.Name, err, out, log)
	}
	if !strings.Contains(out, "status: done") {
		l.fail("%s: cloud-init did not finish: %s", g.Name, out)
	}
	mnt, err := l.in(g, "findmnt", "-n", "-o", "FSTYPE,LABEL", "/srv/data")
	if err != nil || strings.Join(strings.Fields(mnt), " ") != "ext4 "+bootstrap.DataLabel {
		l.fail("%s: /srv/data after cloud-init: %q %v", g.Name, mnt, err)
	}
	if out, err := l.in(g, "systemctl", "is-enabled", "homelab-agent"); err != nil || strings.TrimSpace(out) != "enabled" {
		l.fail("%s: homelab-agent not enabled by the vendor data: %s %v", g.Name, out, err)
	}
}

// guestDocker is the docker CLI the drill's checks use in an app guest:
// the machine's, mounted read-only (the agent talks to the engine's API
// and installs no CLI: docker.io only recommends docker-cli).
const guestDocker = "/opt/e2e-tools/docker"

// inEngine runs docker in the guest, against the guest's own engine.
func (l *Lab) inEngine(g *Guest, args ...string) (string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	return dexec(ctx, g.Container, nil, append([]string{guestDocker}, args...)...)
}
