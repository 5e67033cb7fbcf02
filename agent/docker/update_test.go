package docker

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/docker/docker/api/types/image"

	"github.com/homelab-agent/homelab-agent/agent/clock"
	"github.com/homelab-agent/homelab-agent/agent/docker/dockertest"
	"github.com/homelab-agent/homelab-agent/agent/health"
	"github.com/homelab-agent/homelab-agent/agent/hold"
	"github.com/homelab-agent/homelab-agent/agent/images"
	"github.com/homelab-agent/homelab-agent/agent/images/imagestest"
	"github.com/homelab-agent/homelab-agent/agent/lab"
	"github.com/homelab-agent/homelab-agent/agent/resource"
)

// updateHarness is a project whose image comes from a registry on
// loopback: the stand-in pushed as web:1.0.0, and derived images pushed
// by the test.
type updateHarness struct {
	*harness
	reg   *imagestest.Registry
	repo  string // "127.0.0.1:PORT/<test>"
	clock *clock.Fake
	store *images.Store
}

// sunday04 is inside the window "0 4 * * 0".
var sunday04 = time.Date(2026, 11, 29, 4, 10, 0, 0, time.UTC)

func newUpdateHarness(t *testing.T) *updateHarness {
	h := &updateHarness{harness: newHarness(t), reg: imagestest.Start(t)}
	h.repo = h.reg.Host + "/" + strings.ToLower(h.name)
	ctx := context.Background()
	local := h.repo + ":1.0.0"
	if err := h.cli.ImageTag(ctx, dockertest.Standin(t), local); err != nil {
		t.Fatal(err)
	}
	rc, err := h.cli.ImagePush(ctx, local, image.PushOptions{RegistryAuth: "e30="})
	if err != nil {
		t.Fatal(err)
	}
	readStream(t, rc)
	// The host has never seen it: the first pass pulls it as a real host would.
	h.cli.ImageRemove(ctx, local, image.RemoveOptions{})
	t.Cleanup(func() {
		imgs, _ := h.cli.ImageList(context.Background(), image.ListOptions{All: true})
		for _, im := range imgs {
			for _, tag := range append(im.RepoTags, im.RepoDigests...) {
				if strings.HasPrefix(tag, h.repo) {
					h.cli.ImageRemove(context.Background(), tag, image.RemoveOptions{Force: true})
				}
			}
		}
	})
	h.clock = clock.NewFake(sunday04)
	h.store, err = images.Open(h.env.Root)
	if err != nil {
		t.Fatal(err)
	}
	return h
}

func readStream(t *testing.T, rc io.ReadCloser) {
	t.Helper()
	defer rc.Close()
	dec := json.NewDecoder(rc)
	for {
		var m struct{ Error string }
		if err := dec.Decode(&m); err == io.EOF {
			return
		} else if err != nil {
			t.Fatal(err)
		}
		if m.Error != "" {
			t.Fatalf("push: %s", m.Error)
		}
	}
}

// derive pushes the stand-in image with extra environment as tag.
func (h *updateHarness) derive(tag string, env ...string) string {
	h.t.Helper()
	repo := strings.TrimPrefix(h.repo, h.reg.Host+"/")
	return h.reg.Derive(h.t, h.reg.Pull(h.t, repo+":1.0.0"), repo+":"+tag, env...)
}

// releases pushes a release per version, its $VERSION set.
func (h *updateHarness) releases(versions ...string) {
	for _, v := range versions {
		h.derive(v, "VERSION="+v)
	}
}

func (h *updateHarness) project(tag string, u *lab.Updates) *Project {
	p := h.harness.project("services:\n  web:\n    image: " + h.repo + ":" + tag + `
    healthcheck: {test: ["CMD", "/standin", "health"], interval: 300ms, timeout: 2s, retries: 3}
`)
	p.LabUpdates = u
	return p
}

func (h *updateHarness) updater() *Updater {
	return &Updater{Store: h.store, Checker: h.checker(), Now: h.clock.Now,
		HealthTimeout: 60 * time.Second, HealthEvery: 200 * time.Millisecond}
}

// start runs the project at tag 1.0.0 under policy and returns it with
// the digest it runs.
func (h *updateHarness) start(policy string) (*Project, string) {
	h.t.Helper()
	p := h.project("1.0.0", withPolicy(policy))
	h.apply(p)
	return p, h.runningDigest("web")
}

func (h *updateHarness) update(p *Project) []Outcome {
	h.t.Helper()
	out, err := p.Update(context.Background(), h.env, h.updater())
	if err != nil {
		h.t.Fatalf("update: %v", err)
	}
	return out
}

// checker asks the registry afresh (the cache is images' own test).
func (h *updateHarness) checker() *images.Checker {
	h.t.Helper()
	cache, err := images.Open(h.t.TempDir())
	if err != nil {
		h.t.Fatal(err)
	}
	return &images.Checker{Store: cache, Now: h.clock.Now}
}

func (h *updateHarness) runningDigest(svc string) string {
	h.t.Helper()
	c := h.containers()[svc]
	img, _, err := h.cli.ImageInspectWithRaw(context.Background(), c.ImageID)
	if err != nil {
		h.t.Fatal(err)
	}
	for _, d := range img.RepoDigests {
		if strings.HasPrefix(d, h.repo+"@") {
			return strings.TrimPrefix(d, h.repo+"@")
		}
	}
	h.t.Fatalf("the running image has no digest of %s: %v", h.repo, img.RepoDigests)
	return ""
}

// heldProbe is a health probe that records who holds the project.
type heldProbe struct {
	root, project string
	seen          []string
}

func (p *heldProbe) String() string { return "hold of " + p.project }

func (p *heldProbe) Check(context.Context) error {
	r, held := hold.Check(p.root, p.project)
	if !held {
		r = "free"
	}
	p.seen = append(p.seen, r)
	return nil
}

var window = &lab.Updates{Window: "0 4 * * 0"}

func withPolicy(p string) *lab.Updates { u := *window; u.Policy = p; return &u }

func TestUpdateThatPassesHealthIsKept(t *testing.T) {
	h := newUpdateHarness(t)
	v0 := h.reg.Push(t, "x:0", h.reg.Pull(t, strings.TrimPrefix(h.repo, h.reg.Host+"/")+":1.0.0")) // digest of 1.0.0
	p := h.project("1.0.0", withPolicy("track"))
	h.apply(p)
	if out := h.update(p); len(out) != 1 || out[0].Available != "" || out[0].Update != nil {
		t.Fatalf("no news yet: %+v", out)
	}
	v1 := h.derive("1.0.0", "VERSION=2") // the tag moves
	h.reg.Reset()
	u := h.updater()
	var backups []string
	u.Backup = func(_ context.Context, project string) error {
		// The backup runs before the recreate: the old image still runs,
		// and the project is not held yet (the backup holds it itself).
		if r, held := hold.Check(h.env.Root, project); held {
			t.Errorf("the project is held during the backup before the update: %s", r)
		}
		backups = append(backups, project+" "+h.runningDigest("web"))
		return nil
	}
	// While the new image is judged, the update holds the project against
	// the scheduled backups' quiesce steps.
	probe := &heldProbe{root: h.env.Root, project: h.name}
	u.Health = health.Spec{Probes: []health.Probe{probe}, Deadline: 10 * time.Second}
	out, err := p.Update(context.Background(), h.env, u)
	if err != nil {
		t.Fatal(err)
	}
	if len(probe.seen) == 0 || !strings.HasPrefix(probe.seen[0], "image update of web by pid") {
		t.Errorf("holders seen by the health check: %q", probe.seen)
	}
	if r, held := hold.Check(h.env.Root, h.name); held {
		t.Errorf("still held after the update: %s", r)
	}
	if len(backups) != 1 || backups[0] != h.name+" "+v0 {
		t.Errorf("backups before the update: %q, want one of %s on %s", backups, h.name, v0)
	}
	if len(out) != 1 || out[0].Update == nil || out[0].Update.Result != images.ResultUpdated {
		t.Fatalf("update: %+v", out)
	}
	if got := h.runningDigest("web"); got != v1 {
		t.Fatalf("running %s, want the new %s (old %s)", got, v1, v0)
	}
	rec := h.store.Get(images.Key(h.name, "web"))
	if rec.Digest != v1 || rec.Available != "" || !strings.Contains(rec.Previous, v0) || rec.Last.Result != images.ResultUpdated {
		t.Fatalf("record: %+v", rec)
	}
	// The previous image stays on the host under its rollback tag.
	if _, err := h.cli.ImageInspect(context.Background(), h.repo+":"+RollbackTag(h.name, "web")); err != nil {
		t.Fatalf("the rollback target is gone: %v", err)
	}
	// A pass right after changes nothing; a check right after finds no news.
	if ch := h.plan(p); ch != nil {
		t.Fatalf("a pass after the update would change: %+v", ch)
	}
	if out := h.update(p); out[0].Update != nil || out[0].Available != "" {
		t.Fatalf("second check: %+v", out)
	}
}

func TestFailedBackupCancelsTheUpdate(t *testing.T) {
	h := newUpdateHarness(t)
	p, before := h.start("track")
	next := h.derive("1.0.0", "VERSION=2")
	u := h.updater()
	u.Backup = func(context.Context, string) error { return errors.New("restic: repository is locked") }
	out, err := p.Update(context.Background(), h.env, u)
	if err != nil {
		t.Fatal(err)
	}
	if len(out) != 1 || out[0].Update == nil || out[0].Update.Result != images.ResultFailed ||
		!strings.Contains(out[0].Update.Error, "the backup before the update failed, nothing changed: restic: repository is locked") {
		t.Fatalf("want a failed update: %+v", out)
	}
	if got := h.runningDigest("web"); got != before {
		t.Fatalf("the service moved to %s without its backup", got)
	}
	// The tag was not moved: a pass changes nothing, the update is still offered.
	if ch := h.plan(p); ch == nil || ch.Action != resource.ActionNotice || !strings.Contains(ch.Diff, next) {
		t.Fatalf("after the failed backup: %+v", ch)
	}
}

func TestUpdateFailingHealthRollsBack(t *testing.T) {
	h := newUpdateHarness(t)
	p, before := h.start("track")
	bad := h.derive("1.0.0", "HEALTHY_AFTER=1000h")
	var notes []string
	u := h.updater()
	u.Notify = func(_ context.Context, title, msg string) { notes = append(notes, title+": "+msg) }
	out, err := p.Update(context.Background(), h.env, u)
	if err != nil {
		t.Fatal(err)
	}
	if len(out) != 1 || out[0].Update == nil || out[0].Update.Result != images.ResultRolledBack {
		t.Fatalf("want a rollback: %+v", out)
	}
	if !strings.Contains(out[0].Update.Error, "unhealthy") || !strings.Contains(out[0].Update.To, bad) {
		t.Errorf("the failed update names the image and the cause: %+v", out[0].Update)
	}
	if got := h.runningDigest("web"); got != before {
		t.Fatalf("after the rollback the service runs %s, want the previous %s", got, before)
	}
	if st := h.inspect(h.containers()["web"].ID).State; st.Health == nil {
		t.Fatal("no health")
	}
	if err := p.waitService(context.Background(), u, &Spec{Name: h.name + "-web-1"}); err != nil {
		t.Fatalf("the rolled back service is not healthy: %v", err)
	}
	if len(notes) != 1 || !strings.Contains(notes[0], "rolled back") {
		t.Errorf("notifications: %q", notes)
	}
	rec := h.store.Get(images.Key(h.name, "web"))
	if rec.Last == nil || rec.Last.Result != images.ResultRolledBack || rec.Digest != before || rec.Available == "" {
		t.Fatalf("record: %+v", rec)
	}
}

func TestOutsideTheWindowNothingUpdates(t *testing.T) {
	h := newUpdateHarness(t)
	h.clock = clock.NewFake(sunday04.Add(-24 * time.Hour)) // Saturday
	p, before := h.start("track")
	next := h.derive("1.0.0", "VERSION=2")
	// plan tells, and changes nothing.
	ch := h.plan(p)
	if ch == nil || ch.Action != resource.ActionNotice || !strings.Contains(ch.Diff, "image "+h.repo+":1.0.0 → 1.0.0 ("+next+") for web; applied in the window \"0 4 * * 0\" for 1h0m0s, next ") {
		t.Fatalf("plan: %+v", ch)
	}
	out := h.update(p)
	if len(out) != 1 || out[0].Update != nil || !strings.HasSuffix(out[0].Available, "1.0.0@"+next) {
		t.Fatalf("outside the window: %+v", out)
	}
	if got := h.runningDigest("web"); got != before {
		t.Fatalf("updated outside the window: %s", got)
	}
}

func TestPinnedNeverMoves(t *testing.T) {
	h := newUpdateHarness(t)
	p, before := h.start("pinned")
	h.derive("1.0.0", "VERSION=2")
	h.derive("1.0.1", "VERSION=3")
	h.reg.Reset()
	out := h.update(p)
	if len(out) != 1 || out[0].Update != nil || out[0].Available != "" {
		t.Fatalf("pinned: %+v", out)
	}
	if hits := h.reg.Hits(); len(hits) != 0 {
		t.Errorf("a pinned service asked the registry: %v", hits)
	}
	if got := h.runningDigest("web"); got != before {
		t.Fatalf("pinned moved to %s", got)
	}
	if rec := h.store.Get(images.Key(h.name, "web")); rec == nil || rec.Digest != before {
		t.Fatalf("pinned records its digest: %+v", rec)
	}
	// Someone pulls the moved tag on the host: the pass keeps the digest
	// recorded, and the next check does not record the new one.
	rc, err := h.cli.ImagePull(context.Background(), h.repo+":1.0.0", image.PullOptions{})
	if err != nil {
		t.Fatal(err)
	}
	readStream(t, rc)
	h.apply(p)
	if got := h.runningDigest("web"); got != before {
		t.Fatalf("a pinned service followed a manual pull to %s", got)
	}
	h.update(p)
	if ch := h.plan(p); ch != nil {
		t.Fatalf("a pass after that would change: %+v", ch)
	}
	if rec := h.store.Get(images.Key(h.name, "web")); rec.Digest != before {
		t.Fatalf("the record moved: %+v", rec)
	}
}

func TestPatchAndMinorChooseTheirTag(t *testing.T) {
	h := newUpdateHarness(t)
	h.releases("1.0.3", "1.1.0", "2.0.0")
	d103 := h.reg.Push(t, "probe:1", h.reg.Pull(t, strings.TrimPrefix(h.repo, h.reg.Host+"/")+":1.0.3"))
	p := h.project("1.0.0", withPolicy("patch"))
	h.apply(p)
	if ch := h.plan(p); ch == nil || !strings.Contains(ch.Diff, ":1.0.0 → 1.0.3 ("+d103+") for web") {
		t.Fatalf("plan: %+v", ch)
	}
	out := h.update(p)
	if out[0].Update == nil || out[0].Update.Result != images.ResultUpdated || !strings.Contains(out[0].Update.To, ":1.0.3@") {
		t.Fatalf("patch: %+v", out)
	}
	if got := h.runningDigest("web"); got != d103 {
		t.Fatalf("patch runs %s, want 1.0.3's %s", got, d103)
	}
	if img := h.containers()["web"].Image; img != h.repo+":1.0.3" {
		t.Errorf("the container runs %s, want the tag 1.0.3", img)
	}
	// A pass keeps it there; minor then moves to 1.1.0 and never to 2.0.0.
	if ch := h.plan(p); ch != nil {
		t.Fatalf("a pass after the update would change: %+v", ch)
	}
	p = h.project("1.0.0", withPolicy("minor"))
	out = h.update(p)
	if out[0].Update == nil || !strings.Contains(out[0].Update.To, ":1.1.0@") {
		t.Fatalf("minor: %+v", out)
	}
	if img := h.containers()["web"].Image; img != h.repo+":1.1.0" {
		t.Errorf("the container runs %s, want 1.1.0", img)
	}
}

// TestMajorStepAndAfterCommand is Nextcloud's rule on the stand-in: a
// compose file that jumps from 1.0.0 to 3.0.0 is not followed by the
// pass; the update window goes to 2's newest release first, then to
// 3.0.0, running `php occ upgrade` as uid 33 after each image.
func TestMajorStepAndAfterCommand(t *testing.T) {
	h := newUpdateHarness(t)
	h.releases("2.0.1", "2.1.0", "3.0.0")
	cfg := filepath.Join(h.dataDir(), "config")
	if err := os.MkdirAll(cfg, 0o777); err != nil {
		t.Fatal(err)
	}
	os.Chmod(cfg, 0o777)
	project := func(tag string) *Project {
		p := h.harness.project("services:\n  app:\n    image: " + h.repo + ":" + tag + `
    volumes: ["./config:/var/www/html/config"]
    healthcheck: {test: ["CMD", "/standin", "health"], interval: 300ms, timeout: 2s, retries: 3}
`)
		p.LabUpdates = withPolicy("track")
		p.UpdateDefaults = map[string]images.Rules{"app": {MajorStep: true, After: []string{"php", "occ", "upgrade"}, AfterUser: "33"}}
		return p
	}
	h.apply(project("1.0.0"))
	h.update(project("1.0.0")) // records what runs
	p := project("3.0.0")
	// The pass stays on 1.0.0; plan says where the window goes first.
	if ch := h.plan(p); ch == nil || ch.Action != resource.ActionNotice || !strings.Contains(ch.Diff, ":1.0.0 → 2.1.0 (") {
		t.Fatalf("the pass jumps two majors, or plan does not tell the step: %+v", ch)
	}
	for _, want := range []string{"2.1.0", "3.0.0"} {
		out := h.update(p)
		if len(out) != 1 || out[0].Update == nil || out[0].Update.Result != images.ResultUpdated || !strings.Contains(out[0].Update.To, ":"+want+"@") {
			t.Fatalf("step to %s: %+v", want, out)
		}
		if img := h.containers()["app"].Image; img != h.repo+":"+want {
			t.Fatalf("runs %s, want %s", img, want)
		}
	}
	log, err := os.ReadFile(filepath.Join(cfg, "upgrade.log"))
	if err != nil || string(log) != "upgrade 2.1.0 uid=33\nupgrade 3.0.0 uid=33\n" {
		t.Fatalf("occ upgrade runs after each image, as www-data: %q %v", log, err)
	}
	if ch := h.plan(p); ch != nil {
		t.Fatalf("a pass after the last step would change: %+v", ch)
	}
}

// failingTransport is a registry that cannot be reached, counting tries.
type failingTransport struct{ tries int }

func (f *failingTransport) RoundTrip(*http.Request) (*http.Response, error) {
	f.tries++
	return nil, errors.New("connection refused")
}

func TestUnreachableRegistryIsAskedAgainLater(t *testing.T) {
	h := newUpdateHarness(t)
	p, before := h.start("track")
	down := &failingTransport{}
	check := func() Outcome {
		u := h.updater()
		u.Checker.Transport = down
		out, err := p.Update(context.Background(), h.env, u)
		if err != nil || len(out) != 1 {
			t.Fatalf("an unreachable registry is no error of the update: %+v %v", out, err)
		}
		return out[0]
	}
	if o := check(); !strings.Contains(o.CheckError, "connection refused") || o.Update != nil {
		t.Fatalf("first check: %+v", o)
	}
	tries := down.tries
	h.clock.Advance(CheckRetry - time.Minute)
	if o := check(); o.CheckError == "" || down.tries != tries {
		t.Fatalf("asked again within %s: %d tries, %+v", CheckRetry, down.tries, o)
	}
	h.clock.Advance(2 * time.Minute)
	if check(); down.tries == tries {
		t.Fatal("not asked again after CheckRetry")
	}
	if got := h.runningDigest("web"); got != before {
		t.Fatalf("the service moved: %s", got)
	}
}

// TestUpdateStoppedBeforeItsVerdict: an agent stopped between the recreate
// on the new image and the verdict (SIGTERM here; a kill -9 leaves the same
// images.json) finds the update pending at its next start and judges it
// then, outside the window: a healthy image is kept, an unhealthy one is
// rolled back to the previous digest.
func TestUpdateStoppedBeforeItsVerdict(t *testing.T) {
	for _, tc := range []struct {
		name string
		env  string
		want string
	}{
		{"healthy", "VERSION=2", images.ResultUpdated},
		{"unhealthy", "HEALTHY_AFTER=1000h", images.ResultRolledBack},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h := newUpdateHarness(t)
			p, before := h.start("track")
			next := h.derive("1.0.0", tc.env)
			key := images.Key(h.name, "web")
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			u := h.updater()
			u.Backup = func(context.Context, string) error {
				// The agent stops as soon as images.json says the update
				// is under way.
				go func() {
					for ctx.Err() == nil {
						if st, err := images.Open(h.env.Root); err == nil {
							if r := st.Get(key); r != nil && r.Pending != nil {
								cancel()
								return
							}
						}
						time.Sleep(2 * time.Millisecond)
					}
				}()
				return nil
			}
			if out, err := p.Update(ctx, h.env, u); !errors.Is(err, context.Canceled) {
				t.Fatalf("update stopped before its verdict: %+v, %v", out, err)
			}
			st, err := images.Open(h.env.Root)
			if err != nil {
				t.Fatal(err)
			}
			if rec := st.Get(key); rec == nil || rec.Pending == nil || !strings.Contains(rec.Pending.To, next) || rec.Last != nil {
				t.Fatalf("images.json after the stop: %+v", rec)
			}

			// The next start, a day later: the window is closed.
			h.clock = clock.NewFake(sunday04.Add(24 * time.Hour))
			h.store = st
			var notes []string
			u = h.updater()
			u.Notify = func(_ context.Context, title, _ string) { notes = append(notes, title) }
			out, err := p.Update(context.Background(), h.env, u)
			if err != nil {
				t.Fatal(err)
			}
			if len(out) != 1 || out[0].Update == nil || out[0].Update.Result != tc.want || !strings.Contains(out[0].Update.To, next) {
				t.Fatalf("the update judged at the next start: %+v", out)
			}
			want := next
			if tc.want == images.ResultRolledBack {
				want = before
				if len(notes) != 1 || !strings.Contains(notes[0], "rolled back") {
					t.Errorf("notifications: %q", notes)
				}
			} else if len(notes) != 0 {
				t.Errorf("notifications for a kept update: %q", notes)
			}
			if got := h.runningDigest("web"); got != want {
				t.Fatalf("runs %s, want %s (before %s, new %s)", got, want, before, next)
			}
			rec := h.store.Get(key)
			if rec.Pending != nil || rec.Last == nil || rec.Last.Result != tc.want || rec.Digest != want {
				t.Fatalf("record after the verdict: %+v", rec)
			}
			if r, held := hold.Check(h.env.Root, h.name); held {
				t.Fatalf("still held: %s", r)
			}
			// Judged once: a second look changes nothing.
			if out := h.update(p); out[0].Update != nil || h.runningDigest("web") != want {
				t.Fatalf("second look: %+v", out)
			}
		})
	}
}
