package gitsynctest

import (
	"fmt"
	"net"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/homelab-agent/homelab-agent/internal/testreq"
)

// SSHServer is an sshd on a loopback port whose only authorized key is a
// deploy key forced through git-shell.
type SSHServer struct {
	// URL is the ssh:// clone URL of the bare repo.
	URL string
	// Key is the deploy key's private key file.
	Key string
	// KnownHosts pins the server's host key.
	KnownHosts string
	cmd        *exec.Cmd
}

// StartSSH runs sshd for the bare repo until cleanup.
func StartSSH(t testing.TB, bare string) *SSHServer {
	t.Helper()
	sshd := "/usr/sbin/sshd"
	if _, err := os.Stat(sshd); err != nil {
		sshd = testreq.Tool(t, "sshd")
	}
	testreq.Tool(t, "ssh-keygen")
	shell := testreq.Tool(t, "git-shell")
	dir := t.TempDir()
	hostKey, hostPub := SSHKeygen(t, dir, "host")
	key, pub := SSHKeygen(t, dir, "deploy")
	auth := filepath.Join(dir, "authorized_keys")
	line := fmt.Sprintf("command=\"%s -c \\\"$SSH_ORIGINAL_COMMAND\\\"\",restrict %s\n", shell, pub)
	if err := os.WriteFile(auth, []byte(line), 0o600); err != nil {
		t.Fatal(err)
	}
	port := freePort(t)
	me, err := user.Current()
	if err != nil {
		t.Fatal(err)
	}
	conf := filepath.Join(dir, "sshd_config")
	os.WriteFile(conf, []byte(fmt.Sprintf(`Port %d
ListenAddress 127.0.0.1
HostKey %s
PidFile %s
AuthorizedKeysFile %s
AllowUsers %s
PasswordAuthentication no
KbdInteractiveAuthentication no
UsePAM no
StrictModes no
PermitRootLogin prohibit-password
LogLevel ERROR
# bash sources ~/.bashrc for commands run by sshd unless SHLVL says it is
# nested; the user's rc files are no part of what the tests measure.
SetEnv SHLVL=1
`, port, hostKey, filepath.Join(dir, "sshd.pid"), auth, me.Username)), 0o600)
	if os.Geteuid() == 0 {
		os.MkdirAll("/run/sshd", 0o755) // privilege separation folder
	}
	cmd := exec.Command(sshd, "-D", "-e", "-f", conf)
	log, _ := os.Create(filepath.Join(dir, "sshd.log"))
	cmd.Stdout, cmd.Stderr = log, log
	if err := cmd.Start(); err != nil {
		t.Fatalf("starting sshd: %v", err)
	}
	t.Cleanup(func() {
		cmd.Process.Kill()
		cmd.Wait()
		if t.Failed() {
			b, _ := os.ReadFile(log.Name())
			t.Logf("sshd log:\n%s", b)
		}
	})
	addr := fmt.Sprintf("127.0.0.1:%d", port)
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(20 * time.Millisecond) {
		c, err := net.Dial("tcp", addr)
		if err == nil {
			c.Close()
			break
		}
		if time.Now().After(deadline) {
			b, _ := os.ReadFile(log.Name())
			t.Fatalf("sshd did not listen on %s: %s", addr, b)
		}
	}
	kh := filepath.Join(dir, "known_hosts")
	os.WriteFile(kh, []byte(fmt.Sprintf("[127.0.0.1]:%d %s\n", port, hostPub)), 0o600)
	return &SSHServer{URL: fmt.Sprintf("ssh://%s@%s%s", me.Username, addr, bare), Key: key, KnownHosts: kh, cmd: cmd}
}

func freePort(t testing.TB) int {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port
}

// SSHKeygen makes an ed25519 key pair dir/name, dir/name.pub and returns
// the private key's path and the public key line.
func SSHKeygen(t testing.TB, dir, name string) (priv, pub string) {
	t.Helper()
	priv = filepath.Join(dir, name)
	out, err := exec.Command("ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", name, "-f", priv).CombinedOutput()
	if err != nil {
		t.Fatalf("ssh-keygen: %v: %s", err, out)
	}
	b, err := os.ReadFile(priv + ".pub")
	if err != nil {
		t.Fatal(err)
	}
	return priv, strings.TrimSpace(string(b))
}

// GPGKey makes an OpenPGP signing key in a fresh GNUPGHOME and returns
// the home, the key's fingerprint and its armored public key. The
// gpg-agent is stopped at cleanup.
func GPGKey(t testing.TB, email string) (home, fpr, armored string) {
	t.Helper()
	testreq.Tool(t, "gpg")
	// A short home: gpg-agent's socket path must fit in sun_path.
	home, err := os.MkdirTemp("", "gpg")
	if err != nil {
		t.Fatal(err)
	}
	os.Chmod(home, 0o700)
	gpg := func(args ...string) string {
		cmd := exec.Command("gpg", append([]string{"--batch", "--homedir", home}, args...)...)
		out, err := cmd.Output()
		if err != nil {
			msg := ""
			if ee, ok := err.(*exec.ExitError); ok {
				msg = string(ee.Stderr)
			}
			t.Fatalf("gpg %s: %v: %s", strings.Join(args, " "), err, msg)
		}
		return string(out)
	}
	t.Cleanup(func() {
		exec.Command("gpgconf", "--homedir", home, "--kill", "all").Run()
		os.RemoveAll(home)
	})
	gpg("--passphrase", "", "--quick-gen-key", "Lab Owner <"+email+">", "ed25519", "sign", "never")
	for _, line := range strings.Split(gpg("--with-colons", "--list-secret-keys"), "\n") {
		if strings.HasPrefix(line, "fpr:") {
			fpr = strings.Split(line, ":")[9]
			break
		}
	}
	return home, fpr, gpg("--armor", "--export", fpr)
}
