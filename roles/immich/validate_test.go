package immich_test

import (
	"context"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/homelab-agent/homelab-agent/agent"
	"github.com/homelab-agent/homelab-agent/agent/secrets"
	"github.com/homelab-agent/homelab-agent/roles/rolestest"
)

func writeRepo(t *testing.T, files map[string]string) string {
	t.Helper()
	dir := t.TempDir()
	for name, content := range files {
		p := filepath.Join(dir, name)
		os.MkdirAll(filepath.Dir(p), 0o755)
		if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

// TestValidateNamesUnsupportedKey: validate (loading the lab) reports an
// unsupported key of a host's compose override with both positions.
func TestValidateNamesUnsupportedKey(t *testing.T) {
	dir := writeRepo(t, map[string]string{
		"homelab.yaml":       rolestest.Header + "  photos: {ip: 192.168.100.11, role: immich, compose: immich/compose.yml}\n",
		"immich/compose.yml": "services:\n  immich-server:\n    image: x\n    deploy:\n      replicas: 2\n",
	})
	_, err := agent.LoadLab(dir)
	want := "homelab.yaml:7:55: immich/compose.yml:4:5: services.immich-server.deploy: not supported by homelab-agent"
	if err == nil || !strings.Contains(err.Error(), want) {
		t.Fatalf("err = %v\nwant %s", err, want)
	}
}

// TestSecretInDotEnvIsNeeded: a ${secret:NAME} in the override's .env is
// a secret the host needs; apply refuses before touching anything.
func TestSecretInDotEnvIsNeeded(t *testing.T) {
	dir := writeRepo(t, map[string]string{
		"homelab.yaml":       rolestest.Header + "  photos: {ip: 192.168.100.11, role: immich, compose: immich/compose.yml}\n",
		"immich/compose.yml": "services:\n  immich-server:\n    image: x\n    environment: {DB_PASSWORD: \"${DB_PASSWORD}\"}\n",
		"immich/.env":        "DB_PASSWORD=${secret:PHOTOS_DB}\n",
	})
	l, err := agent.LoadLab(dir)
	if err != nil {
		t.Fatal(err)
	}
	_, out, err := agent.Desired(l, "photos", nil, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	if need := agent.SecretsOf(out); !slices.Contains(need, "PHOTOS_DB") {
		t.Fatalf("secrets needed: %v", need)
	}
	// No Docker call is made: the pass stops at the missing secret.
	_, err = agent.Apply(context.Background(), l, "photos", agent.Options{Root: t.TempDir(), Only: []string{"containers"}, Secrets: secrets.FromMap(nil)})
	if err == nil || !strings.Contains(err.Error(), "missing secret PHOTOS_DB") {
		t.Fatalf("apply: %v", err)
	}
}
