package backup

import (
	"archive/tar"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/docker/docker/api/types/build"
	"github.com/docker/docker/api/types/container"
	"github.com/docker/docker/api/types/image"

	"github.com/homelab-agent/homelab-agent/internal/testreq"
)

var (
	imageOnce sync.Once
	imageTag  string
	imageErr  error
	imageCtl  *DockerControl
)

func TestMain(m *testing.M) {
	code := m.Run()
	if imageTag != "" && imageCtl != nil {
		imageCtl.Client.ImageRemove(context.Background(), imageTag, image.RemoveOptions{Force: true, PruneChildren: true})
	}
	os.Exit(code)
}

// dockerControl connects to the Docker Engine and builds the test image
// (FROM scratch + testapp) once per test process.
func dockerControl(t *testing.T) (*DockerControl, string) {
	t.Helper()
	ctl, err := NewDockerControl()
	if err == nil {
		_, err = ctl.Client.Ping(context.Background())
	}
	if err != nil {
		testreq.Missing(t, "the Docker Engine is not reachable: %v", err)
	}
	ctl.StopTimeout = 5 * time.Second
	ctl.Poll = 100 * time.Millisecond
	imageOnce.Do(func() {
		imageCtl = ctl
		imageTag, imageErr = buildImage(ctl)
	})
	if imageErr != nil {
		t.Fatal(imageErr)
	}
	return ctl, imageTag
}

func buildImage(ctl *DockerControl) (string, error) {
	dir, err := os.MkdirTemp("", "testapp")
	if err != nil {
		return "", err
	}
	defer os.RemoveAll(dir)
	cmd := exec.Command("go", "build", "-o", filepath.Join(dir, "app"), "./testdata/testapp")
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
	if out, err := cmd.CombinedOutput(); err != nil {
		return "", fmt.Errorf("building testapp: %v\n%s", err, out)
	}
	app, err := os.ReadFile(filepath.Join(dir, "app"))
	if err != nil {
		return "", err
	}
	dockerfile := "FROM scratch\nCOPY app /app\n" +
		"HEALTHCHECK --interval=1s --timeout=2s --retries=1 CMD [\"/app\", \"health\"]\n" +
		"ENTRYPOINT [\"/app\"]\nCMD [\"serve\"]\n"
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	for _, f := range []struct {
		name string
		data []byte
		mode int64
	}{{"Dockerfile", []byte(dockerfile), 0o644}, {"app", app, 0o755}} {
		tw.WriteHeader(&tar.Header{Name: f.name, Mode: f.mode, Size: int64(len(f.data))})
		tw.Write(f.data)
	}
	tw.Close()
	tag := fmt.Sprintf("homelab-backup-test:%d", os.Getpid())
	resp, err := ctl.Client.ImageBuild(context.Background(), &buf, build.ImageBuildOptions{Tags: []string{tag}, Remove: true, ForceRemove: true})
	if err != nil {
		return "", fmt.Errorf("building the test image: %w", err)
	}
	msg, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if bytes.Contains(msg, []byte(`"error"`)) {
		return "", fmt.Errorf("building the test image: %s", msg)
	}
	return tag, nil
}

// testContainer creates (not starts) a container of service svc with the
// service's data folder mounted at /data.
func testContainer(t *testing.T, ctl *DockerControl, img, root, svc, component string) string {
	t.Helper()
	dir := filepath.Join(root, DataDir(svc))
	os.MkdirAll(dir, 0o755)
	name := fmt.Sprintf("%s-%d-%s", strings.ReplaceAll(t.Name(), "/", "_"), os.Getpid(), component)
	c, err := ctl.Client.ContainerCreate(context.Background(),
		&container.Config{Image: img, Labels: map[string]string{LabelService: svc, LabelComponent: component}},
		&container.HostConfig{Binds: []string{dir + ":/data"}, NetworkMode: "none"}, nil, nil, name)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctl.Client.ContainerRemove(context.Background(), c.ID, container.RemoveOptions{Force: true})
	})
	return c.ID
}

func running(t *testing.T, ctl *DockerControl, id string) bool {
	in, err := ctl.Client.ContainerInspect(context.Background(), id)
	if err != nil {
		t.Fatal(err)
	}
	return in.State.Running
}

func logsOf(t *testing.T, ctl *DockerControl, id string) string {
	rc, err := ctl.Client.ContainerLogs(context.Background(), id, container.LogsOptions{ShowStdout: true})
	if err != nil {
		t.Fatal(err)
	}
	defer rc.Close()
	b, _ := io.ReadAll(rc)
	return string(b)
}

func uniqueService() string { return fmt.Sprintf("bk%d", os.Getpid()) }

// TestQuiesceUndoRunsWhenBackupFails: the service is stopped for the
// backup, the dump fails, and the service is started again anyway.
func TestQuiesceUndoRunsWhenBackupFails(t *testing.T) {
	ctl, img := dockerControl(t)
	r := testRunner(t, s3Server(t))
	ctx := ctxT(t)
	svc := uniqueService()
	writeTree(t, r.Config.Root, svc)
	id := testContainer(t, ctl, img, r.Config.Root, svc, "main")
	if err := ctl.Start(ctx, svc); err != nil {
		t.Fatal(err)
	}
	stoppedDuring := false
	j := job(svc)
	j.Quiesce = &Quiesce{
		Before: func(ctx context.Context) error {
			err := ctl.Stop(ctx, svc)
			stoppedDuring = !running(t, ctl, id)
			return err
		},
		After: func(ctx context.Context) error { return ctl.Start(ctx, svc) },
	}
	j.Dumps = []Dump{{Name: "db", Command: []string{"sh", "-c", "echo partial; exit 3"}}}
	res := r.BackupJob(ctx, j)
	if res.Err == nil {
		t.Fatal("backup with a failing dump succeeded")
	}
	t.Log(res.Err)
	if !stoppedDuring {
		t.Error("the service was not stopped during the backup")
	}
	if !running(t, ctl, id) {
		t.Error("quiesce undo did not run: the container is stopped")
	}
	// Before failing also runs After.
	afterRan := false
	j.Quiesce = &Quiesce{
		Before: func(context.Context) error { return fmt.Errorf("maintenance mode refused") },
		After:  func(context.Context) error { afterRan = true; return nil },
	}
	if res := r.BackupJob(ctx, j); res.Err == nil || !strings.Contains(res.Err.Error(), "maintenance mode refused") || !afterRan {
		t.Errorf("failing Before: err = %v, After ran = %v", res.Err, afterRan)
	}
}

// TestSelfRestoreBeforeFirstStart: a replaced VM comes up with an empty
// data folder; the latest snapshot is restored before the container
// first starts, and the container sees the data.
func TestSelfRestoreBeforeFirstStart(t *testing.T) {
	ctl, img := dockerControl(t)
	r := testRunner(t, s3Server(t))
	ctx := ctxT(t)
	svc := uniqueService()
	dir := writeTree(t, r.Config.Root, svc)
	os.WriteFile(filepath.Join(dir, "marker"), []byte("from-the-backup"), 0o644)
	want := treeHash(t, dir)
	if res := r.BackupJob(ctx, job(svc)); res.Err != nil {
		t.Fatal(res.Err)
	}
	// The new VM: a fresh, empty data disk and a container not yet started.
	os.RemoveAll(dir)
	os.MkdirAll(dir, 0o755)
	id := testContainer(t, ctl, img, r.Config.Root, svc, "main")
	r.Control = ctl

	off := &Runner{Config: r.Config, Secrets: r.Secrets}
	off.Config.AutoRestore = false
	if ok, _, err := off.SelfRestore(ctx, job(svc)); ok || err != nil {
		t.Fatalf("auto_restore false: restored=%v err=%v", ok, err)
	}
	ok, res, err := r.SelfRestore(ctx, job(svc))
	if err != nil || !ok {
		t.Fatalf("self-restore: restored=%v err=%v", ok, err)
	}
	if in, _ := ctl.Client.ContainerInspect(ctx, id); in.State.StartedAt != "0001-01-01T00:00:00Z" {
		t.Errorf("the container was started during self-restore (StartedAt %s)", in.State.StartedAt)
	}
	if got := treeHash(t, dir); got != want {
		t.Errorf("self-restored tree differs:\n%s\nwant\n%s", got, want)
	}
	if !res.Plan.DataEmpty {
		t.Error("plan did not see the empty folder")
	}
	if err := ctl.Start(ctx, svc); err != nil {
		t.Fatal(err)
	}
	hctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	if err := ctl.WaitHealthy(hctx, svc); err != nil {
		t.Fatal(err)
	}
	if logs := logsOf(t, ctl, id); !strings.Contains(logs, "marker=from-the-backup") {
		t.Errorf("the container's first start did not see the restored data: %q", logs)
	}
	// A second call finds data and does nothing.
	if ok, _, err := r.SelfRestore(ctx, job(svc)); ok || err != nil {
		t.Errorf("second self-restore: restored=%v err=%v", ok, err)
	}
}

// TestRestoreStopsLoadsDumpAndStarts: a restore with the Docker Engine
// stops the service, swaps the data, loads the dump into the database
// container and waits until the service is healthy.
func TestRestoreStopsLoadsDumpAndStarts(t *testing.T) {
	ctl, img := dockerControl(t)
	r := testRunner(t, s3Server(t))
	r.Control = ctl
	ctx := ctxT(t)
	svc := uniqueService()
	dir := writeTree(t, r.Config.Root, svc)
	os.WriteFile(filepath.Join(dir, "marker"), []byte("v1"), 0o644)
	id := testContainer(t, ctl, img, r.Config.Root, svc, "database")
	if err := ctl.Start(ctx, svc); err != nil {
		t.Fatal(err)
	}
	j := job(svc)
	j.Dumps = []Dump{{Name: "db", Command: []string{"printf", "CREATE TABLE t;\n"}, Container: "database", Restore: []string{"/app", "load"}}}
	if res := r.BackupJob(ctx, j); res.Err != nil {
		t.Fatal(res.Err)
	}
	os.WriteFile(filepath.Join(dir, "marker"), []byte("v2"), 0o644)
	var sawRunning bool
	res, err := r.Restore(ctx, RestoreOptions{Job: j, HealthTimeout: 30 * time.Second, Confirm: func(p *RestorePlan) bool {
		sawRunning = running(t, ctl, id)
		return len(p.Dumps) == 1
	}})
	if err != nil {
		t.Fatal(err)
	}
	if !sawRunning || !running(t, ctl, id) {
		t.Errorf("running before = %v, after = %v", sawRunning, running(t, ctl, id))
	}
	if len(res.Warnings) > 0 {
		t.Errorf("warnings: %q", res.Warnings)
	}
	if b, _ := os.ReadFile(filepath.Join(dir, "marker")); string(b) != "v1" {
		t.Errorf("marker = %q, want v1", b)
	}
	if b, _ := os.ReadFile(filepath.Join(dir, "loaded.sql")); string(b) != "CREATE TABLE t;\n" {
		t.Errorf("loaded dump = %q", b)
	}
	if b, _ := os.ReadFile(filepath.Join(res.Plan.PreRestore, "marker")); string(b) != "v2" {
		t.Errorf("pre-restore copy marker = %q, want v2", b)
	}
}

// TestSelfRestoreNothingToRestore: a new service (no snapshot) or a new
// lab (no repository yet, backup.init) restores nothing and fails nothing;
// without backup.init a missing repository is an error.
func TestSelfRestoreNothingToRestore(t *testing.T) {
	addr := s3Server(t)
	r := testRunner(t, addr)
	ctx := ctxT(t)
	if ok, _, err := r.SelfRestore(ctx, job("jellyfin")); ok || err != nil {
		t.Errorf("no repository, init: restored=%v err=%v", ok, err)
	}
	writeTree(t, r.Config.Root, "nextcloud")
	if res := r.BackupJob(ctx, job("nextcloud")); res.Err != nil {
		t.Fatal(res.Err)
	}
	if ok, _, err := r.SelfRestore(ctx, job("jellyfin")); ok || err != nil {
		t.Errorf("no snapshot of the service: restored=%v err=%v", ok, err)
	}
	noInit := testRunner(t, addr)
	noInit.Config.Repository = "s3:http://" + addr + "/missing"
	noInit.Config.Init = false
	if ok, _, err := noInit.SelfRestore(ctx, job("jellyfin")); ok || !errors.Is(err, ErrKind(KindNoRepository)) {
		t.Errorf("no repository, no init: restored=%v err=%v", ok, err)
	}
}
