package firewall_test

import (
	"context"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/homelab-agent/homelab-agent/agent"
	"github.com/homelab-agent/homelab-agent/agent/firewall"
	"github.com/homelab-agent/homelab-agent/agent/role"
	"github.com/homelab-agent/homelab-agent/internal/testreq"
)

// srvMain is the container's program: accept on every port it is given.
const srvMain = `package main

import (
	"net"
	"os"
)

func main() {
	for _, p := range os.Args[1:] {
		ln, err := net.Listen("tcp", ":"+p)
		if err != nil {
			panic(err)
		}
		go func() {
			for {
				if c, err := ln.Accept(); err == nil {
					c.Close()
				}
			}
		}()
	}
	select {}
}
`

// dockerd is a Docker Engine of the test's own, running in a namespace
// with its own data, sockets and bridge; nothing is shared with the
// machine's engine but the binaries.
type dockerd struct {
	dir string
}

func startDockerd(t *testing.T, ns string) *dockerd {
	t.Helper()
	for _, tool := range []string{"dockerd", "containerd", "docker", "nsenter", "go"} {
		testreq.Tool(t, tool)
	}
	dir, err := os.MkdirTemp("", "fwdockerd")
	if err != nil {
		t.Fatal(err)
	}
	d := &dockerd{dir: dir}
	cfg, _ := json.Marshal(map[string]any{
		"data-root": dir + "/data", "exec-root": dir + "/exec", "pidfile": dir + "/pid",
		"hosts": []string{"unix://" + dir + "/sock"}, "storage-driver": "vfs",
		"bip": "172.30.0.1/24", "iptables": true, "ip-forward": true,
	})
	os.WriteFile(filepath.Join(dir, "daemon.json"), cfg, 0o644)
	log, _ := os.Create(filepath.Join(dir, "log"))
	// nsenter (not ip netns exec) keeps the mount namespace, so dockerd
	// finds the cgroup hierarchies.
	cmd := exec.Command("nsenter", "--net="+nsPath(ns), "dockerd", "--config-file", filepath.Join(dir, "daemon.json"))
	cmd.Stdout, cmd.Stderr = log, log
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan struct{})
	go func() { cmd.Wait(); close(exited) }()
	t.Cleanup(func() {
		exec.Command("docker", "-H", "unix://"+dir+"/sock", "rm", "-f", "-v", "fwsrv", "fwsrv2").Run()
		cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-exited:
		case <-time.After(20 * time.Second):
			cmd.Process.Kill()
			<-exited
		}
		log.Close()
		os.RemoveAll(dir)
	})
	deadline := time.Now().Add(30 * time.Second)
	for {
		if _, err := d.docker("info"); err == nil {
			return d
		}
		select {
		case <-exited:
			b, _ := os.ReadFile(filepath.Join(dir, "log"))
			t.Fatalf("dockerd exited:\n%s", tail(string(b), 20))
		case <-time.After(200 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			t.Fatal("dockerd did not start within 30s")
		}
	}
}

func (d *dockerd) docker(args ...string) (string, error) {
	out, err := exec.Command("docker", append([]string{"-H", "unix://" + d.dir + "/sock"}, args...)...).CombinedOutput()
	return string(out), err
}

func (d *dockerd) must(t *testing.T, args ...string) {
	t.Helper()
	if out, err := d.docker(args...); err != nil {
		t.Fatalf("docker %s: %v\n%s", strings.Join(args, " "), err, out)
	}
}

func tail(s string, n int) string {
	lines := strings.Split(strings.TrimSpace(s), "\n")
	return strings.Join(lines[max(0, len(lines)-n):], "\n")
}

// TestRealDockerPublishedPorts runs a real Docker Engine inside the app
// host's namespace and publishes container ports with -p: after the
// host's table is applied, only the port the role declares is reachable,
// only from the proxy, even for a container published afterwards.
func TestRealDockerPublishedPorts(t *testing.T) {
	needKernel(t)
	l := loadTestLab(t)
	gw := newNS(t, "dgw")
	sh(t, "ip", "-n", gw, "link", "add", "br0", "type", "bridge")
	sh(t, "ip", "-n", gw, "link", "set", "br0", "up")
	ns := map[string]string{}
	for _, name := range []string{"dns1", "proxy", "media"} {
		ns[name] = newNS(t, "d"+name)
		sh(t, "ip", "link", "add", "v"+name, "netns", gw, "type", "veth", "peer", "name", "eth0", "netns", ns[name])
		sh(t, "ip", "-n", gw, "link", "set", "v"+name, "master", "br0", "up")
		sh(t, "ip", "-n", ns[name], "addr", "add", l.Hosts.Get(name).IP.String()+"/24", "dev", "eth0")
		sh(t, "ip", "-n", ns[name], "link", "set", "eth0", "up")
	}
	d := startDockerd(t, ns["media"])

	// A FROM scratch image with a static server; nothing is pulled.
	ctx := t.TempDir()
	os.WriteFile(filepath.Join(ctx, "main.go"), []byte(srvMain), 0o644)
	os.WriteFile(filepath.Join(ctx, "go.mod"), []byte("module srv\n\ngo 1.22\n"), 0o644)
	os.WriteFile(filepath.Join(ctx, "Dockerfile"), []byte("FROM scratch\nCOPY srv /srv\nENTRYPOINT [\"/srv\"]\n"), 0o644)
	build := exec.Command("go", "build", "-o", "srv", ".")
	build.Dir, build.Env = ctx, append(os.Environ(), "CGO_ENABLED=0", "GOFLAGS=", "GOTOOLCHAIN=local")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("building the server: %v\n%s", err, out)
	}
	d.must(t, "build", "-q", "-t", "fwtest-srv", ctx)
	d.must(t, "run", "-d", "--name", "fwsrv", "-p", "8096:8096", "-p", "9999:9999", "fwtest-srv", "8096", "9999")

	media := "10.231.0.10"
	checkMatrix(t, []flow{ // Docker alone publishes to everyone
		{ns["dns1"], "tcp", media + ":8096", true},
		{ns["proxy"], "tcp", media + ":9999", true},
	})

	tb := agent.FirewallTable(role.Input{Lab: l, Host: l.Hosts.Get("media")})
	tb.NetNS = nsPath(ns["media"])
	cctx := firewall.WithConfirm(context.Background(), firewall.Confirm{Probe: okProbe})
	if _, err := tb.CheckApply(cctx, env, true); err != nil {
		t.Fatal(err)
	}
	// Docker publishes one more port after our table is in place.
	d.must(t, "run", "-d", "--name", "fwsrv2", "-p", "7777:7777", "fwtest-srv", "7777")

	checkMatrix(t, []flow{
		{ns["proxy"], "tcp", media + ":8096", true},
		{ns["dns1"], "tcp", media + ":8096", false},
		{ns["proxy"], "tcp", media + ":9999", false},
		{ns["dns1"], "tcp", media + ":9999", false},
		{ns["proxy"], "tcp", media + ":7777", false},
	})
	if ch, err := tb.CheckApply(cctx, env, true); ch != nil || err != nil {
		t.Errorf("Docker's changes made our table differ: %+v %v", ch, err)
	}
	if nat := sh(t, "ip", "netns", "exec", ns["media"], "iptables", "-t", "nat", "-S", "DOCKER"); !strings.Contains(nat, "--dport 7777") {
		t.Errorf("Docker's own rules are gone:\n%s", nat)
	}
}
