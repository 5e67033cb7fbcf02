package gitsync_test

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/homelab-agent/homelab-agent/agent/gitsync"
	"github.com/homelab-agent/homelab-agent/agent/gitsync/gitsynctest"
)

const lab = "../../fixtures/lab"

func newSyncer(t testing.TB, cfg gitsync.Config) *gitsync.Syncer {
	t.Helper()
	if cfg.Dir == "" {
		cfg.Dir = filepath.Join(t.TempDir(), "repo")
	}
	s, err := gitsync.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func mustSync(t testing.TB, s *gitsync.Syncer) gitsync.Result {
	t.Helper()
	res, err := s.Sync(context.Background())
	if err != nil {
		t.Fatalf("sync: %v", err)
	}
	return res
}

func TestSyncHTTPFetchesOnlyWhenMoved(t *testing.T) {
	r := gitsynctest.NewRepo(t, lab)
	srv := gitsynctest.StartHTTP(t, r.Root, "agent", "s3cret")
	s := newSyncer(t, gitsync.Config{URL: srv.URL("lab.git"), Auth: gitsync.Auth{Token: "agent:s3cret"}})
	res := mustSync(t, s)
	if !res.Cloned || res.Head != r.Git("rev-parse", "HEAD") {
		t.Fatalf("first sync: %+v", res)
	}
	packs := srv.Requests("git-upload-pack")
	res = mustSync(t, s)
	if res.Fetched || res.Cloned {
		t.Fatalf("no-change sync fetched: %+v", res)
	}
	if got := srv.Requests("git-upload-pack"); got != packs {
		t.Fatalf("no-change sync transferred objects: %d upload-pack requests, want %d", got, packs)
	}
	r.Edit("homelab.yaml", "domain: home.example", "domain: lab.example")
	h := r.CommitAndPush("rename domain")
	res = mustSync(t, s)
	if !res.Fetched || res.Head != h {
		t.Fatalf("after push: %+v, want head %s", res, h)
	}
	dir, err := s.Checkout(h)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := os.ReadFile(filepath.Join(dir, "homelab.yaml"))
	if !strings.Contains(string(b), "lab.example") {
		t.Fatalf("checkout does not hold the change")
	}

	// A checkout is exactly the commit's tree: deleted files go, untracked
	// files go, and an older commit brings them back.
	r.Git("rm", "-q", "README.md")
	h2 := r.CommitAndPush("drop the readme")
	mustSync(t, s)
	os.WriteFile(filepath.Join(dir, "stray"), []byte("x"), 0o644)
	if _, err := s.Checkout(h2); err != nil {
		t.Fatal(err)
	}
	for _, f := range []string{"README.md", "stray"} {
		if _, err := os.Stat(filepath.Join(dir, f)); !errors.Is(err, os.ErrNotExist) {
			t.Errorf("%s is still in the checkout of %s", f, h2)
		}
	}
	if _, err := s.Checkout(h); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(dir, "README.md")); err != nil {
		t.Errorf("README.md is missing from the checkout of %s", h)
	}
}

func TestSyncHTTPBadPassword(t *testing.T) {
	r := gitsynctest.NewRepo(t, lab)
	srv := gitsynctest.StartHTTP(t, r.Root, "agent", "s3cret")
	s := newSyncer(t, gitsync.Config{URL: srv.URL("lab.git"), Auth: gitsync.Auth{Token: "agent:wrong"}})
	if _, err := s.Sync(context.Background()); err == nil {
		t.Fatal("sync with a wrong password succeeded")
	}
}

func TestSyncSSHPinsHostKey(t *testing.T) {
	r := gitsynctest.NewRepo(t, lab)
	ssh := gitsynctest.StartSSH(t, r.Bare)
	s := newSyncer(t, gitsync.Config{URL: ssh.URL, Auth: gitsync.Auth{SSHKey: ssh.Key, KnownHosts: ssh.KnownHosts}})
	if res := mustSync(t, s); res.Head != r.Git("rev-parse", "HEAD") {
		t.Fatalf("ssh sync: %+v", res)
	}
	h := r.CommitAndPush("empty change")
	if res := mustSync(t, s); res.Head != h || !res.Fetched {
		t.Fatalf("ssh sync after push: %+v", res)
	}

	// Another host key under the same name: refused.
	_, otherPub := gitsynctest.SSHKeygen(t, t.TempDir(), "other")
	kh := filepath.Join(t.TempDir(), "known_hosts")
	old, _ := os.ReadFile(ssh.KnownHosts)
	name := strings.Fields(string(old))[0]
	os.WriteFile(kh, []byte(name+" "+otherPub+"\n"), 0o600)
	bad := newSyncer(t, gitsync.Config{URL: ssh.URL, Auth: gitsync.Auth{SSHKey: ssh.Key, KnownHosts: kh}})
	if _, err := bad.Sync(context.Background()); err == nil {
		t.Fatal("sync accepted a host key that known_hosts does not pin")
	}
	// No known_hosts at all: refused before any connection.
	if _, err := gitsync.New(gitsync.Config{URL: ssh.URL, Dir: t.TempDir(), Auth: gitsync.Auth{SSHKey: ssh.Key}}); err == nil {
		t.Fatal("New accepted SSH without known_hosts")
	}
}

func TestSyncLocalPath(t *testing.T) {
	r := gitsynctest.NewRepo(t, lab)
	s := newSyncer(t, gitsync.Config{URL: r.Bare})
	if res := mustSync(t, s); res.Head != r.Git("rev-parse", "HEAD") {
		t.Fatalf("local sync: %+v", res)
	}
}

func TestForcePushRefusedUnlessAllowed(t *testing.T) {
	r := gitsynctest.NewRepo(t, lab)
	base := r.Git("rev-parse", "HEAD")
	r.CommitAndPush("second")
	dir := filepath.Join(t.TempDir(), "repo")
	s := newSyncer(t, gitsync.Config{URL: r.Bare, Dir: dir})
	accepted := mustSync(t, s).Head

	r.Git("reset", "-q", "--hard", base)
	forced := r.Commit("rewritten history")
	r.Push(true)
	for range 2 { // refused on every poll, not only the first
		res, err := s.Sync(context.Background())
		var fe *gitsync.ForcePushError
		if !errors.As(err, &fe) {
			t.Fatalf("force-push: err %v, want ForcePushError", err)
		}
		if res.Head != accepted || res.Remote != forced {
			t.Fatalf("force-push result %+v", res)
		}
	}
	allow := newSyncer(t, gitsync.Config{URL: r.Bare, Dir: dir, AllowForcePush: true})
	res := mustSync(t, allow)
	if !res.Forced || res.Head != forced {
		t.Fatalf("allowed force-push: %+v", res)
	}
}

func TestCorruptCloneIsRecloned(t *testing.T) {
	r := gitsynctest.NewRepo(t, lab)
	dir := filepath.Join(t.TempDir(), "repo")
	mustSync(t, newSyncer(t, gitsync.Config{URL: r.Bare, Dir: dir}))

	// Every object file emptied, as after a crash mid-write.
	filepath.WalkDir(filepath.Join(dir, ".git", "objects"), func(p string, d os.DirEntry, err error) error {
		if err == nil && !d.IsDir() {
			os.Chmod(p, 0o644)
			os.Truncate(p, 0)
		}
		return nil
	})
	// And a half-written clone beside it.
	os.MkdirAll(dir+".tmp/.git", 0o755)
	s := newSyncer(t, gitsync.Config{URL: r.Bare, Dir: dir})
	res := mustSync(t, s)
	if !res.Cloned {
		t.Fatalf("corrupt clone was not re-cloned: %+v", res)
	}
	if _, err := os.Stat(dir + ".tmp"); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("half-written clone left behind: %v", err)
	}
	if _, err := s.Checkout(res.Head); err != nil {
		t.Fatal(err)
	}
	// A folder that is no git repo at all.
	os.RemoveAll(dir)
	os.MkdirAll(dir, 0o755)
	os.WriteFile(filepath.Join(dir, "junk"), []byte("x"), 0o644)
	if res := mustSync(t, newSyncer(t, gitsync.Config{URL: r.Bare, Dir: dir})); !res.Cloned {
		t.Fatalf("junk folder was not re-cloned: %+v", res)
	}
}

// TestRepeatedFetchFailuresReclone: when the server lists refs but every
// fetch fails, the clone is suspect and is made afresh.
func TestRepeatedFetchFailuresReclone(t *testing.T) {
	r := gitsynctest.NewRepo(t, lab)
	srv := gitsynctest.StartHTTP(t, r.Root, "agent", "s3cret")
	s := newSyncer(t, gitsync.Config{URL: srv.URL("lab.git"), Auth: gitsync.Auth{Token: "agent:s3cret"}})
	mustSync(t, s)
	h := r.CommitAndPush("moved")
	srv.FailPacks(true)
	for i := range 3 {
		if _, err := s.Sync(context.Background()); err == nil {
			t.Fatalf("fetch %d succeeded against a failing server", i)
		}
	}
	srv.FailPacks(false)
	res := mustSync(t, s)
	if !res.Cloned || res.Head != h {
		t.Fatalf("after 3 failed fetches: %+v, want a fresh clone at %s", res, h)
	}
	if res := mustSync(t, s); res.Cloned || res.Fetched {
		t.Fatalf("the next poll: %+v", res)
	}
}

// BenchmarkPollNoChange measures a poll when the branch did not move: one
// ref listing, no object transfer.
func BenchmarkPollNoChange(b *testing.B) {
	r := gitsynctest.NewRepo(b, lab)
	srv := gitsynctest.StartHTTP(b, r.Root, "agent", "s3cret")
	ssh := gitsynctest.StartSSH(b, r.Bare)
	for _, c := range []struct {
		name string
		cfg  gitsync.Config
	}{
		{"http", gitsync.Config{URL: srv.URL("lab.git"), Auth: gitsync.Auth{Token: "agent:s3cret"}}},
		{"ssh", gitsync.Config{URL: ssh.URL, Auth: gitsync.Auth{SSHKey: ssh.Key, KnownHosts: ssh.KnownHosts}}},
		{"local", gitsync.Config{URL: r.Bare}},
	} {
		b.Run(c.name, func(b *testing.B) {
			s := newSyncer(b, c.cfg)
			mustSync(b, s)
			packs := srv.Requests("git-upload-pack")
			b.ResetTimer()
			for b.Loop() {
				if res := mustSync(b, s); res.Fetched {
					b.Fatal("a no-change poll fetched")
				}
			}
			if srv.Requests("git-upload-pack") != packs {
				b.Fatal("a no-change poll transferred objects")
			}
		})
	}
}

func TestErrorsHideThePassword(t *testing.T) {
	r := gitsynctest.NewRepo(t, lab)
	srv := gitsynctest.StartHTTP(t, r.Root, "agent", "s3cret")
	url := strings.Replace(srv.URL("lab.git"), "http://", "http://agent:wrong-pw@", 1)
	_, err := newSyncer(t, gitsync.Config{URL: url}).Sync(context.Background())
	if err == nil || strings.Contains(err.Error(), "wrong-pw") {
		t.Fatalf("error %v shows the password (or there was none)", err)
	}
}
