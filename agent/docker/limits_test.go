package docker

import (
	"context"
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
