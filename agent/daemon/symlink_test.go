package daemon_test

import (
	"bytes"
	"encoding/json"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/homelab-agent/homelab-agent/agent/daemon"
)

// A committed relative link that points out of the lab repo at a 0600
// file is never followed: nothing of the file's content reaches the
// status, state.json, the log or any file the agent writes, and the
// refusal names homelab.yaml's line.
func TestRepoLinkOutsideIsRefused(t *testing.T) {
	const content = "TOPSECRET-7f3a9c"
	for _, tc := range []struct {
		name, link, want string
	}{
		// homelab.yaml itself, and the app's compose file named on line 26.
		{"homelab.yaml", "homelab.yaml", "homelab.yaml"},
		{"compose file", "apps/whoami/compose.yaml", "homelab.yaml:26:"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h := newHarness(t, nil)
			var logs bytes.Buffer
			h.d = h.newDaemon(daemon.Options{Log: slog.New(slog.NewTextHandler(&logs, nil))})
			c0 := h.repo.Git("rev-parse", "HEAD")
			h.converge()
			// The clone is root/var/lib/homelab-agent/repo: four levels up is root.
			outside := filepath.Join(h.root, "outside-secret")
			os.WriteFile(outside, []byte(content+"\n"+content+": x\n"), 0o600)
			depth := strings.Count(filepath.Clean(tc.link), "/")
			target := strings.Repeat("../", depth+4) + "outside-secret"
			os.Remove(filepath.Join(h.repo.Work, tc.link))
			if err := os.Symlink(target, filepath.Join(h.repo.Work, tc.link)); err != nil {
				t.Fatal(err)
			}
			// The link resolves from the agent's clone, not the work tree.
			bad := h.repo.CommitAndPush("link out of the repo")
			s := h.converge()
			if s.BadCommit != bad || s.AppliedCommit != c0 || !strings.Contains(s.BadReason, tc.want) ||
				!strings.Contains(s.BadReason, "leads out of the lab repo") {
				t.Fatalf("link out of the repo: bad %s applied %s reason %q", s.BadCommit, s.AppliedCommit, s.BadReason)
			}
			js, _ := json.Marshal(s)
			if strings.Contains(string(js), content) {
				t.Fatalf("/status holds the outside file's content: %s", js)
			}
			if strings.Contains(logs.String(), content) {
				t.Fatalf("the log holds the outside file's content:\n%s", logs.String())
			}
			// Nothing under the root but the file itself holds the content.
			filepath.WalkDir(h.root, func(p string, d fs.DirEntry, err error) error {
				if err != nil || d.IsDir() || p == outside || d.Type()&fs.ModeSymlink != 0 {
					return nil
				}
				if b, _ := os.ReadFile(p); bytes.Contains(b, []byte(content)) {
					t.Errorf("%s holds the outside file's content", p)
				}
				return nil
			})
		})
	}
}
