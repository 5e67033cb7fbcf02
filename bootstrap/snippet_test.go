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
	"strings"
	"testing"

	"gopkg.in/yaml.v3"

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
