package docker

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/homelab-agent/homelab-agent/agent/resource"
	"github.com/homelab-agent/homelab-agent/internal/debimage"
	"github.com/homelab-agent/homelab-agent/internal/testreq"
)

// engineImage is Debian 13 with its own Docker Engine package, the one
// the agent installs on a guest (its dockerd is never started here).
var engineImage = debimage.Recipe{Name: "homelab-agent-test/dockerd", Suite: "trixie", Packages: []string{"docker.io"}}

// The daemon.json the agent renders is one Debian 13's Engine accepts
// (dockerd --validate), and one it refuses is kept out. The resource's
// commands run in a container of that image, the file's folder mounted at
// the same path.
func TestDaemonConfigAcceptedByDebiansEngine(t *testing.T) {
	testreq.Tool(t, "docker")
	img := debimage.Build(t, engineImage)
	root := t.TempDir()
	name := debimage.Start(t, img, "hla-dockerd-test", nil, "-v", root+":"+root)
	run := func(ctx context.Context, argv ...string) ([]byte, error) {
		return exec.CommandContext(ctx, "docker", append([]string{"exec", name}, argv...)...).CombinedOutput()
	}
	if out, err := run(context.Background(), "dockerd", "--version"); err != nil || !strings.Contains(string(out), "Docker version 26.") {
		t.Fatalf("dockerd --version: %v %s", err, out)
	}
	env := &resource.Env{Root: root}
	good := &Daemon{Pools: []Pool{{"172.16.0.0/12", 24}}, Run: run}
	if _, err := good.CheckApply(context.Background(), env, true); err != nil {
		t.Fatalf("the Engine refuses the agent's daemon.json: %v", err)
	}
	path := filepath.Join(root, DaemonFile)
	if b, _ := os.ReadFile(path); string(b) != string(good.Content()) {
		t.Fatalf("daemon.json = %s", b)
	}
	out, err := run(context.Background(), "dockerd", "--validate", "--config-file", path)
	if err != nil || !strings.Contains(string(out), "configuration OK") {
		t.Fatalf("dockerd --validate: %v %s", err, out)
	}
	// dockerd --validate checks keys and types, not pool sizes (the
	// lab's checks do those): an unknown key is refused.
	err = good.write(context.Background(), env, []byte(`{"live-restore": true, "bogus-key": 1}`))
	if err == nil || !strings.Contains(err.Error(), "the Docker Engine refuses the new /etc/docker/daemon.json (kept the old one): unable to configure the Docker daemon") {
		t.Fatalf("a file the Engine refuses: err %v", err)
	}
	t.Logf("refused: %v", err)
	if b, _ := os.ReadFile(path); string(b) != string(good.Content()) {
		t.Errorf("the refused file replaced the good one: %s", b)
	}
}
