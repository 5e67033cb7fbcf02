package main

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/homelab-agent/homelab-agent/agent/gitsync"
	"github.com/homelab-agent/homelab-agent/agent/gitsync/gitsynctest"
	"github.com/homelab-agent/homelab-agent/agent/state"
)

// TestGuestCommandsNeedNoFlags: on a guest (agent.yaml names the host, the
// agent's clone holds the lab), plan needs neither --host nor --repo: it
// reads the last good commit, not whatever the daemon's work tree holds.
func TestGuestCommandsNeedNoFlags(t *testing.T) {
	repo := gitsynctest.NewRepo(t, "../../fixtures/lab")
	good := repo.Git("rev-parse", "HEAD")
	repo.Edit("homelab.yaml", "mullvad-base", "mullvad-family")
	repo.CommitAndPush("a later commit the agent has not accepted")
	root := t.TempDir()
	clone := filepath.Join(root, gitsync.Dir)
	if out, err := exec.Command("git", "clone", "-q", repo.Bare, clone).CombinedOutput(); err != nil {
		t.Fatalf("git clone: %v %s", err, out)
	}
	os.MkdirAll(filepath.Join(root, "etc/homelab-agent"), 0o755)
	os.WriteFile(filepath.Join(root, "etc/homelab-agent/agent.yaml"), []byte("repo: "+repo.Bare+"\nhost: dns1\n"), 0o644)
	if err := (&state.State{LastGoodCommit: good, AppliedCommit: good}).Save(root); err != nil {
		t.Fatal(err)
	}
	out, errOut, err := run(t, "", "plan", "--root", root)
	if err != nil {
		t.Fatalf("plan on a guest: %v\n%s%s", err, out, errOut)
	}
	if !strings.Contains(out, "dns1 (dns)") || !strings.Contains(out, "mullvad-base") || strings.Contains(out, "mullvad-family") {
		t.Errorf("plan did not read the last good commit for dns1:\n%s", out)
	}
	if _, err := os.Stat(filepath.Join(root, gitsync.ExportDir, "lab-"+good, "homelab.yaml")); err != nil {
		t.Errorf("export: %v", err)
	}
	// Off a guest, --host is still required, and says why.
	_, _, err = run(t, "", "plan", "--root", t.TempDir(), "--repo", "../../fixtures/lab")
	if err == nil || !strings.Contains(err.Error(), "--host is required (no agent.yaml") {
		t.Errorf("off a guest: %v", err)
	}
}
