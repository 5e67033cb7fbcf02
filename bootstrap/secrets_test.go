package bootstrap_test

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"filippo.io/age"
	"gopkg.in/yaml.v3"

	"github.com/homelab-agent/homelab-agent/agent/lab"
	"github.com/homelab-agent/homelab-agent/agent/role"
	"github.com/homelab-agent/homelab-agent/agent/secrets/vault"
	"github.com/homelab-agent/homelab-agent/bootstrap"
)

const deployKey = "-----BEGIN OPENSSH PRIVATE KEY-----\nDEPLOYKEYCANARY\n-----END OPENSSH PRIVATE KEY-----"

// TestGuestsGetTheirIdentity: with the master key, every guest's vendor
// snippet (mode 0600 on the node) carries its derived identity and the
// admin file's repo credentials and webhook secret, which no plan output
// shows; the identity opens the host's own file. Without the master key a
// lab with encrypted secrets is refused.
func TestGuestsGetTheirIdentity(t *testing.T) {
	e := newEnv(t, fastTasks())
	dir := t.TempDir()
	if err := os.CopyFS(dir, os.DirFS("../fixtures/lab")); err != nil {
		t.Fatal(err)
	}
	m, _ := age.GenerateX25519Identity()
	r := &vault.Repo{Dir: dir, Master: m}
	for name, v := range map[string]string{bootstrap.SecretRepoToken: "tok-CANARY", bootstrap.SecretWebhook: "hook-CANARY", bootstrap.SecretDeployKey: deployKey} {
		if err := r.Set(name, v, []string{vault.Admin}); err != nil {
			t.Fatal(err)
		}
	}
	r.Set("NEXTCLOUD_DB_PASSWORD", "db-CANARY", []string{"cloud"})
	var err error
	if e.lab, err = lab.Load(dir, role.LabOptions()); err != nil {
		t.Fatal(err)
	}

	if _, err := bootstrap.PlanLab(context.Background(), e.lab, e.options("", false)); err == nil || !strings.Contains(err.Error(), "give the master key") {
		t.Fatalf("no master key: %v", err)
	}
	o := e.options("", false)
	o.Master = m
	p, err := bootstrap.PlanLab(context.Background(), e.lab, o)
	if err != nil {
		t.Fatal(err)
	}
	var out bytes.Buffer
	p.WriteText(&out)
	p.WriteJSON(&out)
	if strings.Contains(out.String(), "CANARY") || strings.Contains(out.String(), "AGE-SECRET-KEY") {
		t.Fatalf("the plan shows a secret:\n%s", out.String())
	}
	if err := e.apply(p).Err(); err != nil {
		t.Fatal(err)
	}
	e.noRejections()

	for _, h := range e.lab.Hosts {
		path := filepath.Join(e.root, "var/lib/vz/snippets/homelab-"+h.Name+".yaml")
		fi, err := os.Stat(path)
		if err != nil || fi.Mode().Perm() != 0o600 {
			t.Fatalf("%s: snippet %v mode %v", h.Name, err, fi.Mode())
		}
		data, _ := os.ReadFile(path)
		var doc struct {
			WriteFiles []struct{ Path, Permissions, Content string } `yaml:"write_files"`
		}
		if err := yaml.Unmarshal(data, &doc); err != nil {
			t.Fatal(err)
		}
		files, perms := map[string]string{}, map[string]string{}
		for _, f := range doc.WriteFiles {
			files[f.Path], perms[f.Path] = f.Content, f.Permissions
		}
		want, _ := vault.DeriveHost(m, h.Name)
		got, err := vault.ParseIdentity(files[bootstrap.IdentityPath], "age.key")
		if err != nil || got.String() != want.String() || perms[bootstrap.IdentityPath] != "0600" {
			t.Fatalf("%s: identity %v, perms %q", h.Name, err, perms[bootstrap.IdentityPath])
		}
		var cfg struct {
			Auth          map[string]string `yaml:"auth"`
			WebhookSecret string            `yaml:"webhook_secret"`
		}
		yaml.Unmarshal([]byte(files[bootstrap.AgentConfigPath]), &cfg)
		if perms[bootstrap.AgentConfigPath] != "0600" || cfg.Auth["token"] != "tok-CANARY" || cfg.WebhookSecret != "hook-CANARY" ||
			cfg.Auth["ssh_key"] != bootstrap.DeployKeyPath || files[bootstrap.DeployKeyPath] != deployKey+"\n" || perms[bootstrap.DeployKeyPath] != "0600" {
			t.Fatalf("%s: agent.yaml (%s) %+v, deploy key %q", h.Name, perms[bootstrap.AgentConfigPath], cfg, perms[bootstrap.DeployKeyPath])
		}
		if h.Name == "cloud" {
			// The guest's identity, as cloud-init writes it, opens its own file.
			guest := t.TempDir()
			os.MkdirAll(filepath.Join(guest, "etc/homelab-agent"), 0o700)
			os.WriteFile(filepath.Join(guest, vault.IdentityFile), []byte(files[bootstrap.IdentityPath]), 0o600)
			s, err := vault.LoadHost(guest, dir, "cloud", nil)
			if err != nil {
				t.Fatal(err)
			}
			if v, _ := s.Lookup("NEXTCLOUD_DB_PASSWORD"); v != "db-CANARY" {
				t.Fatalf("cloud reads %q", v)
			}
		}
	}
	// Derived identities are stable: the second run changes nothing.
	again, err := bootstrap.PlanLab(context.Background(), e.lab, o)
	if err != nil || !again.Empty() {
		t.Fatalf("second plan: %v\n%s", err, text(again))
	}
}
