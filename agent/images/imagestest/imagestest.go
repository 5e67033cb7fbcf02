// Package imagestest runs a real image registry for tests: the
// go-containerregistry registry in process on 127.0.0.1, behind a handler
// that counts requests by kind, and helpers that build images in process
// and push them.
package imagestest

import (
	"io"
	"log"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"

	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/registry"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/remote"
)

// Registry is a registry on loopback.
type Registry struct {
	// Host is "127.0.0.1:PORT".
	Host string
	mu   sync.Mutex
	hits map[string]int
}

// Request kinds counted.
const (
	Ping         = "ping"          // GET /v2/
	ManifestHead = "manifest HEAD" // HEAD /v2/<repo>/manifests/<ref>
	ManifestGet  = "manifest GET"
	Blob         = "blob" // any /v2/<repo>/blobs/ request: layer or config transfer
	TagList      = "tags"
	Other        = "other"
)

// Start runs a registry until the test ends.
func Start(t testing.TB) *Registry {
	t.Helper()
	r := &Registry{hits: map[string]int{}}
	inner := registry.New(registry.Logger(log.New(io.Discard, "", 0)))
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		r.count(req)
		inner.ServeHTTP(w, req)
	}))
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv.Listener = l
	srv.Start()
	t.Cleanup(srv.Close)
	r.Host = l.Addr().String()
	return r
}

func kind(req *http.Request) string {
	p := req.URL.Path
	switch {
	case p == "/v2/" || p == "/v2":
		return Ping
	case strings.Contains(p, "/blobs/"):
		return Blob
	case strings.HasSuffix(p, "/tags/list"):
		return TagList
	case strings.Contains(p, "/manifests/") && req.Method == http.MethodHead:
		return ManifestHead
	case strings.Contains(p, "/manifests/"):
		return ManifestGet
	}
	return Other
}

func (r *Registry) count(req *http.Request) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.hits[kind(req)]++
}

// Hits returns the request counts since the last Reset.
func (r *Registry) Hits() map[string]int {
	r.mu.Lock()
	defer r.mu.Unlock()
	out := map[string]int{}
	for k, v := range r.hits {
		out[k] = v
	}
	return out
}

// Reset zeroes the counts.
func (r *Registry) Reset() {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.hits = map[string]int{}
}

// Ref is "127.0.0.1:PORT/<repoTag>".
func (r *Registry) Ref(repoTag string) string { return r.Host + "/" + repoTag }

// Push pushes img as repoTag ("app:1.0.0") and returns its digest.
func (r *Registry) Push(t testing.TB, repoTag string, img v1.Image) string {
	t.Helper()
	ref, err := name.ParseReference(r.Ref(repoTag))
	if err != nil {
		t.Fatal(err)
	}
	if err := remote.Write(ref, img); err != nil {
		t.Fatalf("pushing %s: %v", ref, err)
	}
	d, err := img.Digest()
	if err != nil {
		t.Fatal(err)
	}
	return d.String()
}

// Image is a small image built in process: no layers, a config whose
// environment holds env (so two calls with different env differ).
func Image(t testing.TB, env ...string) v1.Image {
	t.Helper()
	img, err := mutate.Config(empty.Image, v1.Config{Env: env})
	if err != nil {
		t.Fatal(err)
	}
	return img
}

// Pull reads an image from the registry (to derive another one).
func (r *Registry) Pull(t testing.TB, repoTag string) v1.Image {
	t.Helper()
	ref, err := name.ParseReference(r.Ref(repoTag))
	if err != nil {
		t.Fatal(err)
	}
	img, err := remote.Image(ref)
	if err != nil {
		t.Fatalf("reading %s: %v", ref, err)
	}
	return img
}

// Derive pushes img with env added to its configuration as repoTag and
// returns the new image's digest (a new release of the same program).
func (r *Registry) Derive(t testing.TB, img v1.Image, repoTag string, env ...string) string {
	t.Helper()
	cf, err := img.ConfigFile()
	if err != nil {
		t.Fatal(err)
	}
	cfg := cf.Config
	cfg.Env = append(append([]string(nil), cfg.Env...), env...)
	img2, err := mutate.Config(img, cfg)
	if err != nil {
		t.Fatal(err)
	}
	return r.Push(t, repoTag, img2)
}
