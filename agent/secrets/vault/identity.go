package vault

import (
	"crypto/hkdf"
	"crypto/sha256"
	"errors"
	"fmt"
	"os"
	"strings"

	"filippo.io/age"
)

// IdentityFile is where a host keeps its own age identity, relative to
// the host root (mode 0600; bootstrap delivers it).
const IdentityFile = "/etc/homelab-agent/age.key"

// MasterKeyEnv names the environment variable that points at the master
// key file on the admin's machine (an age identity file).
const MasterKeyEnv = "HOMELAB_MASTER_KEY_FILE"

// hostSalt separates host identities from any other use of the master key.
const hostSalt = "homelab-agent host identity v1"

// DeriveHost returns host's age X25519 identity, derived from the master
// identity: the 32-byte scalar is HKDF-SHA256 with the master key's
// canonical "AGE-SECRET-KEY-1…" string as the secret, hostSalt as the salt
// and the host name as the info, encoded the way age encodes X25519
// identities (Bech32, human-readable part "AGE-SECRET-KEY-", upper case).
// The same master key and host name always give the same identity, so a
// rebuilt host reads the files encrypted for it before.
func DeriveHost(master *age.X25519Identity, host string) (*age.X25519Identity, error) {
	if host == "" {
		return nil, errors.New("deriving a host identity: empty host name")
	}
	scalar, err := hkdf.Key(sha256.New, []byte(master.String()), []byte(hostSalt), host, 32)
	if err != nil {
		return nil, fmt.Errorf("deriving the identity of host %s: %w", host, err)
	}
	enc, err := bech32Encode("AGE-SECRET-KEY-", scalar)
	if err != nil {
		return nil, err
	}
	return age.ParseX25519Identity(strings.ToUpper(enc))
}

// ParseIdentity reads one X25519 identity from an age identity file's
// text (comments and blank lines allowed, as age-keygen writes them).
func ParseIdentity(text, what string) (*age.X25519Identity, error) {
	ids, err := age.ParseIdentities(strings.NewReader(text))
	if err != nil {
		// age's message does not quote the key; keep it anyway short.
		return nil, fmt.Errorf("%s is not an age identity file (want one AGE-SECRET-KEY-1… line)", what)
	}
	if len(ids) != 1 {
		return nil, fmt.Errorf("%s holds %d identities; want exactly one", what, len(ids))
	}
	x, ok := ids[0].(*age.X25519Identity)
	if !ok {
		return nil, fmt.Errorf("%s is not an X25519 identity (AGE-SECRET-KEY-1…)", what)
	}
	return x, nil
}

// ReadIdentity reads an identity file; it must not be readable by others.
func ReadIdentity(path string) (*age.X25519Identity, error) {
	fi, err := os.Stat(path)
	if err != nil {
		return nil, err
	}
	if fi.Mode().Perm()&0o077 != 0 {
		return nil, fmt.Errorf("%s is readable by others (mode %#o); run chmod 600 %s", path, fi.Mode().Perm(), path)
	}
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	return ParseIdentity(string(b), path)
}

// IdentityText is an identity as a file: a comment naming the host and
// its public key, then the secret key (the format of age-keygen).
func IdentityText(host string, id *age.X25519Identity) []byte {
	return []byte(fmt.Sprintf("# homelab-agent identity of host %s\n# public key: %s\n%s\n", host, id.Recipient(), id))
}
