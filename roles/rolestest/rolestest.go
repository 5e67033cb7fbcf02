// Package rolestest runs a role's containers for real in tests: it writes
// a small lab repo, applies one host's containers into a temporary root
// on the machine's Docker Engine (stand-in images, see agent/docker/
// dockertest) and removes every container it made.
package rolestest

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/homelab-agent/homelab-agent/agent"
	"github.com/homelab-agent/homelab-agent/agent/backup"
	"github.com/homelab-agent/homelab-agent/agent/docker"
	"github.com/homelab-agent/homelab-agent/agent/docker/dockertest"
	"github.com/homelab-agent/homelab-agent/agent/lab"
	"github.com/homelab-agent/homelab-agent/agent/secrets"
	_ "github.com/homelab-agent/homelab-agent/roles/all"
)

// Header is the lab-wide part of a test homelab.yaml; hosts follow.
const Header = `domain: home.example
network: {cidr: 192.168.100.0/24, gateway: 192.168.100.1}
dns: {upstream: mullvad-base}
proxy: {acme_email: admin@home.example, dns_provider: cloudflare}
hosts:
  proxy: {ip: 192.168.100.3, role: traefik}
`

// Secrets are stand-in values for every secret the roles use.
var Secrets = map[string]string{
	"CF_DNS_API_TOKEN":         "test-cf-token-000",
	"NEXTCLOUD_ADMIN_PASSWORD": "test-admin-pw-111",
	"NEXTCLOUD_DB_PASSWORD":    "test-db-pw-222",
	"IMMICH_DB_PASSWORD":       "test-immich-pw-333",
	"TAILSCALE_AUTHKEY":        "tskey-test-444",
	// The backup repository's (BackupKey).
	"RESTIC_PASSWORD":       "test-restic-pw-555",
	"AWS_ACCESS_KEY_ID":     "AKIATEST",
	"AWS_SECRET_ACCESS_KEY": "test-s3-secret-666",
}

// LabWithProxy is Lab with the proxy host written as proxy (e.g. with
// host keys of its own).
func LabWithProxy(t testing.TB, proxy string) *lab.Lab {
	t.Helper()
	l, err := TryLabWithProxy(t, proxy)
	if err != nil {
		t.Fatalf("loading lab: %v", err)
	}
	return l
}

// TryLabWithProxy is LabWithProxy returning the load error.
func TryLabWithProxy(t testing.TB, proxy string) (*lab.Lab, error) {
	t.Helper()
	dir := t.TempDir()
	y := strings.Replace(Header, "  proxy: {ip: 192.168.100.3, role: traefik}", "  proxy: "+proxy, 1)
	if err := os.WriteFile(filepath.Join(dir, "homelab.yaml"), []byte(y), 0o644); err != nil {
		t.Fatal(err)
	}
	return agent.LoadLab(dir)
}

// Lab writes homelab.yaml (Header + hosts) and files into a new repo and loads it.
func Lab(t testing.TB, hosts string, files map[string]string) *lab.Lab {
	t.Helper()
	dir := t.TempDir()
	files = mapsWith(files, "homelab.yaml", Header+hosts)
	for name, content := range files {
		p := filepath.Join(dir, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	l, err := agent.LoadLab(dir)
	if err != nil {
		t.Fatalf("loading lab: %v", err)
	}
	return l
}

func mapsWith(m map[string]string, k, v string) map[string]string {
	out := map[string]string{k: v}
	for a, b := range m {
		out[a] = b
	}
	return out
}

// Pass runs plan (apply false) or apply of the host's containers into root.
func Pass(t testing.TB, l *lab.Lab, host, root string, apply bool) *agent.Report {
	t.Helper()
	dockertest.Client(t) // skip (fail under CI) without an engine
	opts := agent.Options{Root: root, Only: []string{docker.Subsystem}, Secrets: secrets.FromMap(Secrets)}
	run := agent.Plan
	if apply {
		run = agent.Apply
		removeBeforeRoot(t, l, host)
	}
	rep, err := run(context.Background(), l, host, opts)
	if err != nil {
		t.Fatalf("pass on %s: %v\n%s", host, err, text(rep))
	}
	return rep
}

// Text renders a report for failure messages.
func Text(rep *agent.Report) string { return text(rep) }

func text(rep *agent.Report) string {
	if rep == nil {
		return ""
	}
	var b strings.Builder
	rep.WriteText(&b, true)
	return b.String()
}

// Standins tags each name with its test image (dockertest.Tag: Debian's
// PostgreSQL and Redis for the database names, the stand-in otherwise) and removes each project's
// containers, networks and volumes when the test ends.
func Standins(t testing.TB, projects []string, images ...string) {
	t.Helper()
	dockertest.Tag(t, images...)
	for _, p := range projects {
		dockertest.CleanupProject(t, docker.LabelProject, p)
	}
}

// ComposeFiles returns the compose file contents of a container resource.
func ComposeFiles(r any) []string {
	p, ok := r.(*docker.Project)
	if !ok {
		return nil
	}
	var out []string
	for _, f := range p.Files {
		out = append(out, string(f.Content))
	}
	return out
}

// Vars returns the interpolation variables of a container resource.
func Vars(r any) map[string]string {
	if p, ok := r.(*docker.Project); ok {
		return p.Vars
	}
	return nil
}

// Quiesced runs fn while the host's stateful service is quiesced, the way
// a backup does (backup.Quiesce.Around: the resume step always runs). It
// fails the test unless the host's role declares exactly one stateful
// service with a quiesce step.
func Quiesced(ctx context.Context, t testing.TB, l *lab.Lab, host string, env backup.Env, fn func(context.Context) error) error {
	t.Helper()
	hb, err := agent.HostBackups(l, host, "/")
	if err != nil {
		t.Fatal(err)
	}
	if len(hb.Services) != 1 || hb.Services[0].Quiesce == nil {
		t.Fatalf("host %s declares %+v, want one service with a quiesce step", host, hb.Services)
	}
	if env.Lab == nil {
		env.Lab, env.Host = l, l.Hosts.Get(host)
	}
	return backup.QuiesceOf(hb.Services[0].Quiesce, env).Around(ctx, fn)
}

// Service returns the one stateful service the host's role declares.
func Service(t testing.TB, l *lab.Lab, host string) backup.Service {
	t.Helper()
	hb, err := agent.HostBackups(l, host, "/")
	if err != nil {
		t.Fatal(err)
	}
	if len(hb.Services) != 1 {
		t.Fatalf("host %s declares %d stateful services, want 1", host, len(hb.Services))
	}
	return hb.Services[0]
}

// PassSecrets is Pass with the given secrets, returning the pass's error
// (a failed rotation, for instance) instead of failing the test.
func PassSecrets(t testing.TB, l *lab.Lab, host, root string, apply bool, values map[string]string) (*agent.Report, error) {
	t.Helper()
	dockertest.Client(t)
	opts := agent.Options{Root: root, Only: []string{docker.Subsystem}, Secrets: secrets.FromMap(values)}
	if apply {
		removeBeforeRoot(t, l, host)
		return agent.Apply(context.Background(), l, host, opts)
	}
	return agent.Plan(context.Background(), l, host, opts)
}

// removeBeforeRoot removes the host's containers when the test ends, before
// the temporary root they bind-mount is removed (cleanups run last first,
// and the root was made before the pass): a real PostgreSQL still writing
// into its data folder would make the root's removal fail.
func removeBeforeRoot(t testing.TB, l *lab.Lab, host string) {
	t.Helper()
	_, out, err := agent.Desired(l, host, nil, time.Now())
	if err != nil {
		return
	}
	for _, r := range out.Resources {
		if p, ok := r.(*docker.Project); ok {
			dockertest.CleanupProject(t, docker.LabelProject, p.Name)
		}
	}
}
