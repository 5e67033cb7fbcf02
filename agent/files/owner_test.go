package files

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"github.com/homelab-agent/homelab-agent/internal/testreq"
)

// TestOwnerOnlyWhenManaged: without owner management a written file gets
// the writer's owner, untouched (no chown to some other id); with it, the
// plan says which owner it sets and the file gets it.
func TestOwnerOnlyWhenManaged(t *testing.T) {
	if os.Geteuid() != 0 {
		testreq.Missing(t, "setting file owners needs root")
	}
	env := env(t.TempDir())
	f := &File{Path: "/etc/a.conf", Content: []byte("a\n"), Owner: "daemon", Group: "daemon"}
	ch, err := f.CheckApply(context.Background(), env, true)
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(ch.Summary, "owner") {
		t.Errorf("summary %q names an owner it does not manage", ch.Summary)
	}
	fi, _ := os.Stat(filepath.Join(env.Root, "etc/a.conf"))
	if st := fi.Sys().(*syscall.Stat_t); st.Uid != 0 || st.Gid != 0 {
		t.Fatalf("unmanaged owner %d:%d, want the writer's 0:0", st.Uid, st.Gid)
	}

	env.ManageOwner = true
	g := &File{Path: "/etc/b.conf", Content: []byte("b\n"), Owner: "daemon", Group: "daemon"}
	ch, err = g.CheckApply(context.Background(), env, false)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(ch.Summary, ", owner daemon:daemon") {
		t.Errorf("plan summary %q does not name the owner", ch.Summary)
	}
	if _, err := g.CheckApply(context.Background(), env, true); err != nil {
		t.Fatal(err)
	}
	fi, _ = os.Stat(filepath.Join(env.Root, "etc/b.conf"))
	if st := fi.Sys().(*syscall.Stat_t); st.Uid == 0 || st.Uid != st.Gid {
		t.Fatalf("managed owner %d:%d, want daemon's", st.Uid, st.Gid)
	}
}
