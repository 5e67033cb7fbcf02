package daemon

import (
	"errors"
	"fmt"
	"slices"

	"github.com/homelab-agent/homelab-agent/agent/gitsync"
)

// UnsignedWarning is what status and the log say when trusted_keys is
// empty: the lab repo's push access is root on every VM.
const UnsignedWarning = "trusted_keys is not set: every commit on the branch is applied unsigned, so anyone who can push to the lab repo " +
	"can run anything as root on every VM (compose allows privileged containers, host mounts and network_mode: host); " +
	"set trusted_keys in agent.yaml to apply only signed commits"

// warnings are the standing warnings of a configuration, for status.
func warnings(keys *gitsync.Keyring) []string {
	if keys.Empty() {
		return []string{UnsignedWarning}
	}
	return nil
}

// verifyRange checks, when trusted_keys is set, every commit that head
// brings over the last good commit (git rev-list good..head, merged
// branches included), oldest first: one unsigned or untrusted commit
// refuses the whole range and is named. With no last good commit (or head
// being it) only head is checked. An error that is no *gitsync.UntrustedError (the
// history could not be read) is a refusal too.
func (d *Daemon) verifyRange(good, head string) error {
	if d.keys.Empty() {
		return nil
	}
	if good == "" || good == head {
		return d.verify(head)
	}
	commits, err := d.syncer.Range(good, head)
	if err != nil {
		return fmt.Errorf("checking the signatures of the commits since %s: %w", short(good), err)
	}
	slices.Reverse(commits)
	for _, c := range commits {
		if _, err := d.keys.Verify(c); err != nil {
			var ue *gitsync.UntrustedError
			if errors.As(err, &ue) && c.Hash.String() != head {
				return &gitsync.UntrustedError{Commit: ue.Commit, Reason: fmt.Sprintf(
					"%s; it is one of the %d commits between the last good commit %s and the head %s, each of which must be signed by a trusted key",
					ue.Reason, len(commits), short(good), short(head))}
			}
			return err
		}
	}
	return nil
}

// descends checks that head does not rewrite the history applied so far.
// gitsync refuses a non-fast-forward between polls; this also covers a
// clone made afresh (after corruption), whose refs start at the server's
// head. An error reading the history is returned: the caller refuses the
// head (it never passes unchecked).
func (d *Daemon) descends(head, good string) (bool, error) {
	if d.cfg.AllowForcePush || good == "" || head == good {
		return true, nil
	}
	isAncestor := d.syncer.IsAncestor
	if d.ancestry != nil {
		isAncestor = d.ancestry
	}
	return isAncestor(good, head)
}
