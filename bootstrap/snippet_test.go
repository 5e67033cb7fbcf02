package bootstrap_test

import (
	"bytes"
	"context"
	"encoding/pem"
	"errors"
	"flag"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"gopkg.in/yaml.v3"

	"github.com/homelab-agent/homelab-agent/agent/daemon"
	"github.com/homelab-agent/homelab-agent/agent/lab"
	"github.com/homelab-agent/homelab-agent/bootstrap"
	"github.com/homelab-agent/homelab-agent/internal/testreq"
)

var update = flag.Bool("update", false, "rewrite golden files")

func vendorInput() bootstrap.VendorInput {
	return bootstrap.VendorInput{Host: "dns1", Repo: "https://git.example/lab.git", Branch: "main",
		AgentURL: agentURL, AgentSHA256: sum("agent")}
}

func TestVendorDataGolden(t *testing.T) {
	got := bootstrap.VendorData(vendorInput())
	golden := filepath.Join("testdata", "vendor-dns1.yaml")
	if *update {
		if err := os.WriteFile(golden, got, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(golden)
	if err != nil {
		t.Fatalf("%v (run go test -update)", err)
	}
	if !bytes.Equal(got, want) {
		t.Fatalf("vendor data differs from %s (go test -update rewrites it):\n%s", golden, got)
	}
	if !bytes.Equal(got, bootstrap.VendorData(vendorInput())) {
		t.Fatal("VendorData is not deterministic")
	}
}

func TestVendorDataIsCloudConfig(t *testing.T) {
	data := bootstrap.VendorData(vendorInput())
	if !bytes.HasPrefix(data, []byte("#cloud-config\n")) {
		t.Fatal("no #cloud-config header")
	}
	var doc struct {
		Packages   []string `yaml:"packages"`
		WriteFiles []struct {
			Path, Permissions, Content string
		} `yaml:"write_files"`
		RunCmd [][]string `yaml:"runcmd"`
	}
	if err := yaml.Unmarshal(data, &doc); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(strings.Join(doc.Packages, " "), "qemu-guest-agent") {
		t.Errorf("packages %v", doc.Packages)
	}
	files := map[string]string{}
	for _, f := range doc.WriteFiles {
		files[f.Path] = f.Content
	}
	var cfg map[string]string
	if err := yaml.Unmarshal([]byte(files[bootstrap.AgentConfigPath]), &cfg); err != nil ||
		cfg["host"] != "dns1" || cfg["repo"] != "https://git.example/lab.git" || cfg["branch"] != "main" {
		t.Errorf("agent.yaml = %v (%v)", cfg, err)
	}
	if !strings.Contains(files[bootstrap.UnitPath], "ExecStart=/usr/local/bin/homelab-agent run") {
		t.Errorf("unit:\n%s", files[bootstrap.UnitPath])
	}
	script := files[bootstrap.FirstbootPath]
	for _, want := range []string{"blkid -p \"$dev\"", "2) mkfs.ext4 -q -L \"$label\" \"$dev\"", "LABEL=$label $mnt ext4",
		"sha256sum -c", sum("agent"), "systemctl enable --now homelab-agent.service"} {
		if !strings.Contains(script, want) {
			t.Errorf("first-boot script lacks %q", want)
		}
	}
	if len(doc.RunCmd) != 2 || doc.RunCmd[1][0] != bootstrap.FirstbootPath {
		t.Errorf("runcmd %v", doc.RunCmd)
	}
	sh := filepath.Join(t.TempDir(), "firstboot.sh")
	os.WriteFile(sh, []byte(script), 0o755)
	if out, err := exec.Command("sh", "-n", sh).CombinedOutput(); err != nil {
		t.Errorf("sh -n: %v\n%s", err, out)
	}
}

func TestSSHKeysEncoding(t *testing.T) {
	got := bootstrap.EncodeSSHKeys([]string{"ssh-ed25519 AAAA+b/c= me@host", " ssh-rsa AAAB x "})
	want := "ssh-ed25519%20AAAA%2Bb%2Fc%3D%20me%40host%0Assh-rsa%20AAAB%20x"
	if got != want {
		t.Fatalf("got %s\nwant %s", got, want)
	}
}

func TestClientPinningAndToken(t *testing.T) {
	e := newEnv(t, fastTasks())
	ctx := context.Background()
	wrong := strings.Repeat("AB:", 31) + "AB"
	c, err := bootstrap.NewClient(bootstrap.ClientConfig{URL: e.url, Token: token, Fingerprint: wrong})
	if err != nil {
		t.Fatal(err)
	}
	if err := c.Do(ctx, "GET", "/version", nil, nil); err == nil || !strings.Contains(err.Error(), "does not match the pinned fingerprint") {
		t.Errorf("wrong fingerprint: %v", err)
	}
	ca := filepath.Join(t.TempDir(), "ca.pem")
	os.WriteFile(ca, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: e.sim.Certificate().Raw}), 0o644)
	c, err = bootstrap.NewClient(bootstrap.ClientConfig{URL: e.url, Token: "PVEAPIToken=" + token, CAFile: ca})
	if err != nil {
		t.Fatal(err)
	}
	if err := c.Do(ctx, "GET", "/version", nil, nil); err != nil {
		t.Errorf("CA file: %v", err)
	}
	if _, err := bootstrap.NewClient(bootstrap.ClientConfig{URL: e.url, Token: token}); err == nil {
		t.Error("a client without a pinned certificate was made")
	}
	if _, err := bootstrap.NewClient(bootstrap.ClientConfig{URL: e.url, Token: "root@pam:secret", CAFile: ca}); err == nil {
		t.Error("a malformed token was accepted")
	}
	c, _ = bootstrap.NewClient(bootstrap.ClientConfig{URL: e.url, Token: "root@pam!homelab=wrong", CAFile: ca})
	var ae *bootstrap.APIError
	if err := c.Do(ctx, "GET", "/version", nil, nil); !errors.As(err, &ae) || ae.Status != 401 || c.Retries() != 0 {
		t.Errorf("wrong token: %v", err)
	}
}

// TestFirstbootFormatsOnlyEmptyDisks runs the first-boot script's format
// guard for real on a disk image file: an empty disk is formatted and
// labelled, a disk that carries a filesystem (with a file on it) is kept.
func TestFirstbootFormatsOnlyEmptyDisks(t *testing.T) {
	for _, tool := range []string{"blkid", "mkfs.ext4", "debugfs"} {
		testreq.Tool(t, tool)
	}
	dir := t.TempDir()
	disk := filepath.Join(dir, "data.img")
	if err := os.WriteFile(disk, make([]byte, 16<<20), 0o644); err != nil {
		t.Fatal(err)
	}
	in := vendorInput()
	in.DataDevice = disk
	script := bootstrap.FirstbootScript(in)
	start, end := strings.Index(script, "rc=0\n"), strings.Index(script, "esac\n")
	if start < 0 || end < start {
		t.Fatalf("no format guard in:\n%s", script)
	}
	guard := "set -eu\ndev=" + "'" + disk + "'" + " label='" + bootstrap.DataLabel + "'\n" + script[start:end+len("esac\n")]
	run := func() string {
		out, err := exec.Command("sh", "-c", guard).CombinedOutput()
		if err != nil {
			t.Fatalf("guard: %v\n%s", err, out)
		}
		return string(out)
	}
	run()
	label, _ := exec.Command("blkid", "-p", "-o", "value", "-s", "LABEL", disk).Output()
	if strings.TrimSpace(string(label)) != bootstrap.DataLabel {
		t.Fatalf("empty disk not formatted with label %s: %q", bootstrap.DataLabel, label)
	}
	marker := filepath.Join(dir, "marker")
	os.WriteFile(marker, []byte("precious data\n"), 0o644)
	if out, err := exec.Command("debugfs", "-w", "-R", "write "+marker+" marker", disk).CombinedOutput(); err != nil {
		t.Fatalf("debugfs write: %v\n%s", err, out)
	}
	if out := run(); !strings.Contains(out, "already carries data; not formatting") {
		t.Errorf("second run: %s", out)
	}
	got, err := exec.Command("debugfs", "-R", "cat marker", disk).Output()
	if err != nil || string(got) != "precious data\n" {
		t.Fatalf("data lost after the second run: %q %v", got, err)
	}
}

// TestVendorDataCompletesTheAgent: the lab's bootstrap keys trusted_keys,
// known_hosts, interval and listen reach the guest's agent.yaml, which
// the agent's own loader reads back as the lab says; known_hosts is a
// plain file (no secret); and the unit is the very one `install` writes
// (watchdog, TimeoutStartSec, Restart=always).
func TestVendorDataCompletesTheAgent(t *testing.T) {
	const (
		owner = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIBx+/9Kq0= owner@laptop"
		hosts = "git.example ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIJdD7y3aLq58th6GOB3MGNPh1E8kdKqhrAXCLLq1bYLu"
	)
	src := `domain: home.example
network: {cidr: 192.168.100.0/24, gateway: 192.168.100.1}
hosts:
  dns1: {ip: 192.168.100.2, role: dns, vm: {vmid: 102}}
bootstrap:
  repo: https://git.example/lab.git
  agent: {url: "https://releases.example/homelab-agent", checksum: "sha256:` + strings.Repeat("cd", 32) + `"}
  trusted_keys: ["` + owner + `"]
  known_hosts: |
    ` + hosts + `
  interval: 30s
  listen: 0.0.0.0:9123
`
	l, err := lab.Parse(".", []byte(src), lab.Options{})
	if err != nil {
		t.Fatal(err)
	}
	specs, _, err := bootstrap.Specs(l, bootstrap.SettingsFor(l, bootstrap.Settings{}))
	if err != nil || len(specs) != 1 {
		t.Fatalf("specs %v %v", specs, err)
	}
	var doc struct {
		WriteFiles []struct{ Path, Permissions, Content string } `yaml:"write_files"`
	}
	if err := yaml.Unmarshal(specs[0].Snippet, &doc); err != nil {
		t.Fatal(err)
	}
	if specs[0].Secret {
		t.Error("a snippet without secrets is marked secret")
	}
	root := t.TempDir()
	perms := map[string]string{}
	for _, f := range doc.WriteFiles {
		perms[f.Path] = f.Permissions
		p := filepath.Join(root, f.Path)
		os.MkdirAll(filepath.Dir(p), 0o755)
		os.WriteFile(p, []byte(f.Content), 0o600)
	}
	cfg, err := daemon.LoadConfig(filepath.Join(root, bootstrap.AgentConfigPath), false, nil)
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Host != "dns1" || time.Duration(cfg.Interval) != 30*time.Second || cfg.Listen != "0.0.0.0:9123" ||
		!slices.Equal(cfg.TrustedKeys, []string{owner}) || cfg.Auth.KnownHosts != bootstrap.KnownHostsPath {
		t.Errorf("agent.yaml as the agent reads it: %+v", cfg)
	}
	if b, _ := os.ReadFile(filepath.Join(root, bootstrap.KnownHostsPath)); string(b) != hosts+"\n" || perms[bootstrap.KnownHostsPath] != "0644" {
		t.Errorf("known_hosts %q mode %s", b, perms[bootstrap.KnownHostsPath])
	}
	unit, _ := os.ReadFile(filepath.Join(root, bootstrap.UnitPath))
	if !bytes.Equal(unit, daemon.Unit(bootstrap.AgentBinary)) {
		t.Errorf("the vendor unit is not install's:\n%s", unit)
	}
	for _, want := range []string{"TimeoutStartSec=15min", "WatchdogSec=2min", "Restart=always", "RequiresMountsFor=/srv/data", "Type=notify"} {
		if !bytes.Contains(unit, []byte(want)) {
			t.Errorf("unit lacks %s", want)
		}
	}
	// install writes the same bytes.
	res, err := daemon.Install(daemon.InstallOptions{Root: t.TempDir(), Bin: bootstrap.AgentBinary, Host: "dns1"})
	if err != nil {
		t.Fatal(err)
	}
	if b, _ := os.ReadFile(res.Unit); !bytes.Equal(b, unit) {
		t.Errorf("install's unit differs from the vendor data's")
	}
}
