package tailscale

import (
	"bytes"
	"fmt"
	"strings"
	"testing"

	"github.com/ProtonMail/go-crypto/openpgp"
)

// The pinned key is Tailscale's real repository key and nothing else:
// one primary key with the published fingerprint, self-signatures intact.
func TestPinnedRepositoryKey(t *testing.T) {
	ring, err := openpgp.ReadArmoredKeyRing(bytes.NewReader(archiveKey))
	if err != nil {
		t.Fatalf("the embedded key does not parse: %v", err)
	}
	if len(ring) != 1 {
		t.Fatalf("the embedded keyring holds %d keys, want 1", len(ring))
	}
	e := ring[0]
	if got := strings.ToUpper(fmt.Sprintf("%x", e.PrimaryKey.Fingerprint)); got != KeyFingerprint {
		t.Errorf("fingerprint %s, want %s", got, KeyFingerprint)
	}
	for name, id := range e.Identities {
		if !strings.Contains(name, "info@tailscale.com") {
			t.Errorf("unexpected identity %q", name)
		}
		if err := e.PrimaryKey.VerifyUserIdSignature(name, e.PrimaryKey, id.SelfSignature); err != nil {
			t.Errorf("self-signature of %q: %v", name, err)
		}
	}
	if !strings.Contains(string(Repo.Key), "BEGIN PGP PUBLIC KEY BLOCK") || Repo.Suites != "trixie" {
		t.Errorf("repo %+v", Repo)
	}
}
