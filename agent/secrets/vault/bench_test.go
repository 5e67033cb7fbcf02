package vault

import (
	"fmt"
	"os"
	"path/filepath"
	"testing"
)

// BenchmarkLoadHost is what every pass adds: read the local secrets and
// decrypt the host's file (20 secrets) with its identity.
func BenchmarkLoadHost(b *testing.B) {
	r := &Repo{Dir: b.TempDir(), Master: master(b)}
	v := Values{}
	for i := range 20 {
		n := fmt.Sprintf("SECRET_%02d", i)
		v[n] = Entry{Name: n, Value: Generate()}
	}
	if err := r.WriteAll(map[string]Values{"cloud": v}); err != nil {
		b.Fatal(err)
	}
	root := b.TempDir()
	id, _ := DeriveHost(r.Master, "cloud")
	p := filepath.Join(root, IdentityFile)
	os.MkdirAll(filepath.Dir(p), 0o700)
	os.WriteFile(p, IdentityText("cloud", id), 0o600)
	b.ReportAllocs()
	for b.Loop() {
		if _, err := LoadHost(root, r.Dir, "cloud", nil); err != nil {
			b.Fatal(err)
		}
	}
}
