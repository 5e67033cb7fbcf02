package docker

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestRepoFilesBounded: a .env or env_file in the lab repo larger than
// the limit is refused with an error naming it, without reading it whole.
func TestRepoFilesBounded(t *testing.T) {
	for _, name := range []string{".env", "app.env"} {
		t.Run(name, func(t *testing.T) {
			dir := t.TempDir()
			os.MkdirAll(filepath.Join(dir, "apps/big"), 0o755)
			f, err := os.Create(filepath.Join(dir, "apps/big", name))
			if err != nil {
				t.Fatal(err)
			}
			f.WriteString("A=b\n")
			f.Truncate(4 << 30) // sparse: 4 GiB of NULs after the first line
			f.Close()
			p := &Project{Source: Source{Name: "big", Dir: filepath.Join(dir, "apps/big"), Files: []File{{
				Name:    "apps/big/compose.yaml",
				Content: []byte("services:\n  app:\n    image: busybox\n    env_file: [app.env]\n"),
			}}}, Environ: []string{}}
			if name == ".env" {
				os.WriteFile(filepath.Join(dir, "apps/big/app.env"), []byte("X=y\n"), 0o644)
			}
			err = p.Validate(context.Background())
			want := "apps/big/" + name + " is larger than the limit of 1 MiB (4294967296 bytes)"
			if err == nil || !strings.Contains(err.Error(), want) {
				t.Fatalf("err = %v, want it to say %q", err, want)
			}
		})
	}
}

// TestComposeAliasBombRefused: a compose file whose aliases expand to a
// billion values is refused by the compose loader's YAML (its alias
// ratio check), not expanded.
func TestComposeAliasBombRefused(t *testing.T) {
	var b strings.Builder
	b.WriteString("x-a:\n  l0: &l0 [a, a, a, a, a, a, a, a, a, a]\n")
	for i := 1; i < 9; i++ {
		fmt.Fprintf(&b, "  l%d: &l%d [%s]\n", i, i, strings.TrimSuffix(strings.Repeat(fmt.Sprintf("*l%d, ", i-1), 10), ", "))
	}
	b.WriteString("services:\n  app:\n    image: busybox\n    x-bomb: *l8\n")
	p := &Project{Source: Source{Name: "bomb", Files: []File{{Name: "apps/bomb/compose.yaml", Content: []byte(b.String())}}}, Environ: []string{}}
	err := p.Validate(context.Background())
	if err == nil || !strings.Contains(err.Error(), "excessive aliasing") {
		t.Fatalf("err = %v, want the alias bomb refused", err)
	}
}
