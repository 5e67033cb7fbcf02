package firewall_test

import (
	"context"
	"errors"
	"net"
	"net/http"
	"net/http/cgi"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/homelab-agent/homelab-agent/agent/firewall"
	"github.com/homelab-agent/homelab-agent/internal/testreq"
)

// gitServer serves an empty bare repo with git http-backend on the
// namespace's loopback and returns its URL.
func gitServer(t *testing.T, ns string) string {
	t.Helper()
	git := testreq.Tool(t, "git")
	dir := t.TempDir()
	sh(t, git, "init", "-q", "--bare", filepath.Join(dir, "lab.git"))
	var ln net.Listener
	if err := inNS(ns, func() (err error) { ln, err = net.Listen("tcp4", "127.0.0.1:0"); return err }); err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: &cgi.Handler{Path: git, Args: []string{"http-backend"},
		Env: []string{"GIT_PROJECT_ROOT=" + dir, "GIT_HTTP_EXPORT_ALL=1"}}}
	go srv.Serve(ln)
	t.Cleanup(func() { srv.Close() })
	return "http://" + ln.Addr().String() + "/lab.git"
}

// lsRemoteProbe is the daemon's kind of probe: git ls-remote of the lab
// repo, run in the namespace.
func lsRemoteProbe(ns, url string) func(ctx context.Context) error {
	return func(ctx context.Context) error {
		cmd := exec.CommandContext(ctx, "ip", "netns", "exec", ns, "git", "ls-remote", url)
		cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
		cmd.Cancel = func() error { return syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL) }
		cmd.WaitDelay = time.Second
		out, err := cmd.CombinedOutput()
		if err != nil {
			return errors.New("git ls-remote: " + strings.TrimSpace(string(out)) + ": " + err.Error())
		}
		return nil
	}
}

// cutOff drops everything the host receives, loopback included.
var cutOff = &firewall.Ruleset{Chains: []*firewall.Chain{
	{Name: "input", Type: "filter", Hook: "input", Priority: 0, Policy: "drop"},
}}

// TestLockoutRollsBack: a table that cuts the host off from its git
// server is rolled back within the timeout, to the previous table or to
// none when there was none.
func TestLockoutRollsBack(t *testing.T) {
	needKernel(t)
	for _, previous := range []bool{true, false} {
		name := map[bool]string{true: "previous", false: "none"}[previous]
		t.Run(name, func(t *testing.T) {
			ns := newNS(t, "lock"+name[:4])
			url := gitServer(t, ns)
			probe := lsRemoteProbe(ns, url)
			if err := probe(context.Background()); err != nil {
				t.Fatalf("git server not reachable before any table: %v", err)
			}
			timeout := 1500 * time.Millisecond
			ctx := firewall.WithConfirm(context.Background(), firewall.Confirm{Probe: probe, Timeout: timeout, Interval: 100 * time.Millisecond})
			good := &firewall.Table{Host: sampleHost("10.231.0.1/32"), NetNS: nsPath(ns)}
			if previous {
				apply(t, ctx, good)
			}
			before := nft(t, ns, "list", "ruleset")

			start := time.Now()
			ch, err := (&firewall.Table{Ruleset: cutOff, NetNS: nsPath(ns)}).CheckApply(ctx, env, true)
			took := time.Since(start)
			var rej *firewall.RejectedError
			if !errors.As(err, &rej) {
				t.Fatalf("got %v, want a RejectedError", err)
			}
			t.Logf("rolled back after %v: %v", took.Round(time.Millisecond), err)
			if took > timeout+time.Second {
				t.Errorf("rollback took %v, timeout is %v", took, timeout)
			}
			if ch == nil || ch.Summary != "rejected: rolled back" || !strings.Contains(rej.Diff, "policy drop") {
				t.Errorf("change %+v, diff %q", ch, rej.Diff)
			}
			if after := nft(t, ns, "list", "ruleset"); after != before {
				t.Errorf("after rollback:\n%s\nwant\n%s", after, before)
			}
			if err := probe(context.Background()); err != nil {
				t.Errorf("git server unreachable after rollback: %v", err)
			}
		})
	}
}

// TestNoPermission: without CAP_NET_ADMIN the error says so. The test
// binary runs itself again as nobody.
func TestNoPermission(t *testing.T) {
	if os.Getenv("FIREWALL_TEST_CHILD") == "1" {
		_, err := (&firewall.Table{Host: sampleHost("10.231.0.1/32")}).CheckApply(context.Background(), env, false)
		if !errors.Is(err, firewall.ErrNoPermission) {
			t.Fatalf("got %v, want ErrNoPermission", err)
		}
		t.Log(err)
		return
	}
	testreq.Root(t)
	dir, err := os.MkdirTemp("", "firewall-noperm")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	bin := filepath.Join(dir, "firewall.test")
	data, err := os.ReadFile(os.Args[0])
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(bin, data, 0o755); err != nil || os.Chmod(dir, 0o755) != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(bin, "-test.run", "^TestNoPermission$", "-test.v")
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "FIREWALL_TEST_CHILD=1")
	cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: 65534, Gid: 65534}}
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("child: %v\n%s", err, out)
	}
	for _, line := range strings.Split(string(out), "\n") {
		if strings.Contains(line, "CAP_NET_ADMIN") {
			t.Log("as nobody:", strings.TrimSpace(line))
		}
	}
	if !strings.Contains(string(out), "CAP_NET_ADMIN") {
		t.Errorf("child output lacks the CAP_NET_ADMIN hint:\n%s", out)
	}
}
