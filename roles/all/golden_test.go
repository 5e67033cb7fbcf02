package all_test

import (
	"bytes"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/rogpeppe/go-internal/txtar"

	"github.com/homelab-agent/homelab-agent/agent"
)

var update = flag.Bool("update", false, "rewrite the golden files under fixtures/golden")

// goldenCases maps a case name to its lab repo; each host's rendered files
// are compared with fixtures/golden/<case>/<host>.txtar.
var goldenCases = map[string]string{
	"sample":  "../../fixtures/lab",
	"variant": "../../fixtures/golden/variant",
}

var goldenNow = time.Date(2026, 11, 27, 12, 0, 0, 0, time.UTC)

func TestGolden(t *testing.T) {
	for name, repo := range goldenCases {
		l, err := agent.LoadLab(repo)
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		for _, h := range l.Hosts {
			t.Run(name+"/"+h.Name, func(t *testing.T) {
				fs, err := agent.RenderHost(l, h.Name, goldenNow)
				if err != nil {
					t.Fatal(err)
				}
				ar := &txtar.Archive{Comment: []byte(fmt.Sprintf("host %s, role %s: every file it gets, with its mode\n", h.Name, h.Role))}
				for _, f := range fs {
					ar.Files = append(ar.Files, txtar.File{Name: fmt.Sprintf("%s %#o", f.Path, f.Mode), Data: f.Content})
				}
				got := txtar.Format(ar)
				path := filepath.Join("../../fixtures/golden", name, h.Name+".txtar")
				if *update {
					os.MkdirAll(filepath.Dir(path), 0o755)
					if err := os.WriteFile(path, got, 0o644); err != nil {
						t.Fatal(err)
					}
					return
				}
				want, err := os.ReadFile(path)
				if err != nil {
					t.Fatalf("%v (run `make golden` to create it)", err)
				}
				if !bytes.Equal(got, want) {
					t.Errorf("rendered files differ from %s; review and run `make golden`:\n%s", path, lineDiff(string(want), string(got)))
				}
			})
		}
	}
}

// lineDiff shows the first differing line.
func lineDiff(want, got string) string {
	w, g := bytes.Split([]byte(want), []byte("\n")), bytes.Split([]byte(got), []byte("\n"))
	for i := 0; i < len(w) || i < len(g); i++ {
		var a, b []byte
		if i < len(w) {
			a = w[i]
		}
		if i < len(g) {
			b = g[i]
		}
		if !bytes.Equal(a, b) {
			return fmt.Sprintf("line %d:\n-%s\n+%s", i+1, a, b)
		}
	}
	return ""
}
