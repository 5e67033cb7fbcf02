package files

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/homelab-agent/homelab-agent/agent/resource"
	"github.com/homelab-agent/homelab-agent/agent/secrets"
)

// TestChangedSecretNotInDiff: after a secret's value changes, the old
// value (which the store no longer knows) stays out of the diff, and the
// summary names the secret.
func TestChangedSecretNotInDiff(t *testing.T) {
	root := t.TempDir()
	f := &File{Path: "/etc/x/app.conf", Content: []byte("a=1\ntoken=${secret:TOKEN}\nb=${secret:TOKEN}\n"), Mode: 0o600}
	if _, err := f.CheckApply(context.Background(), env(root), true); err != nil {
		t.Fatal(err)
	}
	rotated := &resource.Env{Root: root, Secrets: secrets.FromMap(map[string]string{"TOKEN": "new-value-9"})}
	ch, err := f.CheckApply(context.Background(), rotated, false)
	if err != nil || ch == nil {
		t.Fatalf("plan: %v %+v", err, ch)
	}
	if strings.Contains(ch.Diff, "s3cr3t-value") || strings.Contains(ch.Diff, "new-value-9") {
		t.Fatalf("a value in the diff:\n%s", ch.Diff)
	}
	if ch.Summary != "content, secret TOKEN changed" {
		t.Fatalf("summary %q", ch.Summary)
	}
	// The literal text changes too: still no old value; the diff shows the edit.
	f2 := &File{Path: f.Path, Content: []byte("a=2\ntoken=${secret:TOKEN}\nb=${secret:TOKEN}\n"), Mode: 0o600}
	ch, _ = f2.CheckApply(context.Background(), rotated, false)
	if strings.Contains(ch.Diff, "s3cr3t-value") || !strings.Contains(ch.Diff, "-a=1") {
		t.Fatalf("diff:\n%s", ch.Diff)
	}
	// Edited by hand: lines that follow the template are still masked.
	os.WriteFile(filepath.Join(root, "etc/x/app.conf"), []byte("token=old-unknown-1\nextra\nb=old-unknown-1\n"), 0o600)
	ch, _ = f.CheckApply(context.Background(), rotated, false)
	if strings.Contains(ch.Diff, "old-unknown-1") || !strings.Contains(ch.Diff, "-extra") {
		t.Fatalf("diff:\n%s", ch.Diff)
	}
}
