// Package backuptest holds helpers for tests that need a backup
// repository: an S3 server (gofakes3, in memory) on 127.0.0.1.
package backuptest

import (
	"net"
	"net/http"
	"testing"

	"github.com/johannesboyne/gofakes3"
	"github.com/johannesboyne/gofakes3/backend/s3mem"
)

// S3Server runs gofakes3 with its in-memory backend on 127.0.0.1 for the
// test's lifetime and returns its address; buckets are created on use.
func S3Server(t testing.TB) string {
	t.Helper()
	f := gofakes3.New(s3mem.New(), gofakes3.WithAutoBucket(true), gofakes3.WithTimeSkewLimit(0))
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: f.Server()}
	go srv.Serve(ln)
	t.Cleanup(func() { srv.Close() })
	return ln.Addr().String()
}
