//go:build e2e

package e2e

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"sort"
	"strings"
	"testing"
	"time"

	"filippo.io/age"

	"github.com/homelab-agent/homelab-agent/agent"
	"github.com/homelab-agent/homelab-agent/agent/lab"
	"github.com/homelab-agent/homelab-agent/bootstrap"
	_ "github.com/homelab-agent/homelab-agent/roles/all"
)

// The drill's fixed addresses on the lab network (the sample lab's
// 192.168.100.0/24). Docker's own bridge address is moved to .254 so the
// gateway container can take .1. The test process never sends a packet
// to these addresses: everything goes through `docker exec`.
const (
	labSubnet   = "192.168.100.0/24"
	dockerGW    = "192.168.100.254"
	gatewayIP   = "192.168.100.1"
	gitIP       = "192.168.100.20"
	s3IP        = "192.168.100.21"
	labelKey    = "dev.homelab-agent.e2e"
	agentListen = "0.0.0.0:9123"
	pollEvery   = "5s"
	// cacheVolume keeps the package cache's downloads between runs (label
	// cacheLabel: kept on purpose, like the drill's images).
	cacheVolume = "homelab-e2e-apt-cache"
	// tailscaleRepo is the stand-in for pkgs.tailscale.com/stable/debian,
	// served by the git server.
	tailscaleRepo = "http://" + gitIP + "/files/tailscale/debian"
)

// appProjects are the Docker projects of the sample lab's app guests, each
// on its guest's own engine.
var appProjects = map[string]string{"traefik": "proxy", "nextcloud": "cloud", "immich": "photos", "jellyfin": "media", "whoami": "media"}

// standinImages are the images the roles' compose files and the sample
// lab's app name; each is tagged as its test image (dockertest.ImageFor:
// Debian's PostgreSQL and Redis for the databases, the stand-in otherwise).
var standinImages = []string{
	"docker.io/library/traefik:v3.5",
	"docker.io/library/postgres:16-alpine", "docker.io/library/redis:7-alpine", "docker.io/library/nextcloud:apache",
	"ghcr.io/immich-app/immich-server:release", "ghcr.io/immich-app/immich-machine-learning:release",
	"docker.io/valkey/valkey:8-bookworm", "ghcr.io/immich-app/postgres:14-vectorchord0.4.3-pgvectors0.2.0",
	"docker.io/jellyfin/jellyfin:10.10",
	"traefik/whoami:v1.10",
}

// Lab is one running drill lab.
type Lab struct {
	t        *testing.T
	ID       string // prefix of every container, volume and network
	Net      string
	Image    string
	Dir      string // host work folder: binaries, the served repo, the work clone
	Work     string // the lab repo clone commits are made in
	Bare     string // the bare repo the git container serves
	AgentSHA string
	Secret   string // webhook secret (in the repo's admin file)
	// Master is the lab's master key, the only secret the drill holds
	// besides the simulator's token (MasterKey is its file): every guest
	// secret is in the repo, encrypted (docs/secrets.md).
	Master    *age.X25519Identity
	MasterKey string
	Lab       *lab.Lab
	Guests    []*Guest
	Good      string // the last good commit pushed
	// drData is the manifest of the data the disaster-recovery scenario
	// backed up (cloud's /srv/data/nextcloud).
	drData  string
	Started time.Time
	// netIDs are the Docker networks the drill made (lab, way out), for
	// the machine-state comparison.
	netIDs []string
	// images maps each name the roles use to the test image standing in.
	images  map[string]string
	standin string // the stand-in image's tag
	boots   int    // guest boots so far: each a fresh cloud-init instance
}

// Guest is one of the lab's hosts as a systemd container.
type Guest struct {
	Name, IP, Role string
	Container      string
	// Volume is an app guest's /var/lib/docker (its engine's data).
	Volume string
	// Disk is the data disk's file and Loop its loop device.
	Disk, Loop string
	Docker     bool // runs a Docker Engine of its own
	Vendor     []byte
}

func docker(ctx context.Context, args ...string) (string, error) {
	cmd := exec.CommandContext(ctx, "docker", args...)
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	err := cmd.Run()
	if err != nil {
		return out.String(), fmt.Errorf("docker %s: %v: %s", strings.Join(short(args), " "), err, strings.TrimSpace(errb.String()+" "+out.String()))
	}
	return out.String(), nil
}

func short(args []string) []string {
	var s []string
	for _, a := range args {
		if len(a) > 120 {
			a = a[:120] + "…"
		}
		s = append(s, a)
	}
	return s
}

// must runs docker and fails the test on error.
func (l *Lab) must(args ...string) string {
	l.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	out, err := docker(ctx, args...)
	if err != nil {
		l.fail("%v", err)
	}
	return out
}

// exec runs a command in a container and returns its combined output.
func dexec(ctx context.Context, container string, stdin []byte, argv ...string) (string, error) {
	args := []string{"exec"}
	if stdin != nil {
		args = append(args, "-i")
	}
	args = append(append(args, container), argv...)
	cmd := exec.CommandContext(ctx, "docker", args...)
	if stdin != nil {
		cmd.Stdin = bytes.NewReader(stdin)
	}
	out, err := cmd.CombinedOutput()
	if err != nil {
		return string(out), fmt.Errorf("in %s: %s: %v: %s", container, strings.Join(short(argv), " "), err, strings.TrimSpace(string(out)))
	}
	return string(out), nil
}

func (l *Lab) in(g *Guest, argv ...string) (string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	return dexec(ctx, g.Container, nil, argv...)
}

// writeFile writes content into a container with the given mode.
func writeFile(container, path, mode string, content []byte) error {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	_, err := dexec(ctx, container, content, "sh", "-c", `mkdir -p "$(dirname "$1")" && cat >"$1" && chmod "$2" "$1"`, "sh", path, mode)
	return err
}

// fail collects every guest's journal and status, then fails the test
// naming the folder.
func (l *Lab) fail(format string, args ...any) {
	l.t.Helper()
	dir := l.collect()
	l.t.Fatalf("%s\nguest journals and /status: %s", fmt.Sprintf(format, args...), dir)
}

// collect writes every guest's agent journal, status and vendor-data
// output into a folder under the e2e results, and returns it.
func (l *Lab) collect() string {
	dir, _ := filepath.Abs(filepath.Join("..", "e2e-failures", time.Now().UTC().Format("20060102T150405")+"-"+strings.ReplaceAll(l.t.Name(), "/", "-")))
	os.MkdirAll(dir, 0o755)
	for _, g := range l.Guests {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		j, err := dexec(ctx, g.Container, nil, "journalctl", "-u", "homelab-agent", "--no-pager", "-o", "short-precise")
		if err != nil {
			j += "\n" + err.Error()
		}
		os.WriteFile(filepath.Join(dir, g.Name+".journal.txt"), []byte(j), 0o644)
		s, _ := dexec(ctx, g.Container, nil, "homelab-agent", "status", "--json", "--addr", "127.0.0.1:9123")
		os.WriteFile(filepath.Join(dir, g.Name+".status.json"), []byte(s), 0o644)
		u, _ := dexec(ctx, g.Container, nil, "systemctl", "status", "--no-pager", "homelab-agent")
		os.WriteFile(filepath.Join(dir, g.Name+".systemctl.txt"), []byte(u), 0o644)
		cancel()
	}
	for _, c := range []string{"git", "s3"} {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		out, _ := docker(ctx, "logs", "--tail", "500", l.ID+"-"+c)
		os.WriteFile(filepath.Join(dir, c+".log"), []byte(out), 0o644)
		cancel()
	}
	return dir
}

// removeLeftovers removes what an earlier, killed drill left: every
// container, network and volume with the drill's label on the machine's
// engine (the guests' engines and their containers go with them), then
// the loop devices of the drill's data disks and its work folders.
func removeLeftovers() {
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	if ids, _ := docker(ctx, "ps", "-aq", "--filter", "label="+labelKey); strings.TrimSpace(ids) != "" {
		docker(ctx, append([]string{"rm", "-f", "-v"}, strings.Fields(ids)...)...)
	}
	if ids, _ := docker(ctx, "network", "ls", "-q", "--filter", "label="+labelKey); strings.TrimSpace(ids) != "" {
		docker(ctx, append([]string{"network", "rm"}, strings.Fields(ids)...)...)
	}
	if ids, _ := docker(ctx, "volume", "ls", "-q", "--filter", "label="+labelKey); strings.TrimSpace(ids) != "" {
		docker(ctx, append([]string{"volume", "rm", "-f"}, strings.Fields(ids)...)...)
	}
	detachDrillLoops()
	// A killed run's work folder (its data disks' files, the served repo).
	if old, _ := filepath.Glob("/var/tmp/hla-e2e-*"); len(old) > 0 {
		for _, d := range old {
			os.RemoveAll(d)
		}
	}
}

func repoRoot() string {
	_, file, _, _ := runtime.Caller(0)
	return filepath.Dir(filepath.Dir(file))
}

// gitRun runs git in dir with a fixed identity.
func gitRun(dir string, args ...string) (string, error) {
	cmd := exec.Command("git", args...)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "GIT_AUTHOR_NAME=e2e", "GIT_AUTHOR_EMAIL=e2e@home.example",
		"GIT_COMMITTER_NAME=e2e", "GIT_COMMITTER_EMAIL=e2e@home.example", "GIT_CONFIG_NOSYSTEM=1", "HOME="+dir)
	out, err := cmd.CombinedOutput()
	if err != nil {
		return string(out), fmt.Errorf("git %s: %v: %s", strings.Join(args, " "), err, out)
	}
	return strings.TrimSpace(string(out)), nil
}

// NewLab builds the lab network with its servers (git, S3, the package
// cache and the stand-in Tailscale repository), the binaries and the lab
// repo; the guests are started by the scenarios.
func NewLab(t *testing.T) *Lab {
	l := &Lab{t: t, ID: fmt.Sprintf("e2e%d", os.Getpid()), Started: time.Now()}
	l.Net = l.ID + "-lab"
	l.Secret = "e2e-webhook-secret"
	removeLeftovers()
	dir, err := os.MkdirTemp("/var/tmp", "hla-e2e-")
	if err != nil {
		t.Fatal(err)
	}
	l.Dir = dir
	t.Cleanup(func() {
		if os.Getenv("E2E_KEEP") != "" {
			t.Logf("E2E_KEEP set: leaving the lab %s running (%s)", l.ID, dir)
			return
		}
		removeLeftovers()
		os.RemoveAll(dir)
	})
	l.Image = guestImage(t)
	for _, d := range []string{"srv/files", "bin"} {
		os.MkdirAll(filepath.Join(dir, d), 0o755)
	}

	// The lab network has no way out; only the package cache is also on a
	// second network, to reach Debian's mirror.
	l.must("network", "create", "--internal", "--subnet", labSubnet, "--gateway", dockerGW, "--label", labelKey+"=1", l.Net)
	l.must("network", "create", "--label", labelKey+"=1", l.ID+"-out")
	for _, n := range []string{l.Net, l.ID + "-out"} {
		l.netIDs = append(l.netIDs, strings.TrimSpace(l.must("network", "inspect", "-f", "{{.Id}}", n)))
	}
	l.startCache()
	key := l.tailscaleRepo()

	// The agent, static, as a release would be (with the stand-in
	// Tailscale repository's test key: e2e builds only), and the lab servers.
	for _, b := range []struct{ out, pkg, ldflags string }{
		{"srv/files/homelab-agent", "./cmd/homelab-agent", " -X github.com/homelab-agent/homelab-agent/roles/tailscale.e2eRepo=" + tailscaleRepo + "|" + base64.StdEncoding.EncodeToString(key)},
		{"bin/labsvc", "./e2e/labsvc", ""},
	} {
		cmd := exec.Command("go", "build", "-tags", "e2e", "-trimpath", "-ldflags", "-s -w -X main.version=e2e"+b.ldflags, "-o", filepath.Join(dir, b.out), b.pkg)
		cmd.Dir = repoRoot()
		cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("building %s: %v\n%s", b.pkg, err, out)
		}
	}
	bin, _ := os.ReadFile(filepath.Join(dir, "srv/files/homelab-agent"))
	sum := sha256.Sum256(bin)
	l.AgentSHA = hex.EncodeToString(sum[:])

	// The lab repo: the sample lab, pointed at the drill's S3 server, with
	// the agents' poll interval and listen address set where bootstrap
	// takes them from (bootstrap.interval, bootstrap.listen).
	l.Work = filepath.Join(dir, "work")
	copyDir(t, filepath.Join(repoRoot(), "fixtures", "lab"), l.Work)
	l.edit("homelab.yaml", "repository: s3:https://s3.us-west-004.backblazeb2.com/lab-backups",
		"repository: s3:http://"+s3IP+":9000/lab-backups\n  init: true")
	l.edit("homelab.yaml", "apps:\n", "bootstrap: {interval: "+pollEvery+", listen: \""+agentListen+"\"}\napps:\n")
	l.sealSecrets()
	l.Bare = filepath.Join(dir, "srv/git/lab.git")
	for _, args := range [][]string{
		{"init", "-q", "-b", "main"}, {"add", "-A"}, {"commit", "-q", "-m", "e2e: the sample lab"},
	} {
		if _, err := gitRun(l.Work, args...); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := gitRun(dir, "init", "-q", "--bare", "-b", "main", l.Bare); err != nil {
		t.Fatal(err)
	}
	l.Good = l.push()
	l.Lab, err = agent.LoadLab(l.Work)
	if err != nil {
		t.Fatal(err)
	}

	// The gateway and the servers.
	l.must("run", "-d", "--name", l.ID+"-gateway", "--hostname", "gateway", "--network", l.Net, "--ip", gatewayIP,
		"--label", labelKey+"=1", l.Image, "sleep", "infinity")
	l.must("run", "-d", "--name", l.ID+"-git", "--hostname", "git", "--network", l.Net, "--ip", gitIP,
		"--label", labelKey+"=1", "-v", filepath.Join(dir, "srv")+":/srv", "-v", filepath.Join(dir, "bin")+":/opt/e2e:ro",
		cacheImage(t), "/opt/e2e/labsvc", "git", "/srv/git", ":80")
	l.must("run", "-d", "--name", l.ID+"-s3", "--hostname", "s3", "--network", l.Net, "--ip", s3IP,
		"--label", labelKey+"=1", "-v", filepath.Join(dir, "bin")+":/opt/e2e:ro",
		l.Image, "/opt/e2e/labsvc", "s3", ":9000")

	for _, h := range l.Lab.Hosts {
		g := &Guest{Name: h.Name, IP: h.IP.String(), Role: h.Role, Container: l.ID + "-" + h.Name, Volume: l.ID + "-" + h.Name + "-docker"}
		switch h.Role {
		case "traefik", "nextcloud", "immich", "jellyfin":
			g.Docker = true
		}
		l.Guests = append(l.Guests, g)
	}
	l.prepareImages()
	return l
}

func copyDir(t *testing.T, from, to string) {
	t.Helper()
	if out, err := exec.Command("cp", "-a", from, to).CombinedOutput(); err != nil {
		t.Fatalf("cp: %v %s", err, out)
	}
}

// edit replaces old with new in a file of the work clone (no commit).
func (l *Lab) edit(file, old, new string) {
	l.t.Helper()
	p := filepath.Join(l.Work, file)
	b, err := os.ReadFile(p)
	if err != nil {
		l.t.Fatal(err)
	}
	if !bytes.Contains(b, []byte(old)) {
		l.t.Fatalf("%s has no %q", file, old)
	}
	os.WriteFile(p, bytes.Replace(b, []byte(old), []byte(new), 1), 0o644)
}

// setLine replaces the line of a work-clone file that starts with prefix.
func (l *Lab) setLine(file, prefix, line string) {
	l.t.Helper()
	p := filepath.Join(l.Work, file)
	b, err := os.ReadFile(p)
	if err != nil {
		l.t.Fatal(err)
	}
	lines := strings.Split(string(b), "\n")
	n := 0
	for i, ln := range lines {
		if strings.HasPrefix(ln, prefix) {
			lines[i] = line
			n++
		}
	}
	if n != 1 {
		l.t.Fatalf("%s: %d lines start with %q", file, n, prefix)
	}
	os.WriteFile(p, []byte(strings.Join(lines, "\n")), 0o644)
}

// commit commits every change of the work clone and pushes it to the
// served repo (a local push: the git container serves the same folder).
// It returns the new commit.
func (l *Lab) commit(msg string) string {
	l.t.Helper()
	if _, err := gitRun(l.Work, "commit", "-q", "-a", "--allow-empty", "-m", msg); err != nil {
		l.t.Fatal(err)
	}
	return l.push()
}

func (l *Lab) push() string {
	l.t.Helper()
	if _, err := gitRun(l.Work, "push", "-q", l.Bare, "HEAD:main"); err != nil {
		l.t.Fatal(err)
	}
	c, err := gitRun(l.Work, "rev-parse", "HEAD")
	if err != nil {
		l.t.Fatal(err)
	}
	return c
}

// vendorData is the guest's vendor data as `homelab-agent bootstrap`
// renders it: the lab repo and the agent on the git server, the agent's
// sha256, the lab's bootstrap settings (bootstrap.interval, .listen) and
// the secrets bootstrap hands out with the master key. The from-zero
// scenario checks that bootstrap wrote the same bytes.
func (l *Lab) vendorData(g *Guest) []byte {
	l.t.Helper()
	sec, err := bootstrap.GuestSecretsOf(l.Work, l.Master, g.Name)
	if err != nil {
		l.fail("%s: the secrets bootstrap hands out: %v", g.Name, err)
	}
	s := bootstrap.SettingsFor(l.Lab, bootstrap.Settings{Repo: "http://" + gitIP + "/lab.git", AgentURL: "http://" + gitIP + "/files/homelab-agent"})
	return bootstrap.VendorData(bootstrap.VendorInput{
		Host: g.Name, Repo: s.Repo, Branch: s.Branch, AgentURL: s.AgentURL, AgentSHA256: l.AgentSHA,
		Interval: s.Interval, Listen: s.Listen, TrustedKeys: s.TrustedKeys, KnownHosts: s.KnownHosts, Secrets: sec,
	})
}

// secretsEnv holds the lab's secrets (demo stand-ins and the S3 server's
// credentials). sealSecrets puts them into the lab repo, encrypted, with
// `homelab-agent secrets set`: no guest ever gets a hand-placed file.
const secretsEnv = `CF_DNS_API_TOKEN=e2e-cloudflare-token
NEXTCLOUD_ADMIN_PASSWORD=e2e-admin-password
NEXTCLOUD_DB_PASSWORD=e2e-db-password
IMMICH_DB_PASSWORD=e2e-immich-password
TAILSCALE_AUTHKEY=tskey-e2e
RESTIC_PASSWORD=e2e restic password
AWS_ACCESS_KEY_ID=AKIAE2E
AWS_SECRET_ACCESS_KEY=e2e-secret-key
`

// Status is the part of the agent's /status the drill reads.
type Status struct {
	Host           string  `json:"host"`
	AppliedCommit  string  `json:"applied_commit"`
	LastGoodCommit string  `json:"last_good_commit"`
	HeadCommit     string  `json:"head_commit"`
	BadCommit      string  `json:"bad_commit"`
	BadReason      string  `json:"bad_reason"`
	SyncError      string  `json:"sync_error"`
	Stale          bool    `json:"stale"`
	StaleSeconds   float64 `json:"stale_seconds"`
	LastError      string  `json:"last_error"`
	Ready          bool    `json:"ready"`
	Interval       string  `json:"interval"`
	Drift          *struct {
		Repaired    int      `json:"repaired"`
		LastChanges []string `json:"last_changes"`
	} `json:"drift"`
	Resources []struct {
		ID     string `json:"id"`
		Status string `json:"status"`
		Error  string `json:"error"`
	} `json:"resources"`

	Images []ImageRecord `json:"images"`
	Health *struct {
		OK        bool      `json:"ok"`
		Commit    string    `json:"commit"`
		Failure   string    `json:"failure"`
		CheckedAt time.Time `json:"checked_at"`
	} `json:"health"`

	LastApply time.Time `json:"last_apply"`
}

// status asks the guest's agent for /status, from inside the guest.
func (l *Lab) status(g *Guest) (*Status, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	out, _ := dexec(ctx, g.Container, nil, "homelab-agent", "status", "--json", "--addr", "127.0.0.1:9123")
	var s Status
	if err := json.Unmarshal([]byte(out), &s); err != nil || s.Host == "" {
		return nil, fmt.Errorf("%s: no status: %s", g.Name, strings.TrimSpace(out))
	}
	return &s, nil
}

// converged reports whether the guest runs commit with no error.
func converged(s *Status, commit string) bool {
	return s != nil && s.Ready && s.AppliedCommit == commit && s.LastError == ""
}

// waitAll polls every guest until cond holds for each, and returns the
// time each took from start; it fails after timeout.
func (l *Lab) waitAll(guests []*Guest, start time.Time, timeout time.Duration, what string, cond func(*Guest, *Status) bool) map[string]time.Duration {
	l.t.Helper()
	took := map[string]time.Duration{}
	last := map[string]string{}
	deadline := start.Add(timeout)
	for len(took) < len(guests) {
		for _, g := range guests {
			if _, ok := took[g.Name]; ok {
				continue
			}
			s, err := l.status(g)
			if err == nil && cond(g, s) {
				took[g.Name] = time.Since(start)
				continue
			}
			if err != nil {
				last[g.Name] = err.Error()
			} else {
				b, _ := json.Marshal(struct{ Applied, Bad, BadReason, SyncError, LastError string }{s.AppliedCommit, s.BadCommit, s.BadReason, s.SyncError, s.LastError})
				last[g.Name] = string(b)
			}
		}
		if len(took) == len(guests) {
			break
		}
		if time.Now().After(deadline) {
			var pending []string
			for _, g := range guests {
				if _, ok := took[g.Name]; !ok {
					pending = append(pending, g.Name+": "+last[g.Name])
				}
			}
			sort.Strings(pending)
			l.fail("%s: not within %s:\n%s", what, timeout, strings.Join(pending, "\n"))
		}
		time.Sleep(200 * time.Millisecond)
	}
	return took
}

// webhook posts a GitHub-style push event, signed, from the gateway (the
// agent admits 9123 from the gateway) to the guest's agent.
func (l *Lab) webhook(g *Guest) error {
	body := `{"ref":"refs/heads/main"}`
	m := hmac.New(sha256.New, []byte(l.Secret))
	m.Write([]byte(body))
	sig := "sha256=" + hex.EncodeToString(m.Sum(nil))
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	out, err := dexec(ctx, l.ID+"-gateway", nil, "curl", "-sS", "-o", "/dev/null", "-w", "%{http_code}", "-X", "POST",
		"-H", "X-GitHub-Event: push", "-H", "X-Hub-Signature-256: "+sig, "-H", "Content-Type: application/json",
		"--data", body, "http://"+g.IP+":9123/hooks/git")
	if err != nil {
		return err
	}
	if strings.TrimSpace(out) != "202" {
		return fmt.Errorf("webhook to %s: HTTP %s", g.Name, out)
	}
	return nil
}

func (l *Lab) guest(name string) *Guest {
	for _, g := range l.Guests {
		if g.Name == name {
			return g
		}
	}
	l.t.Fatalf("no guest %s", name)
	return nil
}

// sealSecrets makes the drill's master key and encrypts every secret of
// secretsEnv into the work clone as an admin would: `homelab-agent secrets
// set NAME` with the value on stdin, for the hosts validate says need it;
// the webhook secret goes into the admin file, which bootstrap hands out.
func (l *Lab) sealSecrets() {
	l.t.Helper()
	id, err := age.GenerateX25519Identity()
	if err != nil {
		l.t.Fatal(err)
	}
	l.Master = id
	l.MasterKey = filepath.Join(l.Dir, "master.key")
	if err := os.WriteFile(l.MasterKey, []byte(id.String()+"\n"), 0o600); err != nil {
		l.t.Fatal(err)
	}
	for _, line := range strings.Split(strings.TrimSpace(secretsEnv), "\n") {
		name, value, _ := strings.Cut(line, "=")
		l.setSecret(name, value)
	}
	l.setSecret(bootstrap.SecretWebhook, l.Secret, "--host", "admin")
}

// setSecret runs `homelab-agent secrets set NAME` in the work clone (no
// commit).
func (l *Lab) setSecret(name, value string, args ...string) {
	l.t.Helper()
	cmd := exec.Command(filepath.Join(l.Dir, "srv/files/homelab-agent"), append([]string{"secrets", "set", name, "--repo", l.Work}, args...)...)
	cmd.Env = append(os.Environ(), "HOMELAB_MASTER_KEY_FILE="+l.MasterKey)
	cmd.Stdin = strings.NewReader(value)
	if out, err := cmd.CombinedOutput(); err != nil {
		l.t.Fatalf("secrets set %s: %v\n%s", name, err, out)
	} else if strings.Contains(string(out), value) {
		l.t.Fatalf("secrets set %s printed the value: %s", name, out)
	}
}
