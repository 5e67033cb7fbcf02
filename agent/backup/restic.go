package backup

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"
)

// MinResticVersion is the oldest restic the agent drives: 0.17 brought
// --stdin-from-command and the exit codes 10, 11 and 12.
var MinResticVersion = [2]int{0, 17}

// FindRestic returns the restic binary: $PATH first, then $GOPATH/bin
// (where `make test-deps` installs it).
func FindRestic() (string, error) {
	if p, err := exec.LookPath("restic"); err == nil {
		return p, nil
	}
	gopath := os.Getenv("GOPATH")
	if gopath == "" {
		if home, err := os.UserHomeDir(); err == nil {
			gopath = filepath.Join(home, "go")
		}
	}
	if gopath != "" {
		p := filepath.Join(gopath, "bin", "restic")
		if fi, err := os.Stat(p); err == nil && fi.Mode()&0o111 != 0 {
			return p, nil
		}
	}
	return "", errors.New("restic is not installed: install restic 0.17 or newer (apt install restic, or go install github.com/restic/restic/cmd/restic@v0.18.1)")
}

var versionCache sync.Map // binary path -> error (nil: ok)

// checkVersion runs `restic version --json` once per binary.
func checkVersion(ctx context.Context, bin string) error {
	if v, ok := versionCache.Load(bin); ok {
		err, _ := v.(error)
		return err
	}
	out, err := exec.CommandContext(ctx, bin, "version", "--json").Output()
	if err != nil {
		return fmt.Errorf("running %s version: %w", bin, err)
	}
	var v struct{ Version string }
	if err := json.Unmarshal(bytes.TrimSpace(out), &v); err != nil || v.Version == "" {
		err = fmt.Errorf("%s is too old or not restic: `restic version --json` printed %q; the agent needs restic %d.%d or newer", bin, strings.TrimSpace(string(out)), MinResticVersion[0], MinResticVersion[1])
		versionCache.Store(bin, err)
		return err
	}
	maj, min, ok := parseVersion(v.Version)
	if !ok || maj < MinResticVersion[0] || (maj == MinResticVersion[0] && min < MinResticVersion[1]) {
		err = fmt.Errorf("restic %s at %s is too old: the agent needs restic %d.%d or newer", v.Version, bin, MinResticVersion[0], MinResticVersion[1])
	}
	versionCache.Store(bin, err)
	return err
}

func parseVersion(s string) (maj, min int, ok bool) {
	parts := strings.SplitN(strings.TrimPrefix(s, "v"), ".", 3)
	if len(parts) < 2 {
		return 0, 0, false
	}
	maj, err1 := strconv.Atoi(parts[0])
	min, err2 := strconv.Atoi(parts[1])
	return maj, min, err1 == nil && err2 == nil
}

// call is one restic invocation.
type call struct {
	args []string
	// dir is the working directory (backups run from /srv/data so that
	// snapshots hold "<service>/..." whatever the root).
	dir string
	// onLine receives each line restic prints on stdout; when nil the
	// lines are collected in the result.
	onLine func(line []byte)
	// stdout, when set, receives restic's raw stdout instead (restic dump).
	stdout io.Writer
	// mayInit lets a backup create a missing repository (backup.init).
	mayInit bool
}

// result is what a successful call printed.
type result struct {
	lines [][]byte
}

// run executes restic with the repository's environment and maps its
// exit status. Secrets travel only in the environment and the password
// file; arguments and messages never hold them.
func (r *Repo) run(ctx context.Context, op string, c call) (*result, error) {
	args := append([]string{"--json"}, c.args...)
	if r.RetryLock > 0 {
		args = append([]string{"--retry-lock", r.RetryLock.String()}, args...)
	}
	cmd := exec.CommandContext(ctx, r.bin, args...)
	cmd.Dir = c.dir
	cmd.Env = r.env
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	// On cancel, interrupt restic so that it removes its lock; kill after a grace period.
	cmd.Cancel = func() error { return cmd.Process.Signal(os.Interrupt) }
	cmd.WaitDelay = r.killGrace()
	var stderr tailBuffer
	cmd.Stderr = &stderr
	res := &result{}
	var stdout io.ReadCloser
	var err error
	if c.stdout != nil {
		cmd.Stdout = c.stdout
	} else if stdout, err = cmd.StdoutPipe(); err != nil {
		return nil, r.wrap(op, err)
	}
	start := time.Now()
	defer func() { r.ResticTime += time.Since(start) }()
	if err := cmd.Start(); err != nil {
		return nil, r.wrap(op, err)
	}
	defer r.reap(ctx, cmd.Process.Pid)()
	var exitMsg string
	if stdout != nil {
		sc := bufio.NewScanner(stdout)
		sc.Buffer(make([]byte, 64<<10), 16<<20)
		for sc.Scan() {
			line := sc.Bytes()
			if m := exitError(line); m != "" {
				exitMsg = m
				continue
			}
			if c.onLine != nil {
				c.onLine(line)
			} else {
				res.lines = append(res.lines, bytes.Clone(line))
			}
		}
		io.Copy(io.Discard, stdout)
	}
	werr := cmd.Wait()
	if werr == nil {
		return res, nil
	}
	code := -1
	var ee *exec.ExitError
	if errors.As(werr, &ee) {
		code = ee.ExitCode()
	}
	if ctx.Err() != nil {
		code = 130
	}
	if exitMsg == "" {
		exitMsg = stderr.exitMessage()
	}
	return res, r.newError(op, code, exitMsg)
}

// reap kills restic's process group (restic and the dump command it
// started with --stdin-from-command, which it does not stop itself) when
// ctx ends: after the grace period if restic is still running (while its
// stdout is being read, cmd.WaitDelay has not started), and at once when
// run returns, so that no dump command is left orphaned. The returned
// function marks run as returned.
func (r *Repo) reap(ctx context.Context, pid int) func() {
	done := make(chan struct{})
	go func() {
		select {
		case <-done:
		case <-ctx.Done():
			select {
			case <-done:
			case <-time.After(r.killGrace()):
			}
		}
		if ctx.Err() != nil {
			syscall.Kill(-pid, syscall.SIGKILL)
		}
	}()
	return func() { close(done) }
}

func (r *Repo) wrap(op string, err error) error {
	return &Error{Op: op, Kind: KindFailed, Msg: r.redact(err.Error())}
}

// exitError returns the message of restic's {"message_type":"exit_error"} line.
func exitError(line []byte) string {
	if !bytes.Contains(line, []byte(`"exit_error"`)) {
		return ""
	}
	var m struct {
		MessageType string `json:"message_type"`
		Message     string `json:"message"`
	}
	if json.Unmarshal(line, &m) != nil || m.MessageType != "exit_error" {
		return ""
	}
	return m.Message
}

// tailBuffer keeps the last 64 KiB restic wrote to stderr.
type tailBuffer struct {
	mu  sync.Mutex
	buf []byte
}

func (t *tailBuffer) Write(p []byte) (int, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.buf = append(t.buf, p...)
	if len(t.buf) > 64<<10 {
		t.buf = t.buf[len(t.buf)-64<<10:]
	}
	return len(p), nil
}

// exitMessage prefers restic's JSON exit_error; otherwise the last
// non-empty lines of stderr.
func (t *tailBuffer) exitMessage() string {
	t.mu.Lock()
	defer t.mu.Unlock()
	var plain []string
	for _, l := range bytes.Split(t.buf, []byte("\n")) {
		if m := exitError(l); m != "" {
			return m
		}
		l = bytes.TrimSpace(l)
		if len(l) > 0 && l[0] != '{' {
			plain = append(plain, string(l))
		} else if len(l) > 0 {
			var m struct {
				MessageType string `json:"message_type"`
				Error       struct {
					Message string `json:"message"`
				} `json:"error"`
				Item string `json:"item"`
			}
			if json.Unmarshal(l, &m) == nil && m.MessageType == "error" {
				plain = append(plain, m.Item+": "+m.Error.Message)
			}
		}
	}
	if len(plain) > 3 {
		plain = plain[len(plain)-3:]
	}
	return strings.Join(plain, "; ")
}
