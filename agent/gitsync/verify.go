package gitsync

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"strings"

	"github.com/go-git/go-git/v5/plumbing"
	"github.com/go-git/go-git/v5/plumbing/object"
	"github.com/hiddeco/sshsig"
	"golang.org/x/crypto/ssh"
)

// Keyring holds the keys whose signatures make a commit trusted: SSH
// public keys (for gpg.format=ssh signatures) and armored OpenPGP keys.
type Keyring struct {
	ssh []ssh.PublicKey
	pgp []string // one armored block each
}

// Empty reports whether no key is configured (every commit is trusted).
func (k *Keyring) Empty() bool { return k == nil || len(k.ssh)+len(k.pgp) == 0 }

const pgpBegin = "-----BEGIN PGP PUBLIC KEY BLOCK-----"
const pgpEnd = "-----END PGP PUBLIC KEY BLOCK-----"

// ParseKeys builds a keyring from trusted_keys entries. Each entry is an
// SSH public key line ("ssh-ed25519 AAAA... comment"), an armored OpenPGP
// public key block, or the path of a file holding any number of either
// (an allowed_signers-style list of SSH keys, one per line, works too).
func ParseKeys(entries []string) (*Keyring, error) {
	k := &Keyring{}
	for _, e := range entries {
		e = strings.TrimSpace(e)
		if e == "" {
			continue
		}
		text := e
		if !strings.Contains(e, pgpBegin) && !looksLikeSSHKey(e) {
			data, err := os.ReadFile(e)
			if err != nil {
				return nil, fmt.Errorf("trusted_keys: %q is neither a public key nor a readable file: %w", e, err)
			}
			text = string(data)
		}
		n, err := k.add(text)
		if err != nil {
			return nil, fmt.Errorf("trusted_keys: %s: %w", describeEntry(e), err)
		}
		if n == 0 {
			return nil, fmt.Errorf("trusted_keys: %s holds no public key", describeEntry(e))
		}
	}
	return k, nil
}

func describeEntry(e string) string {
	if len(e) > 40 {
		return e[:40] + "..."
	}
	return e
}

func looksLikeSSHKey(s string) bool {
	for _, p := range []string{"ssh-", "ecdsa-", "sk-"} {
		if strings.HasPrefix(s, p) {
			return true
		}
	}
	return false
}

// add parses every key in text and returns how many it found.
func (k *Keyring) add(text string) (int, error) {
	n := 0
	for {
		i := strings.Index(text, pgpBegin)
		if i < 0 {
			break
		}
		j := strings.Index(text[i:], pgpEnd)
		if j < 0 {
			return n, errors.New("unterminated PGP PUBLIC KEY BLOCK")
		}
		k.pgp = append(k.pgp, text[i:i+j+len(pgpEnd)]+"\n")
		n++
		text = text[:i] + text[i+j+len(pgpEnd):]
	}
	for _, line := range strings.Split(text, "\n") {
		line = strings.TrimSpace(line)
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		// allowed_signers lines start with principals; find the key part.
		fields := strings.Fields(line)
		for i, f := range fields {
			if looksLikeSSHKey(f) && i+1 < len(fields) {
				line = strings.Join(fields[i:], " ")
				break
			}
		}
		pub, _, _, _, err := ssh.ParseAuthorizedKey([]byte(line))
		if err != nil {
			return n, fmt.Errorf("parsing SSH public key: %w", err)
		}
		k.ssh = append(k.ssh, pub)
		n++
	}
	return n, nil
}

// UntrustedError says why a commit's signature was not accepted.
type UntrustedError struct {
	Commit, Reason string
}

func (e *UntrustedError) Error() string {
	return fmt.Sprintf("commit %s is not trusted: %s", short(e.Commit), e.Reason)
}

// Verify checks that the commit carries a valid signature by one of the
// keyring's keys and returns a description of the signer. An SSH
// signature (gpg.format=ssh) is verified as an SSHSIG over the commit
// without its signature header, namespace "git"; an OpenPGP signature
// with go-git's Commit.Verify against each armored key.
func (k *Keyring) Verify(c *object.Commit) (string, error) {
	hash := c.Hash.String()
	sig := strings.TrimSpace(c.PGPSignature)
	switch {
	case sig == "":
		return "", &UntrustedError{hash, "it is not signed"}
	case strings.HasPrefix(sig, "-----BEGIN SSH SIGNATURE-----"):
		return k.verifySSH(c, sig)
	case strings.HasPrefix(sig, "-----BEGIN PGP SIGNATURE-----"):
		var lastErr error
		for _, ring := range k.pgp {
			e, err := c.Verify(ring)
			if err == nil {
				for name := range e.Identities {
					return "openpgp " + e.PrimaryKey.KeyIdString() + " " + name, nil
				}
				return "openpgp " + e.PrimaryKey.KeyIdString(), nil
			}
			lastErr = err
		}
		if lastErr == nil {
			return "", &UntrustedError{hash, "it has an OpenPGP signature but no OpenPGP key is trusted"}
		}
		return "", &UntrustedError{hash, "no trusted OpenPGP key made its signature (" + lastErr.Error() + ")"}
	}
	return "", &UntrustedError{hash, "its signature is of an unknown kind"}
}

func (k *Keyring) verifySSH(c *object.Commit, armored string) (string, error) {
	hash := c.Hash.String()
	sig, err := sshsig.Unarmor([]byte(armored))
	if err != nil {
		return "", &UntrustedError{hash, "unreadable SSH signature: " + err.Error()}
	}
	var msg plumbing.MemoryObject
	if err := c.EncodeWithoutSignature(&msg); err != nil {
		return "", fmt.Errorf("encoding commit %s: %w", short(hash), err)
	}
	rd, err := msg.Reader()
	if err != nil {
		return "", err
	}
	defer rd.Close()
	var body bytes.Buffer
	if _, err := body.ReadFrom(rd); err != nil {
		return "", err
	}
	fp := ssh.FingerprintSHA256(sig.PublicKey)
	for _, pub := range k.ssh {
		if ssh.FingerprintSHA256(pub) != fp {
			continue
		}
		if err := sshsig.Verify(bytes.NewReader(body.Bytes()), sig, pub, sig.HashAlgorithm, "git"); err != nil {
			return "", &UntrustedError{hash, "bad SSH signature by " + fp + ": " + err.Error()}
		}
		return "ssh " + fp, nil
	}
	return "", &UntrustedError{hash, "signed with SSH key " + fp + ", which is not in trusted_keys"}
}
