package gitsync_test

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/homelab-agent/homelab-agent/agent/gitsync"
	"github.com/homelab-agent/homelab-agent/agent/gitsync/gitsynctest"
)

// A file:// URL is read as git reads it, not as a relative path.
func TestSyncFileURL(t *testing.T) {
	r := gitsynctest.NewRepo(t, lab)
	for _, u := range []string{"file://" + r.Bare, "file://localhost" + r.Bare} {
		s := newSyncer(t, gitsync.Config{URL: u})
		res, err := s.Sync(context.Background())
		if err != nil {
			t.Fatalf("%s: %v", u, err)
		}
		if res.Head != r.Git("rev-parse", "HEAD") {
			t.Fatalf("%s: head %s", u, res.Head)
		}
	}
	if _, err := gitsync.New(gitsync.Config{URL: "file://elsewhere/srv/lab.git", Dir: t.TempDir()}); err == nil {
		t.Fatal("a file:// URL naming another host was accepted")
	}
}

// A token written as the URL's user name (https://TOKEN@host/...) is a
// credential: it authenticates, and no error, status or clone config
// shows it.
func TestTokenInURLUserIsHidden(t *testing.T) {
	const token = "ghp_TOKENvalue123"
	r := gitsynctest.NewRepo(t, lab)
	srv := gitsynctest.StartHTTP(t, r.Root, token, "")
	url := strings.Replace(srv.URL("lab.git"), "http://", "http://"+token+"@", 1)
	if got := gitsync.Redact(url); strings.Contains(got, token) {
		t.Fatalf("Redact(%q) = %q", url, got)
	}
	if got := gitsync.Redact("https://user:pw@host/x.git"); strings.Contains(got, "user") || strings.Contains(got, "pw") {
		t.Fatalf("Redact kept the user info: %q", got)
	}
	if !gitsync.HasCredentials(url) || gitsync.HasCredentials("ssh://git@host/lab.git") || gitsync.HasCredentials("git@host:lab.git") {
		t.Fatal("HasCredentials is wrong")
	}
	dir := filepath.Join(t.TempDir(), "repo")
	s := newSyncer(t, gitsync.Config{URL: url, Dir: dir})
	if _, err := s.Sync(context.Background()); err != nil {
		t.Fatalf("sync with the token in the URL: %v", err)
	}
	cfg, _ := os.ReadFile(filepath.Join(dir, ".git", "config"))
	if strings.Contains(string(cfg), token) {
		t.Fatalf("the clone's config holds the token:\n%s", cfg)
	}
	// Server down: the error names the repo without the token.
	srv.Stop()
	_, err := newSyncer(t, gitsync.Config{URL: url}).Sync(context.Background())
	if err == nil || strings.Contains(err.Error(), token) {
		t.Fatalf("error %v shows the token (or there was none)", err)
	}
}
