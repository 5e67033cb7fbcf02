package images_test

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/homelab-agent/homelab-agent/agent/images"
)

// TestCorruptStoreStartsEmpty: images.json holds answers the registry can
// give again and records the next check rebuilds, so a file that does not
// parse is an empty store (never a blocked agent), and is rewritten.
func TestCorruptStoreStartsEmpty(t *testing.T) {
	root := t.TempDir()
	path := filepath.Join(root, images.StorePath)
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, []byte(`{"version":1,"services":{"a/b":`), 0o600); err != nil {
		t.Fatal(err)
	}
	s, err := images.Open(root)
	if err != nil {
		t.Fatal(err)
	}
	if recs, _ := s.Records(); len(recs) != 0 {
		t.Fatalf("records from a corrupt file: %v", recs)
	}
	s.Put(images.Key("jellyfin", "jellyfin"), &images.Record{Image: "jellyfin/jellyfin:10.10", Digest: "sha256:aaa"})
	if err := s.Save(); err != nil {
		t.Fatal(err)
	}
	again, err := images.Open(root)
	if err != nil {
		t.Fatal(err)
	}
	if r := again.Get("jellyfin/jellyfin"); r == nil || r.Digest != "sha256:aaa" {
		t.Fatalf("after saving: %+v", r)
	}
	if fi, err := os.Stat(path); err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("images.json mode: %v %v", fi.Mode(), err)
	}
}
