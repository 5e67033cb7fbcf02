package daemon

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/homelab-agent/homelab-agent/agent/secrets/vault"
)

// TestHostStampSeesIdentity: an identity placed after a failed pass
// changes the host stamp, so the daemon applies the commit again.
func TestHostStampSeesIdentity(t *testing.T) {
	root := t.TempDir()
	before := hostStamp(root)
	p := filepath.Join(root, vault.IdentityFile)
	os.MkdirAll(filepath.Dir(p), 0o700)
	os.WriteFile(p, []byte("AGE-SECRET-KEY-1X\n"), 0o600)
	if hostStamp(root) == before {
		t.Fatal("the host stamp ignores the age identity")
	}
}
