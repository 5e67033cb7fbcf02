package daemon_test

import (
	"context"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/homelab-agent/homelab-agent/agent/clock"
	"github.com/homelab-agent/homelab-agent/agent/daemon"
	"github.com/homelab-agent/homelab-agent/agent/gitsync/gitsynctest"
	"github.com/homelab-agent/homelab-agent/agent/state"
	_ "github.com/homelab-agent/homelab-agent/roles/all"
)

const lab = "../../fixtures/lab"

// namedConf is a file the dns1 host gets; it names the lab's domain and
// DNS upstream.
const namedConf = "etc/bind/named.conf"

type harness struct {
	t    testing.TB
	repo *gitsynctest.Repo
	srv  *gitsynctest.HTTPServer
	root string
	cfg  *daemon.Config
	d    *daemon.Daemon
}

// newHarness serves a copy of fixtures/lab over HTTP (basic auth) and
// makes a daemon for host dns1 applying into a temp root.
func newHarness(t testing.TB, mutate func(*daemon.Config)) *harness {
	t.Helper()
	h := &harness{t: t, repo: gitsynctest.NewRepo(t, lab), root: t.TempDir()}
	h.srv = gitsynctest.StartHTTP(t, h.repo.Root, "agent", "s3cret")
	h.cfg = &daemon.Config{Repo: h.srv.URL("lab.git"), Branch: "main", Host: "dns1", Root: h.root,
		Interval: daemon.Duration(time.Hour), Listen: "127.0.0.1:0", Auth: daemon.AuthConfig{Token: "agent:s3cret"}}
	if mutate != nil {
		mutate(h.cfg)
	}
	h.d = h.newDaemon(daemon.Options{})
	return h
}

func (h *harness) newDaemon(opts daemon.Options) *daemon.Daemon {
	h.t.Helper()
	opts.Config = h.cfg
	if opts.Notify == nil {
		opts.Notify = func(string) {}
	}
	d, err := daemon.New(opts)
	if err != nil {
		h.t.Fatal(err)
	}
	return d
}

func (h *harness) converge() daemon.Status {
	h.t.Helper()
	h.d.Converge(context.Background())
	return h.d.Status()
}

func (h *harness) file(rel string) string {
	h.t.Helper()
	b, err := os.ReadFile(filepath.Join(h.root, rel))
	if err != nil {
		h.t.Fatal(err)
	}
	return string(b)
}

func (h *harness) state() *state.State {
	h.t.Helper()
	st, err := state.Load(h.root)
	if err != nil {
		h.t.Fatal(err)
	}
	return st
}

func TestPushInvalidThenFix(t *testing.T) {
	h := newHarness(t, nil)
	c0 := h.repo.Git("rev-parse", "HEAD")
	s := h.converge()
	if s.AppliedCommit != c0 || s.LastGoodCommit != c0 || s.LastError != "" {
		t.Fatalf("first pass: applied %s good %s err %q, want %s", s.AppliedCommit, s.LastGoodCommit, s.LastError, c0)
	}
	if !strings.Contains(h.file(namedConf), `zone "home.example"`) {
		t.Fatal("named.conf was not applied")
	}

	// A change is applied.
	h.repo.Edit("homelab.yaml", "domain: home.example", "domain: lab.example")
	c1 := h.repo.CommitAndPush("rename the domain")
	s = h.converge()
	if s.AppliedCommit != c1 || s.LastGoodCommit != c1 {
		t.Fatalf("after push: applied %s good %s, want %s (err %q)", s.AppliedCommit, s.LastGoodCommit, c1, s.LastError)
	}
	if !strings.Contains(h.file(namedConf), `zone "lab.example"`) {
		t.Fatal("the change was not applied")
	}

	// An invalid homelab.yaml is refused; the last good commit stays.
	h.repo.Edit("homelab.yaml", "dns:     {upstream: mullvad-base}", "dns:     {upstream: mullvad-base, colour: blue}")
	c2 := h.repo.CommitAndPush("break the lab")
	s = h.converge()
	if s.BadCommit != c2 || s.LastGoodCommit != c1 || s.AppliedCommit != c1 || s.HeadCommit != c2 {
		t.Fatalf("invalid push: %+v", s)
	}
	if !strings.Contains(s.BadReason, "homelab.yaml:5:") || !strings.Contains(s.LastError, "colour") {
		t.Fatalf("status does not say where: bad_reason %q last_error %q", s.BadReason, s.LastError)
	}
	t.Logf("refused: %s", s.BadReason)
	// Not retried on the next poll.
	h.converge()
	if n := metric(t, h.d, `homelab_agent_refused_commits_total{reason="invalid"}`); n != "1" {
		t.Fatalf("bad commit retried: refused_commits_total = %s", n)
	}

	// A fix is applied and clears the bad commit.
	h.repo.Edit("homelab.yaml", ", colour: blue}", ", }")
	h.repo.Edit("homelab.yaml", "mullvad-base, }", "mullvad-family}")
	c3 := h.repo.CommitAndPush("fix the lab")
	s = h.converge()
	if s.AppliedCommit != c3 || s.LastGoodCommit != c3 || s.BadCommit != "" || s.LastError != "" {
		t.Fatalf("fix: %+v", s)
	}
	if !strings.Contains(h.file(namedConf), "family.dns.mullvad.net") {
		t.Fatal("the fix was not applied")
	}
}

// TestApplyFailureReturnsToLastGood makes a commit fail half-way through
// its apply and checks that the files it did write are put back.
func TestApplyFailureReturnsToLastGood(t *testing.T) {
	h := newHarness(t, nil)
	c0 := h.repo.Git("rev-parse", "HEAD")
	h.converge()
	// The new domain's zone file cannot be written: a folder is in the way.
	os.MkdirAll(filepath.Join(h.root, "etc/bind/homelab/db.lab.example"), 0o755)
	h.repo.Edit("homelab.yaml", "domain: home.example", "domain: lab.example")
	c1 := h.repo.CommitAndPush("rename the domain")
	s := h.converge()
	if s.BadCommit != c1 || s.LastGoodCommit != c0 || s.AppliedCommit != c0 {
		t.Fatalf("failed apply: bad %s good %s applied %s", s.BadCommit, s.LastGoodCommit, s.AppliedCommit)
	}
	if !strings.Contains(s.BadReason, "is a directory") {
		t.Fatalf("bad_reason %q", s.BadReason)
	}
	if !strings.Contains(h.file(namedConf), `zone "home.example"`) {
		t.Fatal("named.conf was not returned to the last good commit")
	}
}

func TestTrustedKeys(t *testing.T) {
	keys := t.TempDir()
	sshKey, sshPub := gitsynctest.SSHKeygen(t, keys, "owner")
	gpgHome, fpr, armored := gitsynctest.GPGKey(t, "owner@home.example")
	h := newHarness(t, func(c *daemon.Config) { c.TrustedKeys = []string{sshPub, armored} })
	h.repo.Setenv("GNUPGHOME=" + gpgHome)

	// The initial commit is unsigned: nothing is applied.
	s := h.converge()
	if s.AppliedCommit != "" || s.BadCommit == "" || !strings.Contains(s.BadReason, "not signed") {
		t.Fatalf("unsigned first commit: %+v", s)
	}
	if _, err := os.Stat(filepath.Join(h.root, namedConf)); err == nil {
		t.Fatal("an unsigned commit was applied")
	}

	h.repo.Edit("homelab.yaml", "mullvad-base", "mullvad-family")
	h.repo.Git("-c", "gpg.format=ssh", "-c", "user.signingkey="+sshKey+".pub", "commit", "-qam", "ssh-signed", "-S")
	h.repo.Push(false)
	c1 := h.repo.Git("rev-parse", "HEAD")
	if s = h.converge(); s.AppliedCommit != c1 || s.LastGoodCommit != c1 {
		t.Fatalf("ssh-signed: %+v", s)
	}

	h.repo.Edit("homelab.yaml", "mullvad-family", "mullvad-extended")
	c2 := h.repo.CommitAndPush("unsigned")
	s = h.converge()
	if s.BadCommit != c2 || s.AppliedCommit != c1 || !strings.Contains(s.BadReason, "not signed") {
		t.Fatalf("unsigned: %+v", s)
	}
	if strings.Contains(h.file(namedConf), "extended.dns") {
		t.Fatal("an unsigned commit was applied")
	}

	// A signed head over the unsigned commit: the whole range since the
	// last good commit must be signed, so it is refused, naming c2.
	h.repo.Edit("homelab.yaml", "mullvad-extended", "mullvad-all")
	h.repo.Git("commit", "-qam", "gpg-signed over unsigned", "-S"+fpr)
	h.repo.Push(false)
	over := h.repo.Git("rev-parse", "HEAD")
	s = h.converge()
	if s.BadCommit != over || s.AppliedCommit != c1 || !strings.Contains(s.BadReason, "commit "+c2[:12]+" is not trusted: it is not signed") {
		t.Fatalf("signed head over an unsigned commit: bad %s applied %s reason %q", s.BadCommit, s.AppliedCommit, s.BadReason)
	}
	if strings.Contains(h.file(namedConf), "all.dns.mullvad.net") {
		t.Fatal("a range with an unsigned commit was applied")
	}

	// The owner drops the unsigned commit (a force-push the agent is told
	// to accept) and signs the change again.
	h.repo.Git("reset", "-q", "--hard", c1)
	h.repo.Edit("homelab.yaml", "mullvad-family", "mullvad-all")
	h.repo.Git("commit", "-qam", "gpg-signed", "-S"+fpr)
	h.repo.Push(true)
	c3 := h.repo.Git("rev-parse", "HEAD")
	h.cfg.AllowForcePush = true
	h.d = h.newDaemon(daemon.Options{})
	if s = h.converge(); s.AppliedCommit != c3 || s.BadCommit != "" || len(s.Warnings) != 0 {
		t.Fatalf("gpg-signed: %+v", s)
	}
	if !strings.Contains(h.file(namedConf), "all.dns.mullvad.net") {
		t.Fatal("the gpg-signed commit was not applied")
	}

	// trusted_keys changed: even the last good commit is no longer applied.
	_, otherPub := gitsynctest.SSHKeygen(t, keys, "other")
	h.cfg.TrustedKeys = []string{otherPub}
	h.d = h.newDaemon(daemon.Options{})
	s = h.converge()
	if s.BadCommit != c3 || !strings.Contains(s.LastError, "not re-applying last good commit") {
		t.Fatalf("after a key change: bad %s last_error %q", s.BadCommit, s.LastError)
	}
}

func TestForcePushRefused(t *testing.T) {
	h := newHarness(t, nil)
	c0 := h.repo.Git("rev-parse", "HEAD")
	h.converge()
	h.repo.Git("commit", "-q", "--amend", "-m", "rewritten")
	h.repo.Push(true)
	forced := h.repo.Git("rev-parse", "HEAD")
	s := h.converge()
	if s.AppliedCommit != c0 || s.RemoteCommit != forced || !strings.Contains(s.SyncError, "force-push") || s.Stale {
		t.Fatalf("force-push: %+v", s)
	}
}

// TestForcePushAfterRecloneRefused: a corrupt clone is made afresh from
// a server whose history was rewritten meanwhile; the new head does not
// descend from the last good commit and is refused all the same.
func TestForcePushAfterRecloneRefused(t *testing.T) {
	h := newHarness(t, nil)
	c0 := h.repo.Git("rev-parse", "HEAD")
	h.converge()
	h.repo.Edit("homelab.yaml", "domain: home.example", "domain: lab.example")
	h.repo.Git("commit", "-q", "--amend", "-am", "rewritten")
	h.repo.Push(true)
	forced := h.repo.Git("rev-parse", "HEAD")
	objects := filepath.Join(h.root, "var/lib/homelab-agent/repo/.git/objects")
	filepath.WalkDir(objects, func(p string, d os.DirEntry, err error) error {
		if err == nil && !d.IsDir() {
			os.Chmod(p, 0o644)
			os.Truncate(p, 0)
		}
		return nil
	})
	h.d = h.newDaemon(daemon.Options{}) // a restart: the clone is opened afresh
	s := h.converge()
	if s.BadCommit != forced || s.AppliedCommit != c0 || !strings.Contains(s.BadReason, "does not descend") {
		t.Fatalf("re-cloned force-push: %+v", s)
	}
	if !strings.Contains(h.file(namedConf), `zone "home.example"`) {
		t.Fatal("the rewritten history was applied")
	}
	if v := metric(t, h.d, `homelab_agent_refused_commits_total{reason="force_push"}`); v != "1" {
		t.Fatalf("refused force_push = %q", v)
	}
}

func TestServerDownStaleThenRecovers(t *testing.T) {
	h := newHarness(t, func(c *daemon.Config) { c.Interval = daemon.Duration(40 * time.Millisecond) })
	clk := clock.NewFake(time.Date(2026, 11, 29, 3, 0, 0, 0, time.UTC))
	h.d = h.newDaemon(daemon.Options{Clock: clk, BackoffMax: 400 * time.Millisecond, Jitter: 0.01, StaleAfter: 80 * time.Millisecond})
	c0 := h.repo.Git("rev-parse", "HEAD")
	h.converge()

	h.srv.Stop()
	var waits []time.Duration
	for range 5 {
		waits = append(waits, h.d.Converge(context.Background()))
	}
	for i := 1; i < 4; i++ {
		if waits[i] < waits[i-1]*3/2 {
			t.Fatalf("backoff does not grow: %v", waits)
		}
	}
	if waits[4] > 410*time.Millisecond {
		t.Fatalf("backoff is not capped: %v", waits)
	}
	clk.Advance(100 * time.Millisecond) // more than StaleAfter without a sync
	s := h.d.Status()
	if !s.Stale || s.StaleSeconds != 0.1 || s.SyncError == "" || s.AppliedCommit != c0 {
		t.Fatalf("server down: stale %v (%fs) err %q applied %s", s.Stale, s.StaleSeconds, s.SyncError, s.AppliedCommit)
	}
	if v := metric(t, h.d, "homelab_agent_seconds_since_last_sync"); v == "" || v == "0" {
		t.Fatalf("seconds_since_last_sync = %q", v)
	}

	h.srv.Start()
	h.repo.Edit("homelab.yaml", "mullvad-base", "mullvad-family")
	c1 := h.repo.CommitAndPush("while the server was down")
	clk.Advance(time.Second)
	back := clk.Now()
	s = h.converge()
	if s.LastSyncOK.Before(back) || s.SyncError != "" || s.AppliedCommit != c1 {
		t.Fatalf("after recovery: %+v", s)
	}
}

func TestSSHDeployKey(t *testing.T) {
	h := newHarness(t, nil)
	ssh := gitsynctest.StartSSH(t, h.repo.Bare)
	h.cfg.Repo, h.cfg.Auth = ssh.URL, daemon.AuthConfig{SSHKey: ssh.Key, KnownHosts: ssh.KnownHosts}
	h.d = h.newDaemon(daemon.Options{})
	if s := h.converge(); s.AppliedCommit != h.repo.Git("rev-parse", "HEAD") {
		t.Fatalf("over ssh: %+v", s)
	}
}

// metric returns a sample's value from GET /metrics, "" when absent.
func metric(t *testing.T, d *daemon.Daemon, name string) string {
	t.Helper()
	rec := get(t, d.Handler(), "/metrics")
	for _, line := range strings.Split(rec, "\n") {
		if v, ok := strings.CutPrefix(line, name+" "); ok {
			return v
		}
	}
	return ""
}

func get(t *testing.T, h http.Handler, path string) string {
	t.Helper()
	srv := &http.Server{Handler: h}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go srv.Serve(ln)
	defer srv.Close()
	resp, err := http.Get("http://" + ln.Addr().String() + path)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return string(b)
}

func decodeStatus(t *testing.T, body string) daemon.Status {
	t.Helper()
	var s daemon.Status
	if err := json.Unmarshal([]byte(body), &s); err != nil {
		t.Fatalf("decoding status: %v\n%s", err, body)
	}
	return s
}

// TestMissingSecretRetriedWhenAdded: a commit that cannot apply because the
// host lacks a secret stays refused until the host's secrets change, then
// applies without waiting for a newer commit.
func TestMissingSecretRetriedWhenAdded(t *testing.T) {
	h := newHarness(t, nil)
	c0 := h.repo.Git("rev-parse", "HEAD")
	h.converge()
	// dns1 becomes the VPN router: it needs TAILSCALE_AUTHKEY.
	h.repo.Edit("homelab.yaml", "role: tailscale-router", "role: dns")
	h.repo.Edit("homelab.yaml", "dns1:   {ip: 192.168.100.2,  role: dns", "dns1:   {ip: 192.168.100.2,  role: tailscale-router")
	c1 := h.repo.CommitAndPush("dns1 becomes the VPN router")
	s := h.converge()
	if s.BadCommit != c1 || s.AppliedCommit != c0 || !strings.Contains(s.BadReason, "missing secret TAILSCALE_AUTHKEY") {
		t.Fatalf("missing secret: bad %s applied %s reason %q", s.BadCommit, s.AppliedCommit, s.BadReason)
	}
	if s = h.converge(); s.AppliedCommit != c0 {
		t.Fatalf("nothing changed on the host, yet the commit was retried: %+v", s)
	}
	p := filepath.Join(h.root, "etc/homelab-agent/secrets.env")
	os.MkdirAll(filepath.Dir(p), 0o755)
	if err := os.WriteFile(p, []byte("TAILSCALE_AUTHKEY=tskey-test\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if s = h.converge(); s.AppliedCommit != c1 || s.LastGoodCommit != c1 || s.BadCommit != "" {
		t.Fatalf("after adding the secret: %+v", s)
	}
}

// TestFailedApplyRetriedWithBackoff: a commit that fails to apply for a
// cause that passes (here a path in the way of /etc/bind; on a real guest
// an unreachable mirror or registry at first boot) is not left alone until
// the next push: it is tried again after 1 min, then 2 min, ... (at most
// 1 h), and applies once the cause is gone.
func TestFailedApplyRetriedWithBackoff(t *testing.T) {
	fake := clock.NewFake(time.Date(2026, 11, 29, 4, 0, 0, 0, time.UTC))
	h := newHarness(t, nil)
	h.d = h.newDaemon(daemon.Options{Clock: fake})
	c0 := h.repo.Git("rev-parse", "HEAD")
	blocker := filepath.Join(h.root, "etc/bind")
	os.MkdirAll(filepath.Dir(blocker), 0o755)
	if err := os.WriteFile(blocker, []byte("in the way\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	s := h.converge()
	if s.BadCommit != c0 || s.LastGoodCommit != "" {
		t.Fatalf("first pass: bad %q last good %q reason %q", s.BadCommit, s.LastGoodCommit, s.BadReason)
	}
	if st := h.state(); st.BadTries != 1 || !st.BadAt.Equal(fake.Now()) {
		t.Fatalf("after the first failure: tries %d at %v", st.BadTries, st.BadAt)
	}
	// Not before its retry is due.
	fake.Advance(59 * time.Second)
	if h.converge(); h.state().BadTries != 1 {
		t.Fatal("retried before a minute passed")
	}
	fake.Advance(time.Second)
	if h.converge(); h.state().BadTries != 2 {
		t.Fatalf("not retried after a minute: tries %d", h.state().BadTries)
	}
	// The second retry waits 2 min.
	fake.Advance(time.Minute + 59*time.Second)
	if h.converge(); h.state().BadTries != 2 {
		t.Fatal("retried before two minutes passed")
	}
	os.Remove(blocker)
	fake.Advance(time.Second)
	s = h.converge()
	if s.AppliedCommit != c0 || s.LastGoodCommit != c0 || s.BadCommit != "" {
		t.Fatalf("after the cause passed: %+v", s)
	}
	if st := h.state(); st.BadTries != 0 || !st.BadAt.IsZero() {
		t.Fatalf("the retry count survived the success: %d %v", st.BadTries, st.BadAt)
	}
	for tries, want := range map[int]time.Duration{1: time.Minute, 2: 2 * time.Minute, 6: 32 * time.Minute, 7: time.Hour, 50: time.Hour} {
		if got := daemon.RetryFailedAfter(tries); got != want {
			t.Errorf("RetryFailedAfter(%d) = %v, want %v", tries, got, want)
		}
	}
}
