package daemon_test

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/homelab-agent/homelab-agent/agent/daemon"
)

func TestConfigFileAndEnv(t *testing.T) {
	p := filepath.Join(t.TempDir(), "agent.yaml")
	os.WriteFile(p, []byte(`repo: https://git.home.example/lab.git
host: dns1
interval: 5m
auth: {token: "u:t"}
trusted_keys: [ssh-ed25519 AAAA one]
`), 0o600)
	c, err := daemon.LoadConfig(p, false, []string{
		"HOMELAB_AGENT_HOST=media",
		"HOMELAB_AGENT_AUTH_KNOWN_HOSTS=/etc/kh",
		"HOMELAB_AGENT_TRUSTED_KEYS=ssh-ed25519 AAAA a,ssh-ed25519 BBBB b",
		"HOMELAB_AGENT_ALLOW_FORCE_PUSH=true",
		"HOMELAB_AGENT_IMAGE_CHECK_TTL=30m",
		"HOMELAB_AGENT_RESTIC_PASSWORD=not-config",
	})
	if err != nil {
		t.Fatal(err)
	}
	if c.Host != "media" || c.Repo != "https://git.home.example/lab.git" || time.Duration(c.Interval) != 5*time.Minute ||
		c.Auth.Token != "u:t" || c.Auth.KnownHosts != "/etc/kh" || len(c.TrustedKeys) != 2 || !c.AllowForcePush ||
		c.Branch != "main" || c.Listen != "127.0.0.1:9123" || c.Root != "/" || time.Duration(c.ImageCheckTTL) != 30*time.Minute {
		t.Fatalf("config: %+v", c)
	}
	if len(daemon.EnvKeys()) != 14 {
		t.Fatalf("env keys: %v", daemon.EnvKeys())
	}

	// Unknown keys and bad values are errors naming the line.
	os.WriteFile(p, []byte("repo: x\nhots: dns1\n"), 0o600)
	if _, err := daemon.LoadConfig(p, false, nil); err == nil || !strings.Contains(err.Error(), "line 2") {
		t.Fatalf("unknown key: %v", err)
	}
	if _, err := daemon.LoadConfig(p, false, []string{"HOMELAB_AGENT_INTERVAL=soon"}); err == nil {
		t.Fatal("bad interval accepted")
	}
	// A missing optional file with everything in the environment.
	c, err = daemon.LoadConfig(filepath.Join(t.TempDir(), "none.yaml"), true,
		[]string{"HOMELAB_AGENT_REPO=/srv/lab.git", "HOMELAB_AGENT_HOST=dns1"})
	if err != nil || c.Check() != nil {
		t.Fatalf("env only: %v %v", err, c.Check())
	}
}

func TestValidSignature(t *testing.T) {
	body := []byte(`{"ref":"refs/heads/main"}`)
	good := sign("s", body)
	for _, c := range []struct {
		hdr map[string]string
		ok  bool
	}{
		{map[string]string{"X-Hub-Signature-256": "sha256=" + good}, true},
		{map[string]string{"X-Gitea-Signature": good}, true},
		{map[string]string{"X-Forgejo-Signature": good}, true},
		{map[string]string{"X-Gitlab-Token": "s"}, true},
		{map[string]string{"X-Gitea-Signature": good, "X-Hub-Signature-256": "sha256=" + good}, true},
		{map[string]string{}, false},
		{map[string]string{"X-Hub-Signature-256": good}, false},
		{map[string]string{"X-Hub-Signature-256": "sha256=" + sign("x", body)}, false},
		{map[string]string{"X-Gitea-Signature": "zz"}, false},
		{map[string]string{"X-Gitlab-Token": "S"}, false},
	} {
		h := make(map[string][]string)
		for k, v := range c.hdr {
			h[k] = []string{v}
		}
		if got := daemon.ValidSignature(h, body, "s"); got != c.ok {
			t.Errorf("%v: %v, want %v", c.hdr, got, c.ok)
		}
	}
}

// agent.yaml that holds a credential must be private to root.
func TestConfigWithCredentialsMustBePrivate(t *testing.T) {
	p := filepath.Join(t.TempDir(), "agent.yaml")
	for _, body := range []string{"repo: /srv/lab.git\nhost: dns1\nauth: {token: tok-123}\n", "repo: /srv/lab.git\nhost: dns1\nwebhook_secret: hook-456\n"} {
		os.WriteFile(p, []byte(body), 0o644)
		os.Chmod(p, 0o644)
		_, err := daemon.LoadConfig(p, false, nil)
		if err == nil || !strings.Contains(err.Error(), "chmod 600") || strings.Contains(err.Error(), "tok-123") || strings.Contains(err.Error(), "hook-456") {
			t.Fatalf("0644 agent.yaml with a credential: err %v", err)
		}
		os.Chmod(p, 0o600)
		if _, err := daemon.LoadConfig(p, false, nil); err != nil {
			t.Fatalf("0600 agent.yaml refused: %v", err)
		}
	}
	// Without credentials a readable agent.yaml is fine.
	os.WriteFile(p, []byte("repo: /srv/lab.git\nhost: dns1\n"), 0o600)
	os.Chmod(p, 0o644)
	if _, err := daemon.LoadConfig(p, false, nil); err != nil {
		t.Fatalf("0644 agent.yaml without credentials refused: %v", err)
	}
}
