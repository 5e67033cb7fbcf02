package backup

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/homelab-agent/homelab-agent/agent/resource"
	"github.com/homelab-agent/homelab-agent/agent/rotate"
	"github.com/homelab-agent/homelab-agent/agent/secrets"
)

// PasswordRotation is the repository password as a credential the agent
// owns: when RESTIC_PASSWORD changes, RotatePassword moves the repository
// to the new one.
func PasswordRotation(c Config) *rotate.Credential {
	return &rotate.Credential{Secret: SecretPassword, How: "restic key", Sub: "backup",
		Apply: func(ctx context.Context, env *resource.Env, old, new string) error {
			cfg := c
			cfg.Root = env.Root
			return RotatePassword(ctx, cfg, env.Secrets, old, new)
		}}
}

// rotateRetryLock is how long a rotation's restic calls wait for a lock
// another host holds: hosts sharing a repository rotate after the same push,
// and `key remove` needs the repository to itself.
const rotateRetryLock = 2 * time.Minute

// RotatePassword changes the repository's password from old to new with
// `restic key add` (opened with old) and `restic key remove` of old's key
// (opened with new). A restic repository has one master key that every key
// unlocks, so every snapshot stays readable with the new password. It is
// safe to repeat and to run from several hosts sharing the repository: a
// new password that already opens it is not added again, and old's key is
// removed only while it still exists (restic waits for another host's
// lock, and a removal another host did first is not an error). When it
// fails before the new key is added, old still opens the repository.
func RotatePassword(ctx context.Context, c Config, store *secrets.Store, old, new string) error {
	if old == new {
		return nil
	}
	newID, newErr := currentKey(ctx, c, store.With(SecretPassword, new))
	oldID, oldErr := currentKey(ctx, c, store.With(SecretPassword, old))
	switch {
	case newErr != nil && !errors.Is(newErr, ErrKind(KindPassword)):
		return newErr
	case oldErr != nil && !errors.Is(oldErr, ErrKind(KindPassword)):
		return oldErr
	case newErr != nil && oldErr != nil:
		return errors.New("neither the old nor the new RESTIC_PASSWORD opens the repository")
	}
	if newErr != nil {
		if err := addKey(ctx, c, store.With(SecretPassword, old), new); err != nil {
			// Another host sharing the repository may have added a key
			// for new and removed old's between our look and the add.
			id, nerr := currentKey(ctx, c, store.With(SecretPassword, new))
			if nerr != nil {
				return err
			}
			newID, oldErr = id, errors.New("removed by another host")
		} else {
			var err error
			if newID, err = currentKey(ctx, c, store.With(SecretPassword, new)); err != nil {
				return fmt.Errorf("the new key was added but does not open the repository: %w", err)
			}
		}
	}
	if rotate.IsReturning(ctx) {
		// Back to the last good commit's password after its successor was
		// refused here: the hosts that applied the successor use old (the
		// successor's value), so old's key stays, or their backups would
		// fail in turn (and their own returns would remove this host's
		// key). It is removed when this host applies the successor again.
		return nil
	}
	if oldErr == nil && oldID != newID {
		r, err := open(ctx, c, store.With(SecretPassword, new))
		if err != nil {
			return err
		}
		defer r.Close()
		if _, err := r.do(ctx, "removing the old repository key", call{args: []string{"key", "remove", oldID}}); err != nil {
			// Another host sharing the repository may have removed it first.
			if _, still := currentKey(ctx, c, store.With(SecretPassword, old)); errors.Is(still, ErrKind(KindPassword)) {
				return nil
			}
			return err
		}
	}
	return nil
}

// currentKey opens the repository with store's password and returns the
// ID of the key that opened it.
func currentKey(ctx context.Context, c Config, store *secrets.Store) (id string, err error) {
	// The key that opened the repository can be removed by another host
	// before `key list` reads the list; the next try opens with another.
	for try := 0; try < 3; try++ {
		if id, err = currentKeyOnce(ctx, c, store); !errors.Is(err, errNoCurrentKey) {
			break
		}
	}
	return id, err
}

var errNoCurrentKey = errors.New("restic key list named no current key")

func currentKeyOnce(ctx context.Context, c Config, store *secrets.Store) (string, error) {
	r, err := open(ctx, c, store)
	if err != nil {
		return "", err
	}
	defer r.Close()
	res, err := r.do(ctx, "listing repository keys", call{args: []string{"key", "list"}})
	if err != nil {
		return "", err
	}
	for _, line := range res.lines {
		var keys []struct {
			Current bool   `json:"current"`
			ID      string `json:"id"`
		}
		if json.Unmarshal(line, &keys) != nil {
			continue
		}
		for _, k := range keys {
			if k.Current {
				return k.ID, nil
			}
		}
	}
	return "", errNoCurrentKey
}

// addKey adds a key for password to the repository store's password opens.
func addKey(ctx context.Context, c Config, store *secrets.Store, password string) error {
	r, err := open(ctx, c, store)
	if err != nil {
		return err
	}
	defer r.Close()
	f := filepath.Join(r.tmp, "new-password")
	if err := os.WriteFile(f, []byte(password), 0o600); err != nil {
		return err
	}
	_, err = r.do(ctx, "adding the new repository key", call{args: []string{"key", "add", "--new-password-file", f, "--host", c.Host}})
	return err
}

// open opens the repository for a rotation's calls, which wait for locks.
func open(ctx context.Context, c Config, store *secrets.Store) (*Repo, error) {
	r, err := Open(ctx, c, store)
	if err == nil {
		r.RetryLock = rotateRetryLock
	}
	return r, err
}
