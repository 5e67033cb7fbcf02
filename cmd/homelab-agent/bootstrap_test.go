package main

import (
	"bytes"
	"encoding/json"
	"encoding/pem"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/homelab-agent/homelab-agent/bootstrap/pvesim"
	"github.com/homelab-agent/homelab-agent/internal/testreq"
)

// TestBootstrapCommand runs the command against the simulator, on a
// stand-in node file system (--root) that carries /etc/pve/local and the
// cluster CA, as a Proxmox node does.
func TestBootstrapCommand(t *testing.T) {
	const token = "root@pam!homelab=cli-test"
	root := t.TempDir()
	sim := pvesim.New(pvesim.Options{Schema: pvesim.TestingSchema(t), Token: token, Root: root, BridgesFromFiles: true,
		DefaultTask: time.Millisecond, AgentDelay: 5 * time.Millisecond})
	url := sim.StartTLS()
	t.Cleanup(sim.Close)
	os.MkdirAll(filepath.Join(root, "etc/pve/nodes/pve"), 0o755)
	os.Symlink("nodes/pve", filepath.Join(root, "etc/pve/local"))
	os.WriteFile(filepath.Join(root, "etc/pve/pve-root-ca.pem"), pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: sim.Certificate().Raw}), 0o644)
	t.Setenv("PVE_API_TOKEN", token)
	sha := strings.Repeat("0a", 32)
	args := []string{"bootstrap", "--repo", "../../fixtures/lab", "--root", root, "--api", url,
		"--agent-url", "https://releases.example/homelab-agent", "--agent-sha256", sha,
		"--lab-url", "https://git.example/lab.git", "--image-checksum", "sha256:" + sha}
	run := func(extra ...string) (string, error) {
		var out, errb bytes.Buffer
		r := newRoot(&out, &errb)
		r.SetArgs(append(append([]string{}, args...), extra...))
		err := r.Execute()
		return out.String() + errb.String(), err
	}
	out, err := run()
	if err != nil || !strings.Contains(out, "create:  create media: VM 112 on pve") || !strings.Contains(out, "applied 15 step(s)") {
		t.Fatalf("first run: %v\n%s", err, out)
	}
	if out, err = run(); err != nil || !strings.Contains(out, "no changes: 6 VMs as homelab.yaml says") {
		t.Fatalf("second run: %v\n%s", err, out)
	}
	if out, err = run("--dry-run", "--replace", "photos", "--json"); err != nil {
		t.Fatalf("dry-run replace: %v\n%s", err, out)
	}
	var calls []map[string]any
	if err := json.Unmarshal([]byte(out), &calls); err != nil || len(calls) != 5 {
		t.Fatalf("dry-run --json: %v\n%s", err, out)
	}
	if _, err := run("--json"); !errors.As(err, new(usageError)) {
		t.Errorf("--json without --dry-run: %v", err)
	}
	if st := sim.Stats(); st.Rejected != 0 {
		t.Fatalf("rejected requests: %+v", st.Rejections)
	}
}

func TestBootstrapOffline(t *testing.T) {
	var out bytes.Buffer
	r := newRoot(&out, &out)
	r.SetArgs([]string{"bootstrap", "--repo", "../../fixtures/lab", "--offline", "--json", "--root", t.TempDir(),
		"--agent-url", "https://releases.example/homelab-agent", "--agent-sha256", strings.Repeat("0a", 32),
		"--lab-url", "https://git.example/lab.git"})
	if err := r.Execute(); err != nil {
		t.Fatalf("%v\n%s", err, out.String())
	}
	var calls []struct{ Method, Path string }
	if err := json.Unmarshal(out.Bytes(), &calls); err != nil || len(calls) != 20 || calls[2].Path != "/nodes/pve/qemu" {
		t.Fatalf("offline plan: %v\n%s", err, out.String())
	}
}

// TestBootstrapFromGitURL clones the lab repo given as a URL and plans it.
func TestBootstrapFromGitURL(t *testing.T) {
	git := testreq.Tool(t, "git")
	src := t.TempDir()
	for _, f := range []string{"homelab.yaml", "apps/whoami/compose.yaml"} {
		data, err := os.ReadFile(filepath.Join("../../fixtures/lab", f))
		if err != nil {
			t.Fatal(err)
		}
		os.MkdirAll(filepath.Dir(filepath.Join(src, f)), 0o755)
		os.WriteFile(filepath.Join(src, f), data, 0o644)
	}
	for _, args := range [][]string{{"init", "-q"}, {"add", "."}, {"-c", "user.name=t", "-c", "user.email=t@example.org", "commit", "-qm", "lab"}} {
		if out, err := exec.Command(git, append([]string{"-C", src}, args...)...).CombinedOutput(); err != nil {
			t.Fatalf("git %v: %v\n%s", args, err, out)
		}
	}
	var out bytes.Buffer
	r := newRoot(&out, &out)
	r.SetArgs([]string{"bootstrap", "--repo", "file://" + src, "--offline", "--root", t.TempDir(),
		"--agent-url", "https://releases.example/homelab-agent", "--agent-sha256", strings.Repeat("0a", 32)})
	if err := r.Execute(); err != nil || !strings.Contains(out.String(), "create:  create dns1: VM 102 on pve") {
		t.Fatalf("%v\n%s", err, out.String())
	}
}
