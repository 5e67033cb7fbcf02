package agent

import (
	"bytes"
	"context"
	"encoding/json"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"filippo.io/age"

	"github.com/homelab-agent/homelab-agent/agent/secrets"
	"github.com/homelab-agent/homelab-agent/agent/secrets/vault"
)

// vaultLab copies the sample lab and puts vpn's TAILSCALE_AUTHKEY in
// secrets/vpn.env.age; root gets vpn's derived identity.
func vaultLab(t *testing.T, value string) (dir, root string) {
	t.Helper()
	dir, root = t.TempDir(), t.TempDir()
	if err := os.CopyFS(dir, os.DirFS(sampleLab)); err != nil {
		t.Fatal(err)
	}
	m, _ := age.GenerateX25519Identity()
	r := &vault.Repo{Dir: dir, Master: m}
	if err := r.Set("TAILSCALE_AUTHKEY", value, []string{"vpn"}); err != nil {
		t.Fatal(err)
	}
	id, _ := vault.DeriveHost(m, "vpn")
	p := filepath.Join(root, vault.IdentityFile)
	os.MkdirAll(filepath.Dir(p), 0o700)
	os.WriteFile(p, vault.IdentityText("vpn", id), 0o600)
	return dir, root
}

func vaultOptions(root string) Options {
	return Options{Root: root, Hooks: HooksSkip, Now: fixedNow, Only: []string{"files"}}
}

// TestApplyReadsEncryptedSecrets: the engine opens the host's file with
// the host's identity; a local value wins and is reported as a conflict
// without either value.
func TestApplyReadsEncryptedSecrets(t *testing.T) {
	const repoValue, localValue = "tskey-repo-LeakCanary", "tskey-local-LeakCanary"
	dir, root := vaultLab(t, repoValue)
	l, err := LoadLab(dir)
	if err != nil {
		t.Fatal(err)
	}
	rep, err := Apply(context.Background(), l, "vpn", vaultOptions(root))
	if err != nil {
		t.Fatalf("apply: %v", err)
	}
	if !grepRoot(t, root, repoValue) {
		t.Fatal("the repo's value was not written to the host")
	}
	os.WriteFile(filepath.Join(root, secrets.File), []byte("TAILSCALE_AUTHKEY="+localValue+"\n"), 0o600)
	rep, err = Apply(context.Background(), l, "vpn", vaultOptions(root))
	if err != nil {
		t.Fatalf("apply: %v", err)
	}
	if !grepRoot(t, root, localValue) {
		t.Fatal("the local secrets.env did not win")
	}
	want := "secret TAILSCALE_AUTHKEY differs between /etc/homelab-agent/secrets.env and secrets/vpn.env.age (host vpn); the local value wins"
	if len(rep.Secrets.Conflicts) != 1 || rep.Secrets.Conflicts[0] != want {
		t.Fatalf("conflicts = %q", rep.Secrets.Conflicts)
	}
	var text, js bytes.Buffer
	rep.WriteText(&text, true)
	rep.WriteJSON(&js)
	if !strings.Contains(text.String(), "warning: "+want) || !strings.Contains(text.String(), "«secret:TAILSCALE_AUTHKEY changed»") {
		t.Fatalf("text report lacks the warning:\n%s", text.String())
	}
	for _, out := range []string{text.String(), js.String()} {
		if strings.Contains(out, "LeakCanary") {
			t.Fatalf("a value in the report:\n%s", out)
		}
	}
	var back Report
	if err := json.Unmarshal(js.Bytes(), &back); err != nil || len(back.Secrets.Conflicts) != 1 {
		t.Fatalf("json: %v %v", back.Secrets, err)
	}
}

// TestDamagedSecretsFileChangesNothing: a tampered file stops the pass
// before anything is written, naming file and host.
func TestDamagedSecretsFileChangesNothing(t *testing.T) {
	dir, root := vaultLab(t, "tskey-LeakCanary")
	l, _ := LoadLab(dir)
	if _, err := Apply(context.Background(), l, "vpn", vaultOptions(root)); err != nil {
		t.Fatal(err)
	}
	before := snapshot(t, root)
	f := filepath.Join(dir, vault.FileOf("vpn"))
	b, _ := os.ReadFile(f)
	os.WriteFile(f, b[:len(b)-60], 0o644)
	_, err := Apply(context.Background(), l, "vpn", vaultOptions(root))
	if err == nil || !strings.HasPrefix(err.Error(), "secrets/vpn.env.age (host vpn): damaged") {
		t.Fatalf("err = %v", err)
	}
	if strings.Contains(err.Error(), "LeakCanary") {
		t.Fatal("a value in the error")
	}
	after := snapshot(t, root)
	for p, v := range before {
		if after[p] != v && !strings.HasSuffix(p, "apply.lock") {
			t.Fatalf("%s changed after a damaged secrets file", p)
		}
	}
}

func grepRoot(t *testing.T, root, s string) bool {
	t.Helper()
	found := false
	filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err == nil && !d.IsDir() && !strings.Contains(p, "homelab-agent/secrets.env") {
			if b, _ := os.ReadFile(p); bytes.Contains(b, []byte(s)) {
				found = true
			}
		}
		return nil
	})
	return found
}

// TestPlanShowsRotation: a changed owned credential is planned as
// "secret NAME changed (rotate: ...)", without either value.
func TestPlanShowsRotation(t *testing.T) {
	l := loadSample(t)
	root := t.TempDir()
	p := filepath.Join(root, "var/lib/homelab-agent/credentials/RESTIC_PASSWORD")
	os.MkdirAll(filepath.Dir(p), 0o700)
	os.WriteFile(p, []byte("old-restic-LeakCanary"), 0o600)
	opts := testOptions(root)
	opts.Only = []string{"backup"}
	vals := map[string]string{"RESTIC_PASSWORD": "new-restic-LeakCanary", "AWS_ACCESS_KEY_ID": "a", "AWS_SECRET_ACCESS_KEY": "b"}
	for k, v := range demoSecrets {
		vals[k] = v
	}
	opts.Secrets = secrets.FromMap(vals)
	rep, err := Plan(context.Background(), l, "cloud", opts)
	if err != nil {
		t.Fatal(err)
	}
	var text, js bytes.Buffer
	rep.WriteText(&text, true)
	rep.WriteJSON(&js)
	if !strings.Contains(text.String(), "~ rotate:RESTIC_PASSWORD: secret RESTIC_PASSWORD changed (rotate: restic key)") {
		t.Fatalf("plan:\n%s", text.String())
	}
	if strings.Contains(text.String()+js.String(), "LeakCanary") {
		t.Fatalf("a value in the plan:\n%s", text.String())
	}
}
