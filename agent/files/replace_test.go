package files

import (
	"context"
	"io"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
)

// TestUpdateReplacesNotRewrites: a changed file is replaced by a new one
// (temp file and rename), never rewritten in place: a reader that opened
// the old file before the apply reads the old content whole, and the path
// names a new inode. A crash mid-write can then never leave a torn file.
func TestUpdateReplacesNotRewrites(t *testing.T) {
	root := t.TempDir()
	ctx := context.Background()
	old := strings.Repeat("old line\n", 1000)
	f := &File{Path: "/etc/app/app.conf", Content: []byte(old), Mode: 0o644}
	if _, err := f.CheckApply(ctx, env(root), true); err != nil {
		t.Fatal(err)
	}
	p := filepath.Join(root, "etc/app/app.conf")
	reader, err := os.Open(p)
	if err != nil {
		t.Fatal(err)
	}
	defer reader.Close()
	before, _ := reader.Stat()

	f.Content = []byte("new\n")
	if ch, err := f.CheckApply(ctx, env(root), true); err != nil || ch == nil {
		t.Fatalf("update: %v %+v", err, ch)
	}
	got, err := io.ReadAll(reader)
	if err != nil {
		t.Fatal(err)
	}
	if string(got) != old {
		t.Errorf("a reader of the old file saw %d bytes starting %q: the file was rewritten in place", len(got), got[:min(len(got), 20)])
	}
	after, err := os.Stat(p)
	if err != nil {
		t.Fatal(err)
	}
	if after.Sys().(*syscall.Stat_t).Ino == before.Sys().(*syscall.Stat_t).Ino {
		t.Error("the path names the same inode after the update: not replaced by rename")
	}
	if data, _ := os.ReadFile(p); string(data) != "new\n" {
		t.Errorf("content %q", data)
	}
	// No temp file is left beside it.
	if ents, _ := os.ReadDir(filepath.Dir(p)); len(ents) != 1 {
		t.Errorf("folder holds %d entries, want 1", len(ents))
	}
}

// TestUpdateDiffHidesSecrets: the plan's diff of an updated file never
// shows a secret's value, neither on the old side (the file on disk holds
// the value) nor on the new side nor in context lines.
func TestUpdateDiffHidesSecrets(t *testing.T) {
	root := t.TempDir()
	ctx := context.Background()
	f := &File{Path: "/etc/app/env", Content: []byte("A=1\nTOKEN=${secret:TOKEN}\nB=2\n"), Mode: 0o600}
	if _, err := f.CheckApply(ctx, env(root), true); err != nil {
		t.Fatal(err)
	}
	for name, content := range map[string]string{
		"context line":      "A=changed\nTOKEN=${secret:TOKEN}\nB=2\n",
		"removed and added": "A=1\nOTHER=${secret:TOKEN}\nB=2\n",
	} {
		f.Content = []byte(content)
		ch, err := f.CheckApply(ctx, env(root), false)
		if err != nil || ch == nil || ch.Action != "update" || ch.Diff == "" {
			t.Fatalf("%s: %v %+v", name, err, ch)
		}
		if strings.Contains(ch.Diff, "s3cr3t-value") {
			t.Errorf("%s: the diff shows the secret's value:\n%s", name, ch.Diff)
		}
		if !strings.Contains(ch.Diff, "TOKEN") && !strings.Contains(ch.Diff, "OTHER") {
			t.Errorf("%s: the diff lost the secret's line:\n%s", name, ch.Diff)
		}
	}
}
