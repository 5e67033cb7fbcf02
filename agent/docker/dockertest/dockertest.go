// Package dockertest gives container tests what they need from the real
// Docker Engine: a stand-in image built locally (no registry is reachable
// in tests), tags with the names real compose files use, a client whose
// calls are counted, and cleanup of everything a test creates.
package dockertest

import (
	"archive/tar"
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"syscall"
	"testing"

	"github.com/docker/docker/api/types/build"
	"github.com/docker/docker/api/types/container"
	"github.com/docker/docker/api/types/filters"
	"github.com/docker/docker/api/types/image"
	"github.com/docker/docker/client"

	"github.com/homelab-agent/homelab-agent/internal/testreq"
)

// Client returns a client for the machine's engine, or skips (fails under
// CI=true) when there is none.
func Client(t testing.TB) *client.Client {
	t.Helper()
	c, err := client.NewClientWithOpts(client.FromEnv, client.WithAPIVersionNegotiation())
	if err != nil {
		testreq.Missing(t, "Docker client: %v", err)
	}
	if _, err := c.Ping(context.Background()); err != nil {
		testreq.Missing(t, "the Docker Engine is not reachable: %v", err)
	}
	return c
}

// Counter counts the engine API calls of a client, by "METHOD /path".
type Counter struct {
	mu    sync.Mutex
	calls []string
	next  http.RoundTripper
}

// RoundTrip implements http.RoundTripper.
func (c *Counter) RoundTrip(r *http.Request) (*http.Response, error) {
	path := r.URL.Path
	if i := strings.Index(path[1:], "/"); strings.HasPrefix(path, "/v1.") && i > 0 {
		path = path[i+1:] // drop the API version prefix
	}
	c.mu.Lock()
	c.calls = append(c.calls, r.Method+" "+path)
	c.mu.Unlock()
	return c.next.RoundTrip(r)
}

// Calls returns the calls so far and forgets them.
func (c *Counter) Calls() []string {
	c.mu.Lock()
	defer c.mu.Unlock()
	out := c.calls
	c.calls = nil
	return out
}

// Writes returns the calls that are not reads (anything but GET and HEAD).
func Writes(calls []string) []string {
	var out []string
	for _, c := range calls {
		if !strings.HasPrefix(c, "GET ") && !strings.HasPrefix(c, "HEAD ") {
			out = append(out, c)
		}
	}
	return out
}

// CountingClient returns a client on the default socket whose calls are
// counted. It negotiates the API version at once, so that the count holds
// only the caller's calls.
func CountingClient(t testing.TB) (*client.Client, *Counter) {
	t.Helper()
	Client(t)
	host := os.Getenv("DOCKER_HOST")
	if host == "" {
		host = client.DefaultDockerHost
	}
	sock := strings.TrimPrefix(host, "unix://")
	tr := &http.Transport{DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
		var d net.Dialer
		return d.DialContext(ctx, "unix", sock)
	}}
	cnt := &Counter{next: tr}
	c, err := client.NewClientWithOpts(client.WithHost(host), client.WithHTTPClient(&http.Client{Transport: cnt}),
		client.WithAPIVersionNegotiation())
	if err != nil {
		t.Fatal(err)
	}
	c.NegotiateAPIVersion(context.Background())
	cnt.Calls()
	return c, cnt
}

var (
	buildMu sync.Mutex
	built   = map[string]bool{}
)

// Standin returns the tag of the stand-in image (agent/docker/testdata/
// standin built FROM scratch), building it unless an image with the same
// content hash exists.
func Standin(t testing.TB) string {
	t.Helper()
	cli := Client(t)
	buildMu.Lock()
	defer buildMu.Unlock()
	_, file, _, _ := runtime.Caller(0)
	src := filepath.Join(filepath.Dir(file), "..", "testdata", "standin")
	code, err := os.ReadFile(filepath.Join(src, "main.go"))
	if err != nil {
		t.Fatal(err)
	}
	dockerfile := "FROM scratch\nCOPY standin /standin\nCOPY standin /usr/local/bin/php\nCOPY standin /usr/bin/pg_dumpall\nCOPY standin /bin/sh\nCOPY standin /cron.sh\n" +
		"ENV PATH=/usr/local/bin:/usr/bin:/bin\nENTRYPOINT [\"/standin\"]\nCMD [\"serve\"]\n"
	sum := sha256.Sum256([]byte(string(code) + dockerfile + runtime.Version()))
	tag := "homelab-agent-standin:" + hex.EncodeToString(sum[:6])
	if built[tag] {
		return tag
	}
	ctx := context.Background()
	// Test binaries of several packages run at once: one builds, the
	// others wait for it and find the image.
	if lock, err := os.OpenFile(filepath.Join(os.TempDir(), "homelab-agent-standin.lock"), os.O_CREATE|os.O_RDWR, 0o600); err == nil {
		syscall.Flock(int(lock.Fd()), syscall.LOCK_EX)
		defer lock.Close()
	}
	if _, err := cli.ImageInspect(ctx, tag); err == nil {
		built[tag] = true
		return tag
	}
	bin := filepath.Join(t.TempDir(), "standin")
	cmd := exec.Command("go", "build", "-trimpath", "-ldflags=-s -w", "-o", bin, ".")
	cmd.Dir = src
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0", "GOOS=linux")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("building the stand-in: %v\n%s", err, out)
	}
	exe, err := os.ReadFile(bin)
	if err != nil {
		t.Fatal(err)
	}
	var ctxTar bytes.Buffer
	tw := tar.NewWriter(&ctxTar)
	for name, data := range map[string][]byte{"Dockerfile": []byte(dockerfile), "standin": exe} {
		tw.WriteHeader(&tar.Header{Name: name, Mode: 0o755, Size: int64(len(data))})
		tw.Write(data)
	}
	tw.Close()
	resp, err := cli.ImageBuild(ctx, &ctxTar, build.ImageBuildOptions{Tags: []string{tag}, Remove: true, ForceRemove: true})
	if err != nil {
		t.Fatalf("building the stand-in image: %v", err)
	}
	defer resp.Body.Close()
	dec := json.NewDecoder(resp.Body)
	for {
		var m struct {
			Error string `json:"error"`
		}
		if err := dec.Decode(&m); err == io.EOF {
			break
		} else if err != nil {
			t.Fatalf("building the stand-in image: %v", err)
		}
		if m.Error != "" {
			t.Fatalf("building the stand-in image: %s", m.Error)
		}
	}
	built[tag] = true
	return tag
}

// Tag tags the stand-in image as each name (the names a compose file
// uses). A name that exists as another image is left alone and the test
// is skipped (failed under CI): a test must never clobber a real image.
func Tag(t testing.TB, names ...string) {
	t.Helper()
	cli := Client(t)
	standin := Standin(t)
	ctx := context.Background()
	want, _ := cli.ImageInspect(ctx, standin)
	for _, n := range names {
		if img, err := cli.ImageInspect(ctx, n); err == nil {
			if img.ID != want.ID && !strings.HasPrefix(n, "homelab-test-") {
				testreq.Missing(t, "image %s exists and is not the stand-in; not overwriting it", n)
			}
			if img.ID == want.ID {
				continue
			}
		}
		if err := cli.ImageTag(ctx, standin, n); err != nil {
			t.Fatalf("tagging %s: %v", n, err)
		}
		t.Cleanup(func() { cli.ImageRemove(context.Background(), n, image.RemoveOptions{}) })
	}
}

// Name returns a name unique to the test and process, usable as a
// project and container name.
func Name(t testing.TB) string {
	n := strings.ToLower(t.Name())
	n = strings.NewReplacer("/", "-", "_", "-").Replace(n)
	if len(n) > 30 {
		n = n[:30]
	}
	return fmt.Sprintf("hlt-%s-%d", strings.Trim(n, "-"), os.Getpid())
}

// CleanupProject removes, at the end of the test, every container,
// network and volume labelled with the project (the agent's label key is
// passed in to keep this package free of the agent).
func CleanupProject(t testing.TB, labelKey, project string) {
	t.Helper()
	cli := Client(t)
	t.Cleanup(func() { RemoveProject(cli, labelKey, project) })
}

// RemoveProject removes the project's containers, networks and volumes.
func RemoveProject(cli *client.Client, labelKey, project string) {
	ctx := context.Background()
	f := filters.NewArgs(filters.Arg("label", labelKey+"="+project))
	cs, _ := cli.ContainerList(ctx, container.ListOptions{All: true, Filters: f})
	for _, c := range cs {
		cli.ContainerRemove(ctx, c.ID, container.RemoveOptions{Force: true, RemoveVolumes: true})
	}
	ns, _ := cli.NetworkList(ctx, networkListOptions(f))
	for _, n := range ns {
		cli.NetworkRemove(ctx, n.ID)
	}
	vs, _ := cli.VolumeList(ctx, volumeListOptions(f))
	for _, v := range vs.Volumes {
		cli.VolumeRemove(ctx, v.Name, true)
	}
}
