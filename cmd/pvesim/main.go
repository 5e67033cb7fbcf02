// Command pvesim runs the Proxmox VE API simulator on a loopback port, so
// that `homelab-agent bootstrap` can be tried end to end without a node.
// It checks every request against Proxmox's own API schema (apidoc.js) and
// prints how to point bootstrap at it. See docs/bootstrap.md.
package main

import (
	"crypto/rand"
	"encoding/hex"
	"encoding/pem"
	"flag"
	"fmt"
	"net"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/homelab-agent/homelab-agent/bootstrap/pvesim"
)

func main() {
	listen := flag.String("listen", "127.0.0.1:8006", "loopback address to serve the API on")
	apidoc := flag.String("apidoc", "", "Proxmox's apidoc.js (default: $PVE_APIDOC, else shared/proxmox/apidoc.js above this folder)")
	root := flag.String("root", "", "the simulated node's file system (default: a new temp folder)")
	nodes := flag.String("nodes", "pve", "comma-separated node names")
	token := flag.String("token", "", "the accepted API token USER@REALM!ID=SECRET (default: a random one)")
	scale := flag.Float64("scale", 0.1, "task durations as a fraction of a real node's (1 = realistic)")
	var inj injections
	flag.Func("fail-task", "make the next task TYPE[:ID] fail with EXIT (TYPE[:ID]=EXIT; repeatable)", inj.failTask)
	flag.IntVar(&inj.locks, "lock-timeouts", 0, "answer the next N VM changes with a config-lock timeout")
	flag.IntVar(&inj.errors, "server-errors", 0, "answer the next N requests with 503")
	flag.Parse()
	if err := run(*listen, *apidoc, *root, *nodes, *token, *scale, inj); err != nil {
		fmt.Fprintln(os.Stderr, "pvesim:", err)
		os.Exit(1)
	}
}

// injections are failures to inject, from the flags.
type injections struct {
	tasks         [][3]string
	locks, errors int
}

func (in *injections) failTask(v string) error {
	what, exit, ok := strings.Cut(v, "=")
	if !ok || what == "" || exit == "" {
		return fmt.Errorf("want TYPE[:ID]=EXIT, e.g. qmcreate:111=storage full")
	}
	typ, id, _ := strings.Cut(what, ":")
	in.tasks = append(in.tasks, [3]string{typ, id, exit})
	return nil
}

func run(listen, apidoc, root, nodes, token string, scale float64, inj injections) error {
	host, _, err := net.SplitHostPort(listen)
	if err != nil {
		return err
	}
	if ip := net.ParseIP(host); ip == nil || !ip.IsLoopback() {
		return fmt.Errorf("--listen %s: the simulator only listens on loopback addresses", listen)
	}
	if apidoc == "" {
		if apidoc, err = pvesim.FindSchema("."); err != nil {
			return err
		}
	}
	schema, err := pvesim.LoadSchema(apidoc)
	if err != nil {
		return err
	}
	if root == "" {
		if root, err = os.MkdirTemp("", "pvesim-"); err != nil {
			return err
		}
	}
	if token == "" {
		b := make([]byte, 16)
		rand.Read(b)
		token = "root@pam!homelab=" + hex.EncodeToString(b)
	}
	names := strings.Split(nodes, ",")
	opts := pvesim.Options{Schema: schema, Nodes: names, Token: token, Root: root, BridgesFromFiles: true}
	opts.Realistic(scale)
	sim := pvesim.New(opts)
	for _, f := range inj.tasks {
		sim.FailNextTask(f[0], f[1], f[2])
	}
	sim.LockTimeouts(inj.locks)
	sim.ServerErrors(inj.errors, 503, "/")
	l, err := net.Listen("tcp", listen)
	if err != nil {
		return err
	}
	url := sim.Serve(l)
	defer sim.Close()
	// Make root look like the first node's file system: /etc/pve/local
	// names the node, and the cluster CA is the simulator's certificate.
	pve := filepath.Join(root, "etc/pve")
	if err := os.MkdirAll(filepath.Join(pve, "nodes", names[0]), 0o755); err != nil {
		return err
	}
	os.Remove(filepath.Join(pve, "local"))
	if err := os.Symlink("nodes/"+names[0], filepath.Join(pve, "local")); err != nil {
		return err
	}
	ca := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: sim.Certificate().Raw})
	if err := os.WriteFile(filepath.Join(pve, "pve-root-ca.pem"), ca, 0o644); err != nil {
		return err
	}
	fmt.Printf(`pvesim: Proxmox VE API simulator (schema %[1]s) on %[2]s, nodes %[3]s
node file system: %[4]s   task durations: %.2[5]gx a real node's

  export PVE_API_TOKEN='%[7]s'
  homelab-agent bootstrap --repo fixtures/lab --root %[4]s --api %[2]s \
    --agent-url https://releases.example/homelab-agent --agent-sha256 %[6]s \
    --lab-url https://git.example/lab.git --image-checksum sha256:%[6]s

certificate sha256 (for --fingerprint): %[8]s
Ctrl-C prints the request counts and stops.
`, apidoc, url, nodes, root, scale, strings.Repeat("0", 64), token, sim.Fingerprint())
	sig := make(chan os.Signal, 1)
	signal.Notify(sig, os.Interrupt, syscall.SIGTERM)
	<-sig
	st := sim.Stats()
	fmt.Printf("\npvesim: %d requests, %d rejected by the schema, %d injected failures, at %s\n", st.Requests, st.Rejected, st.Injected, time.Now().Format(time.RFC3339))
	for _, r := range st.Rejections {
		fmt.Printf("  rejected %s %s: %d %s %v\n", r.Method, r.Path, r.Status, r.Message, r.Errors)
	}
	return nil
}
