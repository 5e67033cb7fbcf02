package vault

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"

	"github.com/homelab-agent/homelab-agent/agent/secrets"
)

// LoadHost resolves a host's secrets: the local secrets.env and
// HOMELAB_SECRET_* variables (secrets.Load) first, then the host's file in
// the lab repo at repoDir, decrypted with the identity at
// root/etc/homelab-agent/age.key. A name in both with different values
// keeps the local value and is recorded as a conflict (Store.Conflicts).
// A repo without the host's file is fine; a file the host cannot open
// (no identity, wrong recipients, damaged) is an *Error naming the file
// and the host, and nothing is resolved.
func LoadHost(root, repoDir, host string, environ []string) (*secrets.Store, error) {
	store, err := secrets.Load(root, environ)
	if err != nil {
		return nil, err
	}
	if repoDir == "" || host == "" {
		return store, nil
	}
	rel := FileOf(host)
	data, err := readLimited(filepath.Join(repoDir, rel))
	switch {
	case errors.Is(err, os.ErrNotExist):
		return store, nil
	case err != nil:
		return nil, &Error{File: rel, Host: host, Err: err}
	}
	idPath := filepath.Join(root, IdentityFile)
	id, err := ReadIdentity(idPath)
	if errors.Is(err, os.ErrNotExist) {
		return nil, &Error{File: rel, Host: host, Err: fmt.Errorf("no identity at %s to open it (bootstrap delivers it; or write `homelab-agent secrets identity --host %s` there, mode 0600)", IdentityFile, host)}
	}
	if err != nil {
		return nil, &Error{File: rel, Host: host, Err: err}
	}
	v, err := Decrypt(data, id)
	if err != nil {
		return nil, &Error{File: rel, Host: host, Err: err}
	}
	store.AddLower(v.Map(), rel+" (host "+host+")")
	return store, nil
}

func readLimited(p string) ([]byte, error) {
	fi, err := os.Stat(p)
	if err != nil {
		return nil, err
	}
	if fi.Size() > MaxFile {
		return nil, fmt.Errorf("larger than %d bytes", MaxFile)
	}
	return os.ReadFile(p)
}
