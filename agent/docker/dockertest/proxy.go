package dockertest

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"net/http/httputil"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"

	"github.com/docker/docker/client"
)

var digestRe = regexp.MustCompile(`^(.+:[^/@]+)@sha256:[0-9a-f]{64}$`)

// DigestProxy serves the engine API on a unix socket of its own and
// returns the DOCKER_HOST that reaches it. It stands in for the registry
// tests cannot reach: an image pinned by tag and digest
// ("name:tag@sha256:...") cannot be made locally (a digest is the hash of
// a registry manifest), so the proxy hands the engine "name:tag" (tag the
// stand-in with it) and lists containers back with the pinned name.
// Everything else passes through unchanged.
func DigestProxy(t testing.TB) string {
	t.Helper()
	Client(t)
	dir, err := os.MkdirTemp("", "hl-dproxy")
	if err != nil {
		t.Fatal(err)
	}
	sock := filepath.Join(dir, "docker.sock")
	ln, err := net.Listen("unix", sock)
	if err != nil {
		t.Fatal(err)
	}
	upstream := strings.TrimPrefix(os.Getenv("DOCKER_HOST"), "unix://")
	if upstream == "" {
		upstream = strings.TrimPrefix(client.DefaultDockerHost, "unix://")
	}
	var mu sync.Mutex
	pinned := map[string]string{} // stripped -> pinned
	strip := func(ref string) string {
		m := digestRe.FindStringSubmatch(ref)
		if m == nil {
			return ref
		}
		mu.Lock()
		pinned[m[1]] = ref
		mu.Unlock()
		return m[1]
	}
	rp := &httputil.ReverseProxy{
		Transport: &http.Transport{DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
			var d net.Dialer
			return d.DialContext(ctx, "unix", upstream)
		}},
		Rewrite: func(r *httputil.ProxyRequest) {
			r.Out.URL.Scheme, r.Out.URL.Host = "http", "docker"
			p := r.Out.URL.Path
			if i := strings.Index(p, "/images/"); i >= 0 && strings.HasSuffix(p, "/json") {
				ref := strings.TrimSuffix(p[i+len("/images/"):], "/json")
				r.Out.URL.Path, r.Out.URL.RawPath = p[:i]+"/images/"+strip(ref)+"/json", ""
			}
			if strings.HasSuffix(p, "/containers/create") && r.Out.Body != nil {
				body, _ := io.ReadAll(r.Out.Body)
				var m map[string]any
				if json.Unmarshal(body, &m) == nil {
					if img, ok := m["Image"].(string); ok {
						m["Image"] = strip(img)
						body, _ = json.Marshal(m)
					}
				}
				r.Out.Body = io.NopCloser(bytes.NewReader(body))
				r.Out.ContentLength = int64(len(body))
				r.Out.Header.Set("Content-Length", strconv.Itoa(len(body)))
			}
		},
		ModifyResponse: func(resp *http.Response) error {
			if resp.Request.Method != http.MethodGet || !strings.HasSuffix(resp.Request.URL.Path, "/containers/json") {
				return nil
			}
			body, err := io.ReadAll(resp.Body)
			if err != nil {
				return err
			}
			var list []map[string]any
			if json.Unmarshal(body, &list) == nil {
				mu.Lock()
				for _, c := range list {
					if img, ok := c["Image"].(string); ok && pinned[img] != "" {
						c["Image"] = pinned[img]
					}
				}
				mu.Unlock()
				body, _ = json.Marshal(list)
			}
			resp.Body = io.NopCloser(bytes.NewReader(body))
			resp.ContentLength = int64(len(body))
			resp.Header.Set("Content-Length", strconv.Itoa(len(body)))
			return nil
		},
	}
	srv := &http.Server{Handler: rp}
	go srv.Serve(ln)
	t.Cleanup(func() {
		srv.Close()
		os.RemoveAll(dir)
	})
	return "unix://" + sock
}
