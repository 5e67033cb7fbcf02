package firewall_test

import (
	"context"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/homelab-agent/homelab-agent/agent/firewall"
	"github.com/homelab-agent/homelab-agent/agent/resource"
	"github.com/homelab-agent/homelab-agent/internal/testreq"
)

// TestBootScriptLoadsSameTable: after an apply the table is saved as an
// nft script; `nft -f` of that file in a fresh namespace gives the same
// table (nft lists the same text, and the agent finds nothing to change),
// and loading it again over the table is harmless.
func TestBootScriptLoadsSameTable(t *testing.T) {
	needKernel(t)
	h := sampleHost("10.231.0.1/32")
	h.Ping = []netip.Prefix{pfx("10.231.0.1/32"), pfx("100.64.0.0/10")}
	root := t.TempDir()
	env := &resource.Env{Root: root}
	src, fresh := newNS(t, "bootsrc"), newNS(t, "bootnew")
	tb := &firewall.Table{Host: h, NetNS: nsPath(src), Persist: firewall.PersistPath}
	if _, err := tb.CheckApply(context.Background(), env, true); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(root, firewall.PersistPath)
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatalf("no boot script after apply: %v", err)
	}
	if fi.Mode().Perm() != 0o600 {
		t.Errorf("boot script mode %v, want 0600", fi.Mode().Perm())
	}
	want := nft(t, src, "list", "table", "inet", "homelab")
	for i := 0; i < 2; i++ { // the second load replaces the table it made
		nft(t, fresh, "-f", path)
		if got := nft(t, fresh, "list", "table", "inet", "homelab"); got != want {
			t.Fatalf("load %d: nft -f of the boot script gives\n%s\nwant\n%s", i+1, got, want)
		}
	}
	gen := genID(t, fresh)
	tb2 := &firewall.Table{Host: h, NetNS: nsPath(fresh), Persist: firewall.PersistPath}
	if ch, err := tb2.CheckApply(context.Background(), env, true); ch != nil || err != nil {
		t.Fatalf("the agent would change the table nft loaded: %+v, %v", ch, err)
	}
	if g := genID(t, fresh); g != gen {
		t.Errorf("generation moved from %d to %d: the agent replaced the table nft loaded", gen, g)
	}

	// A changed table is saved again; a rejected one is not.
	h.Flows = h.Flows[:1]
	tb.Host = h
	if _, err := tb.CheckApply(context.Background(), env, true); err != nil {
		t.Fatal(err)
	}
	if b, _ := os.ReadFile(path); strings.Contains(string(b), "dport 53") {
		t.Errorf("boot script not updated after a change:\n%s", b)
	}
	saved, _ := os.ReadFile(path)
	h.Flows = nil
	tb.Host = h
	ctx := firewall.WithConfirm(context.Background(), firewall.Confirm{Probe: func(context.Context) error { return os.ErrDeadlineExceeded },
		Timeout: 200 * time.Millisecond, Interval: 50 * time.Millisecond})
	if _, err := tb.CheckApply(ctx, env, true); err == nil {
		t.Fatal("a change whose probe fails was not rejected")
	}
	if b, _ := os.ReadFile(path); string(b) != string(saved) {
		t.Errorf("a rejected table was saved for boot:\n%s", b)
	}
}

// TestBootUnitVerifies: systemd's own checker accepts the boot unit, and
// it is ordered before the network and Docker.
func TestBootUnitVerifies(t *testing.T) {
	analyze := testreq.Tool(t, "systemd-analyze")
	u := string(firewall.BootUnit())
	for _, want := range []string{"Before=network-pre.target docker.service", "Wants=network-pre.target",
		"ExecStart=/usr/sbin/nft -f " + firewall.PersistPath, "DefaultDependencies=no", "WantedBy=sysinit.target"} {
		if !strings.Contains(u, want) {
			t.Errorf("boot unit lacks %q:\n%s", want, u)
		}
	}
	testreq.Tool(t, "nft")
	if _, err := os.Stat(firewall.NftPath); err != nil {
		t.Fatalf("verify needs %s (ExecStart must exist): %v", firewall.NftPath, err)
	}
	path := filepath.Join(t.TempDir(), firewall.BootUnitName)
	os.WriteFile(path, []byte(u), 0o644)
	b, err := exec.Command(analyze, "verify", path).CombinedOutput()
	if err != nil || len(strings.TrimSpace(string(b))) > 0 {
		t.Fatalf("systemd-analyze verify: %v\n%s", err, b)
	}
}
