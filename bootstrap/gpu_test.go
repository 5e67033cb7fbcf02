package bootstrap_test

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/homelab-agent/homelab-agent/agent"
	"github.com/homelab-agent/homelab-agent/bootstrap/pvesim"
)

// TestGPUPassthroughReachesTheVM: jellyfin's gpu: true with vm.hostpci
// becomes the VM's hostpci0, which the simulator accepts under Proxmox's
// schema; a malformed device is refused by the simulator's format check.
func TestGPUPassthroughReachesTheVM(t *testing.T) {
	e := newEnv(t, fastTasks())
	l, err := agent.LoadLab(labWith(t, "    role: jellyfin\n", "    role: jellyfin\n    gpu: true\n",
		"vm: {vmid: 112,", "vm: {vmid: 112, hostpci: \"0000:00:02.0,x-vga=1\","))
	if err != nil {
		t.Fatal(err)
	}
	e.lab = l
	e.bootstrap()
	e.noRejections()
	if got := e.sim.VM(112).Config["hostpci0"]; got != "0000:00:02.0,x-vga=1" {
		t.Fatalf("media's hostpci0 = %q", got)
	}
	if got := e.sim.VM(110).Config["hostpci0"]; got != "" {
		t.Fatalf("cloud got a GPU: %q", got)
	}
	for v, ok := range map[string]bool{"0000:00:02.0": true, "01:00.0;01:00.1,pcie=1": true, "mapping=igpu": true, "igpu": false, "mapping=igpu,host=00:02.0": false} {
		if msg := pvesim.CheckFormat("pve-qm-hostpci", v); (msg == "") != ok {
			t.Errorf("hostpci %q: %q", v, msg)
		}
	}
}

// TestGPUNeedsHostPCI: a bootstrapped jellyfin host with gpu: true but no
// vm.hostpci, and a malformed hostpci, are lab errors.
func TestGPUNeedsHostPCI(t *testing.T) {
	_, err := agent.LoadLab(labWith(t, "    role: jellyfin\n", "    role: jellyfin\n    gpu: true\n"))
	if err == nil || !strings.Contains(err.Error(), "host media: gpu: true needs vm.hostpci") {
		t.Fatalf("err = %v", err)
	}
	_, err = agent.LoadLab(labWith(t, "vm: {vmid: 112,", "vm: {vmid: 112, hostpci: \"gpu0\","))
	if err == nil || !strings.Contains(err.Error(), `invalid hostpci "gpu0"`) {
		t.Fatalf("err = %v", err)
	}
}

// labWith copies the sample lab into a temp folder with replacements
// (old, new, old, new ...) in homelab.yaml, and returns the folder.
func labWith(t *testing.T, pairs ...string) string {
	t.Helper()
	dir := t.TempDir()
	if err := os.CopyFS(dir, os.DirFS("../fixtures/lab")); err != nil {
		t.Fatal(err)
	}
	p := filepath.Join(dir, "homelab.yaml")
	b, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	y := string(b)
	for i := 0; i+1 < len(pairs); i += 2 {
		if !strings.Contains(y, pairs[i]) {
			t.Fatalf("homelab.yaml has no %q", pairs[i])
		}
		y = strings.Replace(y, pairs[i], pairs[i+1], 1)
	}
	if err := os.WriteFile(p, []byte(y), 0o644); err != nil {
		t.Fatal(err)
	}
	return dir
}
