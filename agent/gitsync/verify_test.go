package gitsync_test

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/homelab-agent/homelab-agent/agent/gitsync"
	"github.com/homelab-agent/homelab-agent/agent/gitsync/gitsynctest"
)

func TestVerifySignatures(t *testing.T) {
	r := gitsynctest.NewRepo(t, lab)
	keys := t.TempDir()
	sshKey, sshPub := gitsynctest.SSHKeygen(t, keys, "signer")
	_, otherPub := gitsynctest.SSHKeygen(t, keys, "other")
	gpgHome, fpr, armored := gitsynctest.GPGKey(t, "owner@home.example")
	r.Setenv("GNUPGHOME=" + gpgHome)

	unsigned := r.Commit("unsigned")
	r.Git("-c", "gpg.format=ssh", "-c", "user.signingkey="+sshKey+".pub", "commit", "-q", "--allow-empty", "-S", "-m", "ssh-signed")
	sshSigned := r.Git("rev-parse", "HEAD")
	r.Git("commit", "-q", "--allow-empty", "-S"+fpr, "-m", "gpg-signed")
	gpgSigned := r.Git("rev-parse", "HEAD")
	r.Push(false)

	s := newSyncer(t, gitsync.Config{URL: r.Bare})
	mustSync(t, s)

	// Keys given inline, and as files.
	pubFile := filepath.Join(keys, "trusted.asc")
	os.WriteFile(pubFile, []byte(armored), 0o644)
	allowed := filepath.Join(keys, "allowed_signers")
	os.WriteFile(allowed, []byte("owner@home.example "+sshPub+"\n"), 0o644)
	for _, c := range []struct {
		name    string
		keys    []string
		commit  string
		ok      bool
		errHint string
	}{
		{"unsigned", []string{sshPub}, unsigned, false, "not signed"},
		{"ssh trusted", []string{sshPub}, sshSigned, true, ""},
		{"ssh from allowed_signers file", []string{allowed}, sshSigned, true, ""},
		{"ssh untrusted key", []string{otherPub, armored}, sshSigned, false, "not in trusted_keys"},
		{"gpg trusted inline", []string{armored}, gpgSigned, true, ""},
		{"gpg trusted file", []string{pubFile}, gpgSigned, true, ""},
		{"gpg with only ssh keys", []string{sshPub}, gpgSigned, false, "no OpenPGP key"},
	} {
		t.Run(c.name, func(t *testing.T) {
			ring, err := gitsync.ParseKeys(c.keys)
			if err != nil {
				t.Fatal(err)
			}
			cm, err := s.Commit(c.commit)
			if err != nil {
				t.Fatal(err)
			}
			who, err := ring.Verify(cm)
			if c.ok {
				if err != nil {
					t.Fatalf("verify: %v", err)
				}
				t.Logf("signed by %s", who)
				return
			}
			var ue *gitsync.UntrustedError
			if !errors.As(err, &ue) || !strings.Contains(err.Error(), c.errHint) {
				t.Fatalf("verify: %v, want an UntrustedError saying %q", err, c.errHint)
			}
		})
	}

	// A signed commit whose content was altered after signing fails.
	cm, _ := s.Commit(sshSigned)
	cm.Message = "tampered\n"
	ring, _ := gitsync.ParseKeys([]string{sshPub})
	if _, err := ring.Verify(cm); err == nil {
		t.Fatal("a tampered SSH-signed commit verified")
	}
	cm, _ = s.Commit(gpgSigned)
	cm.Message = "tampered\n"
	ring, _ = gitsync.ParseKeys([]string{armored})
	if _, err := ring.Verify(cm); err == nil {
		t.Fatal("a tampered GPG-signed commit verified")
	}
}
