package firewall_test

import (
	"context"
	"errors"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/homelab-agent/homelab-agent/agent/firewall"
	"github.com/homelab-agent/homelab-agent/agent/gitsync"
	"github.com/homelab-agent/homelab-agent/agent/resource"
)

// confirmChild is set in the environment of the test binary re-run inside
// a namespace: the whole process (every thread the probes run on) is then
// in it, as the agent is on a host.
const confirmChild = "HOMELAB_FW_CONFIRM_CHILD"

// TestMain runs the child's side of TestLockoutProbesGitRemote when the
// binary is re-run for it, and the tests otherwise.
func TestMain(m *testing.M) {
	if target := os.Getenv(confirmChild); target != "" {
		os.Stdout.WriteString("RESULT " + confirmInChild(target) + "\n")
		os.Exit(0)
	}
	os.Exit(m.Run())
}

// confirmInChild replaces the namespace's table with one that drops
// everything, confirming with the target as the daemon does.
func confirmInChild(target string) string {
	tb := &firewall.Table{Host: sampleHost("10.231.0.1/32"), Ruleset: cutOff}
	ctx := firewall.WithConfirm(context.Background(), firewall.Confirm{Targets: []string{target},
		Timeout: 1500 * time.Millisecond, Interval: 100 * time.Millisecond})
	_, err := tb.CheckApply(ctx, &resource.Env{Root: "/"}, true)
	var rej *firewall.RejectedError
	switch {
	case errors.As(err, &rej):
		return "rejected: " + err.Error()
	case err != nil:
		return "error: " + err.Error()
	}
	return "kept"
}

// TestLockoutProbesGitRemote: the daemon's confirm target, the git
// remote's host:port (gitsync.ProbeTarget of its URL), is really probed:
// a table that cuts the host off from its git http-backend is rolled
// back; a remote that did not answer before the change is not required
// (the table stays).
func TestLockoutProbesGitRemote(t *testing.T) {
	needKernel(t)
	child := func(ns, target string) string {
		t.Helper()
		cmd := exec.Command("ip", "netns", "exec", ns, os.Args[0])
		cmd.Env = append(os.Environ(), confirmChild+"="+target)
		out, err := cmd.CombinedOutput()
		if err != nil {
			t.Fatalf("child: %v\n%s", err, out)
		}
		for _, l := range strings.Split(string(out), "\n") {
			if r, ok := strings.CutPrefix(l, "RESULT "); ok {
				return r
			}
		}
		t.Fatalf("child said nothing:\n%s", out)
		return ""
	}

	ns := newNS(t, "remote")
	url := gitServer(t, ns)
	target := gitsync.ProbeTarget(url)
	apply(t, context.Background(), &firewall.Table{Host: sampleHost("10.231.0.1/32"), NetNS: nsPath(ns)})
	before := nft(t, ns, "list", "table", "inet", "homelab")
	start := time.Now()
	if r := child(ns, target); !strings.HasPrefix(r, "rejected") || !strings.Contains(r, target) {
		t.Fatalf("a table cutting off the git remote %s: %s", target, r)
	}
	if took := time.Since(start); took > 10*time.Second {
		t.Errorf("rollback took %s", took)
	}
	if after := nft(t, ns, "list", "table", "inet", "homelab"); after != before {
		t.Errorf("not rolled back to the previous table:\n%s", after)
	}

	// A remote already unreachable (no route) before the change.
	ns2 := newNS(t, "remdown")
	if r := child(ns2, gitsync.ProbeTarget("https://10.255.255.1/lab.git")); r != "kept" {
		t.Errorf("a remote down before the change made the table rejected: %s", r)
	}
}
