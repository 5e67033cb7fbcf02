package agent

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/homelab-agent/homelab-agent/agent/files"
	"github.com/homelab-agent/homelab-agent/agent/resource"
	"github.com/homelab-agent/homelab-agent/agent/role"
	"github.com/homelab-agent/homelab-agent/agent/state"
)

// A file that was on the host before the agent managed its path is kept
// and put back when the path leaves the repo; a file the agent created
// is deleted.
func TestPruneRestoresOriginals(t *testing.T) {
	root := t.TempDir()
	mine := filepath.Join(root, "etc/app/users.conf")
	os.MkdirAll(filepath.Dir(mine), 0o755)
	os.WriteFile(mine, []byte("the owner's own settings\n"), 0o640)
	out := &role.Output{Resources: []resource.Resource{
		&files.File{Path: "/etc/app/users.conf", Content: []byte("managed\n")},
		&files.File{Path: "/etc/app/new.conf", Content: []byte("created by the agent\n")},
	}}

	plan, err := runSynthetic(t, root, out, false)
	if err != nil || !strings.Contains(plan.Changes[0].Summary, "would keep the file that is there as users.conf.homelab-agent-orig") {
		t.Fatalf("plan does not say it keeps the original: %v %+v", err, plan.Changes)
	}
	if _, err := os.Stat(mine + files.OrigSuffix); err == nil {
		t.Fatal("plan kept the original")
	}
	if _, err := runSynthetic(t, root, out, true); err != nil {
		t.Fatal(err)
	}
	orig, _ := os.ReadFile(mine + files.OrigSuffix)
	fi, _ := os.Stat(mine + files.OrigSuffix)
	if string(orig) != "the owner's own settings\n" || fi.Mode().Perm() != 0o640 {
		t.Fatalf("original kept as %q mode %v", orig, fi.Mode())
	}
	if st, _ := state.Load(root); !slices.Equal(st.Originals, []string{"/etc/app/users.conf"}) {
		t.Fatalf("state originals = %v", st.Originals)
	}
	// A second pass changes nothing and keeps the first original.
	os.WriteFile(mine, []byte("managed\n"), 0o644)
	if rep, err := runSynthetic(t, root, out, true); err != nil || rep.Changed {
		t.Fatalf("second pass: %v %+v", err, rep.Changes)
	}

	// Both paths leave the repo.
	rep, err := runSynthetic(t, root, &role.Output{}, true)
	if err != nil {
		t.Fatal(err)
	}
	if got, _ := os.ReadFile(mine); string(got) != "the owner's own settings\n" {
		t.Fatalf("the original was not restored: %q (%+v)", got, rep.Changes)
	}
	if _, err := os.Stat(mine + files.OrigSuffix); err == nil {
		t.Fatal("the .homelab-agent-orig copy is still there")
	}
	if _, err := os.Stat(filepath.Join(root, "etc/app/new.conf")); err == nil {
		t.Fatal("the file the agent created was not pruned")
	}
	if st, _ := state.Load(root); len(st.Originals) != 0 || len(st.Resources) != 0 {
		t.Fatalf("state after pruning: originals %v resources %v", st.Originals, st.Resources)
	}
}
