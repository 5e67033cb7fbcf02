package backup

import (
	"context"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/homelab-agent/homelab-agent/agent/resource"
	"github.com/homelab-agent/homelab-agent/agent/rotate"
)

func keyCount(t *testing.T, r *Runner) int {
	t.Helper()
	repo, err := Open(context.Background(), r.Config, r.Secrets)
	if err != nil {
		t.Fatal(err)
	}
	defer repo.Close()
	res, err := repo.do(context.Background(), "keys", call{args: []string{"key", "list"}})
	if err != nil {
		t.Fatal(err)
	}
	var keys []json.RawMessage
	json.Unmarshal(res.lines[len(res.lines)-1], &keys)
	return len(keys)
}

// TestRotateResticPassword: a changed RESTIC_PASSWORD is planned without
// its value, applied with restic key add + key remove, and the snapshots
// taken with the old password restore byte-identical with the new one;
// the old password no longer opens the repository. A second host sharing
// the repository finds the work done. A failed rotation leaves the old
// value remembered and working.
func TestRotateResticPassword(t *testing.T) {
	addr := s3Server(t)
	r := testRunner(t, addr)
	ctx := ctxT(t)
	dir := writeTree(t, r.Config.Root, "nextcloud")
	want := treeHash(t, dir)
	if res := r.BackupJob(ctx, job("nextcloud")); res.Err != nil {
		t.Fatalf("backup: %v", res.Err)
	}
	const newPW = "new-Restic-Pw-LeakCanary"
	cred := PasswordRotation(r.Config)
	oldEnv := &resource.Env{Root: r.Config.Root, Secrets: r.Secrets}
	newEnv := &resource.Env{Root: r.Config.Root, Secrets: testSecrets(newPW)}

	// First sight: the value in place is remembered, not a change.
	if ch, err := cred.CheckApply(ctx, oldEnv, true); ch != nil || err != nil {
		t.Fatalf("first apply: %+v %v", ch, err)
	}
	remembered := filepath.Join(r.Config.Root, rotate.Dir, SecretPassword)
	if fi, err := os.Stat(remembered); err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("remembered value: %v", err)
	}
	ch, err := cred.CheckApply(ctx, newEnv, false)
	if err != nil || ch == nil || ch.Summary != "secret RESTIC_PASSWORD changed (rotate: restic key)" {
		t.Fatalf("plan: %+v %v", ch, err)
	}
	if ch, err = cred.CheckApply(ctx, newEnv, true); err != nil || ch == nil {
		t.Fatalf("rotate: %+v %v", ch, err)
	}
	if b, _ := os.ReadFile(remembered); string(b) != newPW {
		t.Fatal("the new value is not remembered")
	}
	if ch, err := cred.CheckApply(ctx, newEnv, true); ch != nil || err != nil {
		t.Fatalf("second apply: %+v %v", ch, err)
	}

	// Old snapshots restore with the new password; the old one is refused.
	rn := testRunner(t, addr)
	rn.Config.Root = r.Config.Root
	rn.Secrets = testSecrets(newPW)
	if n := keyCount(t, rn); n != 1 {
		t.Fatalf("%d keys after the rotation, want 1", n)
	}
	os.RemoveAll(dir)
	os.MkdirAll(dir, 0o750)
	if _, err := rn.Restore(ctx, RestoreOptions{Job: job("nextcloud"), Snapshot: "latest", Confirm: func(*RestorePlan) bool { return true }}); err != nil {
		t.Fatalf("restore with the new password: %v", err)
	}
	if treeHash(t, dir) != want {
		t.Fatal("the restored tree differs")
	}
	if _, err := currentKey(ctx, r.Config, r.Secrets); !errors.Is(err, ErrKind(KindPassword)) {
		t.Fatalf("the old password still opens the repository: %v", err)
	}

	// Another host sharing the repository, still remembering the old value.
	other := t.TempDir()
	os.MkdirAll(filepath.Join(other, rotate.Dir), 0o700)
	os.WriteFile(filepath.Join(other, rotate.Dir, SecretPassword), []byte(testPassword), 0o600)
	cfg := r.Config
	cfg.Root = other
	if _, err := PasswordRotation(cfg).CheckApply(ctx, &resource.Env{Root: other, Secrets: testSecrets(newPW)}, true); err != nil {
		t.Fatalf("second host: %v", err)
	}
	if n := keyCount(t, rn); n != 1 {
		t.Fatalf("%d keys after the second host, want 1", n)
	}

	// A rotation to a value when neither opens: reported, nothing changes.
	os.WriteFile(remembered, []byte("wrong-old-LeakCanary"), 0o600)
	bad := &resource.Env{Root: r.Config.Root, Secrets: testSecrets("wrong-new-LeakCanary")}
	_, err = cred.CheckApply(ctx, bad, true)
	if err == nil || !strings.Contains(err.Error(), "the old value still works") || !strings.Contains(err.Error(), "neither the old nor the new") {
		t.Fatalf("failed rotation: %v", err)
	}
	if strings.Contains(err.Error(), "LeakCanary") {
		t.Fatalf("a value in the error: %v", err)
	}
	if b, _ := os.ReadFile(remembered); string(b) != "wrong-old-LeakCanary" {
		t.Fatal("a failed rotation changed the remembered value")
	}
	if n := keyCount(t, rn); n != 1 {
		t.Fatal("a failed rotation changed the keys")
	}
}

// TestRotateUnreachableKeepsOld: the repository does not answer: the
// rotation fails, the old value stays remembered.
func TestRotateUnreachableKeepsOld(t *testing.T) {
	r := testRunner(t, "127.0.0.1:1")
	ctx := ctxT(t)
	root := r.Config.Root
	os.MkdirAll(filepath.Join(root, rotate.Dir), 0o700)
	os.WriteFile(filepath.Join(root, rotate.Dir, SecretPassword), []byte(testPassword), 0o600)
	_, err := PasswordRotation(r.Config).CheckApply(ctx, &resource.Env{Root: root, Secrets: testSecrets("next-one")}, true)
	if err == nil || !strings.Contains(err.Error(), "rotating secret RESTIC_PASSWORD (restic key) failed; the old value still works") {
		t.Fatalf("err = %v", err)
	}
	if b, _ := os.ReadFile(filepath.Join(root, rotate.Dir, SecretPassword)); string(b) != testPassword {
		t.Fatal("the remembered value changed")
	}
}

// TestRotateConcurrentHosts: the hosts sharing a repository all rotate
// RESTIC_PASSWORD after the same push, at the same moment (the drill saw
// one fail on another's lock, and the commit refused). Each must succeed,
// the new password open the repository and the old one not.
func TestRotateConcurrentHosts(t *testing.T) {
	addr := s3Server(t)
	r := testRunner(t, addr)
	// Four hosts each open the repository several times while it holds up
	// to five keys, and restic derives each key (scrypt, about 0.5 s of
	// CPU) until one opens: minutes of CPU on a loaded 2-core machine
	// under -race, so this test has more than ctxT's 2 min.
	ctx, cancel := context.WithTimeout(context.Background(), 6*time.Minute)
	defer cancel()
	writeTree(t, r.Config.Root, "nextcloud")
	if res := r.BackupJob(ctx, job("nextcloud")); res.Err != nil {
		t.Fatalf("backup: %v", res.Err)
	}
	const newPW = "concurrent-new-pw"
	hosts := []string{"cloud", "photos", "media", "proxy"}
	errs := make([]error, len(hosts))
	var wg sync.WaitGroup
	for i, h := range hosts {
		wg.Add(1)
		go func() {
			defer wg.Done()
			cfg := r.Config
			cfg.Host = h
			errs[i] = RotatePassword(ctx, cfg, testSecrets(testPassword), testPassword, newPW)
		}()
	}
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			t.Errorf("host %s: %v", hosts[i], err)
		}
	}
	if _, err := currentKey(ctx, r.Config, testSecrets(newPW)); err != nil {
		t.Fatalf("the new password does not open the repository: %v", err)
	}
	if _, err := currentKey(ctx, r.Config, testSecrets(testPassword)); !errors.Is(err, ErrKind(KindPassword)) {
		t.Fatalf("the old password still opens the repository: %v", err)
	}
}

// TestReturnToLastGoodAddsOnly: host A applied the rotation of
// RESTIC_PASSWORD; host B's copy of that commit was refused (another
// resource failed) and B returns to the last good commit, whose password
// is the old one. B gets a key for the old password back but leaves the
// new one, which A uses (the drill saw B's return remove A's key, A then
// fail and return in turn). When B applies the commit again, the old
// password's key goes.
func TestReturnToLastGoodAddsOnly(t *testing.T) {
	addr := s3Server(t)
	r := testRunner(t, addr)
	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
	defer cancel()
	writeTree(t, r.Config.Root, "nextcloud")
	if res := r.BackupJob(ctx, job("nextcloud")); res.Err != nil {
		t.Fatalf("backup: %v", res.Err)
	}
	const newPW = "rotated-by-host-a"
	a, b := r.Config, r.Config
	a.Host, b.Host = "cloud", "photos"
	opens := func(pw string) bool {
		_, err := currentKey(ctx, r.Config, testSecrets(pw))
		if err != nil && !errors.Is(err, ErrKind(KindPassword)) {
			t.Fatal(err)
		}
		return err == nil
	}
	if err := RotatePassword(ctx, a, testSecrets(testPassword), testPassword, newPW); err != nil {
		t.Fatalf("host A: %v", err)
	}
	if opens(testPassword) || !opens(newPW) {
		t.Fatal("after host A's rotation the old password still opens, or the new one does not")
	}
	// Host B returns to the last good commit: from the new value to the old.
	if err := RotatePassword(rotate.Returning(ctx), b, testSecrets(newPW), newPW, testPassword); err != nil {
		t.Fatalf("host B's return: %v", err)
	}
	if !opens(testPassword) || !opens(newPW) {
		t.Fatalf("after host B's return: old opens %v, new opens %v; want both", opens(testPassword), opens(newPW))
	}
	// Host B applies the commit again.
	if err := RotatePassword(ctx, b, testSecrets(testPassword), testPassword, newPW); err != nil {
		t.Fatalf("host B forward: %v", err)
	}
	if opens(testPassword) || !opens(newPW) {
		t.Fatal("after host B applied the commit again the old password still opens, or the new one does not")
	}
}
