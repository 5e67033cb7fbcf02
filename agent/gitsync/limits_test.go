package gitsync_test

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/homelab-agent/homelab-agent/agent/gitsync"
	"github.com/homelab-agent/homelab-agent/agent/gitsync/gitsynctest"
)

// TestContentLimits: Checkout refuses a commit with a file, a total size
// or a number of files over the limits, naming the file, and writes
// nothing of it; a clone whose accepted head is over the limits is not
// taken for corrupt (no re-clone on every start).
func TestContentLimits(t *testing.T) {
	r := gitsynctest.NewRepo(t, lab)
	srv := gitsynctest.StartHTTP(t, r.Root, "agent", "s3cret")
	dir := filepath.Join(t.TempDir(), "repo")
	cfg := gitsync.Config{URL: srv.URL("lab.git"), Auth: gitsync.Auth{Token: "agent:s3cret"}, Dir: dir}
	s := newSyncer(t, cfg)
	good := mustSync(t, s).Head
	if _, err := s.Checkout(good); err != nil {
		t.Fatal(err)
	}

	// The default limit on a file: 16 MiB (zeros: the pack stays small).
	r.Write("media/disk.img", strings.Repeat("\x00", gitsync.DefaultMaxBlob+1))
	big := r.CommitAndPush("a disk image")
	mustSync(t, s)
	_, err := s.Checkout(big)
	var ce *gitsync.ContentError
	if !errors.As(err, &ce) || ce.File != "media/disk.img" {
		t.Fatalf("err = %v, want a ContentError for media/disk.img", err)
	}
	if want := fmt.Sprintf("commit %s: media/disk.img: file of 16777217 bytes is larger than the limit of 16 MiB on a file of the lab repo", big[:12]); err.Error() != want {
		t.Fatalf("err = %q, want %q", err, want)
	}
	// The previous checkout is untouched.
	if got, _ := os.ReadFile(filepath.Join(dir, "homelab.yaml")); !strings.Contains(string(got), "home.example") {
		t.Fatal("the refused commit changed the checkout")
	}
	// A restart (a new Syncer over the same clone) opens it without
	// reading the big file and without cloning again.
	s2 := newSyncer(t, cfg)
	if res := mustSync(t, s2); res.Cloned {
		t.Fatal("a clone whose head is over the limits was made again")
	}

	// Smaller limits: total size and number of files.
	r.Git("rm", "-q", "media/disk.img")
	for i := range 3 {
		r.Write(fmt.Sprintf("docs/%d.txt", i), strings.Repeat("x", 1000))
	}
	h := r.CommitAndPush("three docs")
	for _, c := range []struct {
		cfg  gitsync.Config
		want string
	}{
		{gitsync.Config{MaxCheckout: 2500}, ": with this file the commit's files add up to more than the limit of 2500 bytes"},
		{gitsync.Config{MaxFiles: 3}, ": the commit holds more than the limit of 3 files"},
	} {
		c.cfg.URL, c.cfg.Auth, c.cfg.Dir = cfg.URL, cfg.Auth, filepath.Join(t.TempDir(), "repo")
		s := newSyncer(t, c.cfg)
		mustSync(t, s)
		_, err := s.Checkout(h)
		if !errors.As(err, &ce) || !strings.HasSuffix(err.Error(), c.want) {
			t.Fatalf("err = %v, want a ContentError ending %q", err, c.want)
		}
	}
	mustSync(t, s)
	if _, err := s.Checkout(h); err != nil {
		t.Fatalf("within the default limits: %v", err)
	}
}
