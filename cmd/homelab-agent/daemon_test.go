package main

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/coreos/go-systemd/v22/unit"

	"github.com/homelab-agent/homelab-agent/agent/daemon"
	"github.com/homelab-agent/homelab-agent/agent/firewall"
	"github.com/homelab-agent/homelab-agent/agent/gitsync/gitsynctest"
	"github.com/homelab-agent/homelab-agent/agent/state"
	"github.com/homelab-agent/homelab-agent/internal/testreq"
)

var (
	buildOnce sync.Once
	binPath   string
	buildErr  error
)

// agentBinary builds the command once per test binary.
func agentBinary(t *testing.T) string {
	t.Helper()
	testreq.Tool(t, "go")
	buildOnce.Do(func() {
		dir, err := os.MkdirTemp("", "homelab-agent-bin")
		if err != nil {
			buildErr = err
			return
		}
		binPath = filepath.Join(dir, "homelab-agent")
		// Built as make build does (static, no symbols), so that what the
		// tests measure (idle RSS) is what ships.
		cmd := exec.Command("go", "build", "-trimpath", "-ldflags", "-s -w", "-o", binPath, ".")
		cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
		out, err := cmd.CombinedOutput()
		if err != nil {
			buildErr = fmt.Errorf("go build: %v\n%s", err, out)
		}
	})
	if buildErr != nil {
		t.Fatal(buildErr)
	}
	return binPath
}

// cleanupBinary removes the agent binary the daemon tests built; TestMain
// (script_test.go) calls it after the tests ran.
func cleanupBinary() {
	if binPath != "" {
		os.RemoveAll(filepath.Dir(binPath))
	}
}

func freeAddr(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

// agentProc is `homelab-agent run` as a subprocess.
type agentProc struct {
	cmd   *exec.Cmd
	mu    sync.Mutex
	lines []string
	seen  chan string
	eof   chan struct{} // closed once every line of stderr was read
}

// wait waits for the agent to exit after its log was read to the end
// (Wait closes the pipe: called first, it can lose the last lines).
func (p *agentProc) wait() error {
	<-p.eof
	return p.cmd.Wait()
}

func startAgent(t *testing.T, bin, config, root string) *agentProc {
	t.Helper()
	cmd := exec.Command(bin, "run", "--config", config, "--root", root)
	cmd.Env = os.Environ()
	stderr, err := cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	p := &agentProc{cmd: cmd, seen: make(chan string, 1000), eof: make(chan struct{})}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() {
		defer close(p.eof)
		sc := bufio.NewScanner(stderr)
		for sc.Scan() {
			p.mu.Lock()
			p.lines = append(p.lines, sc.Text())
			p.mu.Unlock()
			select {
			case p.seen <- sc.Text():
			default:
			}
		}
	}()
	t.Cleanup(func() {
		if cmd.ProcessState == nil {
			cmd.Process.Kill()
			p.wait()
		}
		if t.Failed() {
			t.Logf("agent log:\n%s", p.log())
		}
	})
	return p
}

func (p *agentProc) log() string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return strings.Join(p.lines, "\n")
}

// waitState polls state.json until cond holds.
func waitState(t *testing.T, root string, what string, cond func(*state.State) bool) *state.State {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for {
		st, err := state.Load(root)
		if err == nil && cond(st) {
			return st
		}
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s (state %+v, err %v)", what, st, err)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// snapshot reads every file under root/etc.
func snapshot(t *testing.T, root string) map[string]string {
	t.Helper()
	out := map[string]string{}
	filepath.WalkDir(filepath.Join(root, "etc"), func(p string, d fs.DirEntry, err error) error {
		if err == nil && !d.IsDir() {
			b, _ := os.ReadFile(p)
			rel, _ := filepath.Rel(root, p)
			out[rel] = string(b)
		}
		return nil
	})
	return out
}

func writeConfig(t *testing.T, dir string, kv map[string]string) string {
	t.Helper()
	var b strings.Builder
	for k, v := range kv {
		fmt.Fprintf(&b, "%s: %s\n", k, strconv.Quote(v))
	}
	p := filepath.Join(dir, "agent.yaml")
	if err := os.WriteFile(p, []byte(b.String()), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

// TestRunKill9MidApply kills the agent with SIGKILL while it applies a
// new commit (on its first "changed" log line), restarts it, and checks
// that every file was at all times either the old or the new version and
// that the restarted agent converges. It ends with SIGTERM: a clean exit.
func TestRunKill9MidApply(t *testing.T) {
	bin := agentBinary(t)
	repo := gitsynctest.NewRepo(t, "../../fixtures/lab")
	srv := gitsynctest.StartHTTP(t, repo.Root, "agent", "pw")
	root := t.TempDir()
	addr := freeAddr(t)
	config := writeConfig(t, t.TempDir(), map[string]string{"repo": srv.URL("lab.git"), "host": "dns1",
		"interval": "50ms", "listen": addr})
	t.Setenv("HOMELAB_AGENT_AUTH_TOKEN", "agent:pw")

	p := startAgent(t, bin, config, root)
	head := repo.Git("rev-parse", "HEAD")
	waitState(t, root, "first converge", func(s *state.State) bool { return s.LastGoodCommit == head })
	before := snapshot(t, root)

	domains := []string{"home.example", "lab.example"}
	midApply := 0
	leftovers := map[string]bool{}
	for round := 0; round < 8 && midApply < 3; round++ {
		from, to := domains[round%2], domains[(round+1)%2]
		repo.Edit("homelab.yaml", "domain: "+from, "domain: "+to)
		pushed := time.Now()
		want := repo.CommitAndPush("domain " + to)
		// Kill on the first change the agent reports for this commit.
		waitChanged(t, p, pushed)
		p.cmd.Process.Signal(syscall.SIGKILL)
		p.wait()
		mid := snapshot(t, root)
		st, _ := state.Load(root)
		if st.AppliedCommit != want {
			midApply++ // the pass did not complete
		}

		p = startAgent(t, bin, config, root)
		waitState(t, root, "converge after restart", func(s *state.State) bool { return s.LastGoodCommit == want })
		after := snapshot(t, root)
		for path, content := range mid {
			if isTemp(path) {
				continue
			}
			if content != before[path] && content != after[path] {
				t.Fatalf("round %d: %s is neither the old nor the new version after kill -9:\n%s", round, path, content)
			}
		}
		for path := range mid {
			if isTemp(path) {
				leftovers[path] = true
			}
		}
		for path := range after {
			if isTemp(path) {
				// Every file changes each round, so the restarted pass
				// rewrote each target and swept its stale temp files.
				t.Fatalf("round %d: temp file %s survived the converge after kill -9", round, path)
			}
		}
		before = after
	}
	t.Logf("%d kill -9 landed before the pass completed; temp files the kills left (swept by the next pass): %d", midApply, len(leftovers))
	if midApply == 0 {
		t.Fatal("no kill -9 landed in the middle of an apply")
	}

	// The host is converged: a plan of the checked-out commit changes nothing.
	var out bytes.Buffer
	r := newRoot(&out, &out)
	r.SetArgs([]string{"plan", "--host", "dns1", "--repo", filepath.Join(root, "var/lib/homelab-agent/repo"), "--root", root})
	if err := r.Execute(); err != nil || !strings.Contains(out.String(), "no changes") {
		t.Fatalf("plan after restart: %v\n%s", err, out.String())
	}

	// status, human and JSON, against the running agent. The agent writes
	// its state file before it refreshes the status it serves, so the
	// state seen above may be a moment ahead of /status.
	headSHA := repo.Git("rev-parse", "HEAD")
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(20 * time.Millisecond) {
		out.Reset()
		r = newRoot(&out, &out)
		r.SetArgs([]string{"status", "--config", config})
		if err := r.Execute(); err != nil {
			t.Fatalf("status: %v\n%s", err, out.String())
		}
		if strings.Contains(out.String(), "applied    "+headSHA+" (good)") {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("status does not show %s applied:\n%s", headSHA, out.String())
		}
	}
	out.Reset()
	r = newRoot(&out, &out)
	r.SetArgs([]string{"status", "--config", config, "--json"})
	if err := r.Execute(); err != nil {
		t.Fatalf("status --json: %v", err)
	}
	var s daemon.Status
	if err := json.Unmarshal(out.Bytes(), &s); err != nil || s.Host != "dns1" {
		t.Fatalf("status --json: %v %+v", err, s)
	}

	// SIGTERM in the middle of an apply: the agent finishes the resource it
	// is on, exits 0, and does not hold the interrupted commit against it.
	repo.Edit("homelab.yaml", "mullvad-base", "mullvad-family")
	pushed := time.Now()
	want := repo.CommitAndPush("upstream")
	waitChanged(t, p, pushed)
	p.cmd.Process.Signal(syscall.SIGTERM)
	done := make(chan error, 1)
	go func() { done <- p.wait() }()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("exit after SIGTERM: %v", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("the agent did not exit within 10 s of SIGTERM")
	}
	if !strings.Contains(p.log(), "agent stopped") {
		t.Fatal("no clean stop in the log")
	}
	st, _ := state.Load(root)
	if st.BadCommit != "" {
		t.Fatalf("an interrupted pass marked %s bad: %s", st.BadCommit, st.BadReason)
	}
	t.Logf("SIGTERM interrupted the pass: %v", st.LastGoodCommit != want)
	startAgent(t, bin, config, root)
	waitState(t, root, "converge after SIGTERM", func(s *state.State) bool { return s.LastGoodCommit == want })
}

// isTemp reports whether path is a temp file of an atomic write
// (renameio names them "." + the target's name + random digits).
func isTemp(path string) bool {
	base := filepath.Base(path)
	if !strings.HasPrefix(base, ".") {
		return false
	}
	return strings.TrimRight(base, "0123456789") != base
}

// waitChanged waits for a "changed" log line the agent wrote at or
// after since (lines of earlier passes may still be queued).
func waitChanged(t *testing.T, p *agentProc, since time.Time) {
	t.Helper()
	since = since.Truncate(time.Millisecond)
	for {
		select {
		case line := <-p.seen:
			ts, _, _ := strings.Cut(strings.TrimPrefix(line, "time="), " ")
			at, err := time.Parse(time.RFC3339Nano, ts)
			if err == nil && !at.Before(since) && strings.Contains(line, "msg=changed") {
				return
			}
		case <-time.After(20 * time.Second):
			t.Fatal("the agent reported no change")
		}
	}
}

// TestRunIdleRSS measures the resident memory of an idle `run` after its
// first converge.
func TestRunIdleRSS(t *testing.T) {
	bin := agentBinary(t)
	repo := gitsynctest.NewRepo(t, "../../fixtures/lab")
	root := t.TempDir()
	config := writeConfig(t, t.TempDir(), map[string]string{"repo": repo.Bare, "host": "dns1",
		"interval": "1s", "listen": freeAddr(t)})
	p := startAgent(t, bin, config, root)
	head := repo.Git("rev-parse", "HEAD")
	waitState(t, root, "first converge", func(s *state.State) bool { return s.LastGoodCommit == head })
	time.Sleep(3 * time.Second) // a few idle polls
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", p.cmd.Process.Pid))
	if err != nil {
		testreq.Missing(t, "no /proc to read the agent's RSS from: %v", err)
	}
	kib := map[string]int{}
	for _, line := range strings.Split(string(b), "\n") {
		if k, v, ok := strings.Cut(line, ":"); ok {
			kib[k], _ = strconv.Atoi(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(v), "kB")))
		}
	}
	for _, line := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, "VmRSS:"); ok {
			kb, _ := strconv.Atoi(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(v), "kB")))
			t.Logf("idle RSS of run: %.1f MB (anonymous %.1f MB, the binary's pages %.1f MB)", float64(kb)/1024,
				float64(kib["RssAnon"])/1024, float64(kib["RssFile"])/1024)
			if kb > 30*1024 {
				t.Errorf("idle RSS %d kB is over the 30 MB target", kb)
			}
			return
		}
	}
	t.Fatal("no VmRSS line")
}

func TestInstall(t *testing.T) {
	root := t.TempDir()
	var out bytes.Buffer
	install := func() {
		t.Helper()
		out.Reset()
		r := newRoot(&out, &out)
		r.SetArgs([]string{"install", "--root", root, "--repo", "https://git.home.example/lab.git", "--host", "dns1"})
		if err := r.Execute(); err != nil {
			t.Fatalf("install: %v\n%s", err, out.String())
		}
	}
	install()
	f, err := os.Open(filepath.Join(root, daemon.UnitPath))
	if err != nil {
		t.Fatal(err)
	}
	opts, err := unit.Deserialize(f)
	f.Close()
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]string{}
	for _, o := range opts {
		got[o.Section+"."+o.Name] = o.Value
	}
	for k, v := range map[string]string{"Service.Type": "notify", "Service.ExecStart": "/usr/local/bin/homelab-agent run --config /etc/homelab-agent/agent.yaml",
		"Service.WatchdogSec": "2min", "Install.WantedBy": "multi-user.target", "Service.Restart": "always"} {
		if got[k] != v {
			t.Errorf("unit %s = %q, want %q", k, got[k], v)
		}
	}
	cfgPath := filepath.Join(root, daemon.ConfigPath)
	fi, err := os.Stat(cfgPath)
	if err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("config: %v %v", err, fi)
	}
	cfg, err := daemon.LoadConfig(cfgPath, false, nil)
	if err != nil || cfg.Repo != "https://git.home.example/lab.git" || cfg.Host != "dns1" || cfg.Check() != nil {
		t.Fatalf("default config: %v %+v", err, cfg)
	}
	// A second install keeps the edited config.
	os.WriteFile(cfgPath, []byte("repo: /srv/lab\nhost: media\n"), 0o600)
	install()
	if b, _ := os.ReadFile(cfgPath); string(b) != "repo: /srv/lab\nhost: media\n" {
		t.Fatal("install overwrote an existing config")
	}
	if !strings.Contains(out.String(), "up to date") {
		t.Fatalf("second install rewrote the unit:\n%s", out.String())
	}

	// systemd's own checker accepts the unit (ExecStart must be executable).
	analyze := testreq.Tool(t, "systemd-analyze")
	self, _ := os.Executable()
	root2 := t.TempDir()
	r := newRoot(&out, &out)
	r.SetArgs([]string{"install", "--root", root2, "--bin", self})
	if err := r.Execute(); err != nil {
		t.Fatal(err)
	}
	for _, u := range []string{daemon.UnitPath, firewall.BootUnitPath} {
		b, err := exec.Command(analyze, "verify", filepath.Join(root2, u)).CombinedOutput()
		if err != nil || len(bytes.TrimSpace(b)) > 0 {
			t.Fatalf("systemd-analyze verify %s: %v\n%s", u, err, b)
		}
	}
}

func TestRunConfigErrorsAreUsageErrors(t *testing.T) {
	var out bytes.Buffer
	for _, args := range [][]string{
		{"run", "--root", t.TempDir()}, // no repo, no host
		{"run", "--config", filepath.Join(t.TempDir(), "missing.yaml")},
	} {
		r := newRoot(&out, &out)
		r.SetArgs(args)
		err := r.Execute()
		var ue usageError
		if !errors.As(err, &ue) {
			t.Errorf("%v: %v, want a usage error", args, err)
		}
	}
}
