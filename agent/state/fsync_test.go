package state_test

import (
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/homelab-agent/homelab-agent/agent/state"
	"github.com/homelab-agent/homelab-agent/internal/testreq"
)

// saveChild is set when the test binary is re-run under strace to save a
// state and exit.
const saveChild = "HOMELAB_STATE_SAVE_CHILD"

func TestMain(m *testing.M) {
	if root := os.Getenv(saveChild); root != "" {
		if err := (&state.State{LastGoodCommit: "abc"}).Save(root); err != nil {
			os.Stderr.WriteString(err.Error())
			os.Exit(1)
		}
		os.Exit(0)
	}
	os.Exit(m.Run())
}

// TestSaveSyncsFolder: Save renames the new state.json into place and
// then fsyncs the folder, so the rename survives a power cut (seen with
// strace on the real system calls).
func TestSaveSyncsFolder(t *testing.T) {
	st := testreq.Tool(t, "strace")
	root := t.TempDir()
	trace := filepath.Join(t.TempDir(), "trace")
	cmd := exec.Command(st, "-f", "-qq", "-o", trace, "-e", "trace=openat,rename,renameat,renameat2,fsync", os.Args[0])
	cmd.Env = append(os.Environ(), saveChild+"="+root)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("strace: %v\n%s", err, out)
	}
	b, _ := os.ReadFile(trace)
	dir := filepath.Dir(filepath.Join(root, state.Path))
	renamed, dirFD := false, ""
	openRe := regexp.MustCompile(`openat\(AT_FDCWD, "` + regexp.QuoteMeta(dir) + `", [^)]*\) = (\d+)`)
	for _, line := range strings.Split(string(b), "\n") {
		switch {
		case strings.Contains(line, "rename") && strings.Contains(line, `/state.json"`) && strings.HasSuffix(line, "= 0"):
			renamed = true
		case renamed && openRe.MatchString(line):
			dirFD = openRe.FindStringSubmatch(line)[1]
		case renamed && dirFD != "" && strings.Contains(line, "fsync("+dirFD+")") && strings.HasSuffix(line, "= 0"):
			return
		}
	}
	t.Fatalf("no fsync of %s after the rename of state.json (renamed %v, folder fd %q):\n%s", dir, renamed, dirFD, b)
}
