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

// Busybox is where the stand-in image's shell comes from: Debian's
// busybox-static package on the test machine (make test-deps installs it).
const Busybox = "/bin/busybox"

// Standin returns the tag of the stand-in image (agent/docker/testdata/
// standin and a static busybox, FROM scratch), building it unless an image
// with the same content hash exists. busybox is /bin/sh and the usual
// commands, so CMD-SHELL health checks and `sh -c` run for real; the
// stand-in is also php (occ) and /cron.sh.
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
	busybox, err := os.ReadFile(Busybox)
	if err != nil {
		testreq.Missing(t, "a static busybox is needed for the stand-in image (make test-deps installs busybox-static): %v", err)
	}
	dockerfile := "FROM scratch\nCOPY busybox /bin/busybox\nRUN [\"/bin/busybox\", \"--install\", \"-s\", \"/bin\"]\n" +
		"COPY standin /standin\nCOPY standin /usr/local/bin/php\nCOPY standin /cron.sh\n" +
		"ENV PATH=/usr/local/bin:/usr/bin:/bin\nENTRYPOINT [\"/standin\"]\nCMD [\"serve\"]\n"
	bsum := sha256.Sum256(busybox)
	sum := sha256.Sum256([]byte(string(code) + dockerfile + runtime.Version() + hex.EncodeToString(bsum[:])))
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
	buildContext(t, cli, tag, dockerfile, map[string][]byte{"standin": exe, "busybox": busybox})
	built[tag] = true
	return tag
}

// buildContext builds dockerfile with files as the build context.
func buildContext(t testing.TB, cli *client.Client, tag, dockerfile string, files map[string][]byte) {
	t.Helper()
	var ctxTar bytes.Buffer
	tw := tar.NewWriter(&ctxTar)
	tw.WriteHeader(&tar.Header{Name: "Dockerfile", Mode: 0o644, Size: int64(len(dockerfile))})
	tw.Write([]byte(dockerfile))
	for name, data := range files {
		tw.WriteHeader(&tar.Header{Name: name, Mode: 0o755, Size: int64(len(data))})
		tw.Write(data)
	}
	tw.Close()
	resp, err := cli.ImageBuild(context.Background(), &ctxTar, build.ImageBuildOptions{Tags: []string{tag}, Remove: true, ForceRemove: true})
	if err != nil {
		t.Fatalf("building image %s: %v", tag, err)
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
			t.Fatalf("building image %s: %v", tag, err)
		}
		if m.Error != "" {
			t.Fatalf("building image %s: %s", tag, m.Error)
		}
	}
}

// Tag tags, for each name (the names a compose file uses), the image
// that stands for it (see ImageFor): Debian's PostgreSQL or Redis, or the
// stand-in. A name that exists as another image is left alone and the
// test is skipped (failed under CI): a test must never clobber a real
// image.
func Tag(t testing.TB, names ...string) {
	t.Helper()
	cli := Client(t)
	ctx := context.Background()
	for _, n := range names {
		src := ImageFor(t, n)
		want, err := cli.ImageInspect(ctx, src)
		if err != nil {
			t.Fatal(err)
		}
		if img, err := cli.ImageInspect(ctx, n); err == nil {
			if img.ID == want.ID {
				continue
			}
			if !strings.HasPrefix(n, "homelab-test-") && !isOurs(img.RepoTags) {
				testreq.Missing(t, "image %s exists and is not a test image; not overwriting it", n)
			}
		}
		if err := cli.ImageTag(ctx, src, n); err != nil {
			t.Fatalf("tagging %s: %v", n, err)
		}
		t.Cleanup(func() { cli.ImageRemove(context.Background(), n, image.RemoveOptions{}) })
	}
}

// isOurs reports whether an image carries one of this package's image
// names (an older stand-in or database image left tagged by a killed run).
func isOurs(tags []string) bool {
	for _, tag := range tags {
		if strings.HasPrefix(tag, "homelab-agent-") {
			return true
		}
	}
	return false
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
