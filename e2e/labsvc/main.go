//go:build e2e

// Command labsvc is the drill's lab servers, run in containers on the lab
// network: `labsvc git DIR ADDR` serves the bare repositories under DIR with
// git http-backend (smart HTTP, anonymous) and DIR/../files at /files/;
// `labsvc s3 ADDR` is an S3 server (gofakes3, in memory, buckets made on
// first use); `labsvc registry ADDR` is an OCI registry
// (go-containerregistry's, in memory) for the image update scenario.
package main

import (
	"fmt"
	"log"
	"net/http"
	"net/http/cgi"
	"os"
	"os/exec"
	"path/filepath"
	"strings"

	"github.com/google/go-containerregistry/pkg/registry"
	"github.com/johannesboyne/gofakes3"
	"github.com/johannesboyne/gofakes3/backend/s3mem"
)

func main() {
	if len(os.Args) < 3 {
		fmt.Fprintln(os.Stderr, "usage: labsvc git DIR ADDR | labsvc s3 ADDR | labsvc registry ADDR")
		os.Exit(2)
	}
	switch os.Args[1] {
	case "git":
		dir, addr := os.Args[2], os.Args[3]
		backend, err := exec.Command("git", "--exec-path").Output()
		if err != nil {
			log.Fatal(err)
		}
		h := &cgi.Handler{
			Path: filepath.Join(strings.TrimSpace(string(backend)), "git-http-backend"),
			Env:  []string{"GIT_PROJECT_ROOT=" + dir, "GIT_HTTP_EXPORT_ALL=1"},
		}
		mux := http.NewServeMux()
		mux.Handle("/files/", http.StripPrefix("/files/", http.FileServer(http.Dir(filepath.Join(dir, "..", "files")))))
		mux.Handle("/", h)
		log.Fatal(http.ListenAndServe(addr, logged(mux)))
	case "s3":
		f := gofakes3.New(s3mem.New(), gofakes3.WithAutoBucket(true), gofakes3.WithTimeSkewLimit(0))
		log.Fatal(http.ListenAndServe(os.Args[2], logged(f.Server())))
	case "registry":
		log.Fatal(http.ListenAndServe(os.Args[2], logged(registry.New(registry.Logger(log.New(os.Stderr, "registry: ", log.LstdFlags))))))
	default:
		log.Fatalf("unknown mode %q", os.Args[1])
	}
}

func logged(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		log.Printf("%s %s %s", r.RemoteAddr, r.Method, r.URL.RequestURI())
		h.ServeHTTP(w, r)
	})
}
