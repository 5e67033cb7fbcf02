package docker

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"maps"
	"os"
	"regexp"
	"slices"
	"strings"
	"time"

	"github.com/distribution/reference"
	"github.com/docker/docker/api/types/container"
	"github.com/docker/docker/client"
	"github.com/docker/docker/errdefs"

	"github.com/homelab-agent/homelab-agent/agent/clock"
	"github.com/homelab-agent/homelab-agent/agent/health"
	"github.com/homelab-agent/homelab-agent/agent/hold"
	"github.com/homelab-agent/homelab-agent/agent/images"
	"github.com/homelab-agent/homelab-agent/agent/lab"
	"github.com/homelab-agent/homelab-agent/agent/resource"
)

// ResolveUpdates is a project's update rules per service ("" for the
// services not named) from, lowest precedence first: the lab-wide
// updates: block, the role's defaults (defaults, by service, "" for all),
// and the host's or app's own updates: block (override); a service none
// of them gives a policy follows its tag's digest (track). Without any
// updates: block in the lab for the project the result is nil: images are
// pulled only when missing, as before. services are the project's compose
// services, to check the names override.services uses.
func ResolveUpdates(labWide, override *lab.Updates, defaults map[string]images.Rules, services []string) (map[string]images.Rules, error) {
	if labWide == nil && override == nil {
		return nil, nil
	}
	var window *images.Window
	for _, u := range []*lab.Updates{labWide, override} {
		if u != nil && u.Window != "" {
			w, err := images.ParseWindow(u.Window, u.WindowLength)
			if err != nil {
				return nil, fmt.Errorf("%s:%d:%d: %w", lab.LabFile, u.WindowPos.Line, u.WindowPos.Col, err)
			}
			window = w
		}
	}
	if override != nil {
		for _, svc := range slices.Sorted(maps.Keys(override.Services)) {
			if !slices.Contains(services, svc) {
				return nil, fmt.Errorf("%s:%d:%d: updates.services: no service %q in the compose project (services: %s)",
					lab.LabFile, override.ServicesPos.Line, override.ServicesPos.Col, svc, strings.Join(services, ", "))
			}
		}
	}
	out := map[string]images.Rules{}
	for _, svc := range append([]string{""}, services...) {
		var r images.Rules
		if labWide != nil {
			r.Policy = images.Policy(labWide.Policy)
		}
		d, ok := defaults[svc]
		if !ok {
			d = defaults[""]
		}
		r.MajorStep, r.After, r.AfterUser = d.MajorStep, d.After, d.AfterUser
		r.Policy = cmp.Or(d.Policy, r.Policy)
		if override != nil {
			r.Policy = cmp.Or(images.Policy(override.Services[svc]), images.Policy(override.Policy), r.Policy)
		}
		r.Policy = cmp.Or(r.Policy, images.Track)
		r.Window = window
		out[svc] = r
	}
	return out, nil
}

// rules is a service's resolved update rules (Off when updates are off).
func (p *Project) rules(service string) images.Rules {
	if r, ok := p.Updates[service]; ok {
		return r
	}
	return p.Updates[""]
}

// pin makes each service run what its last update left it on: the
// record's tag (patch, minor) when the compose file still names the
// image the record is about. A compose file that now names another image
// wins, except for a one-major-at-a-time service that would skip a major
// (the update window takes it there a major at a time).
func (p *Project) pin(ctx context.Context, env *resource.Env, cli *client.Client, proj *project) error {
	if p.Updates == nil {
		return nil
	}
	store, err := images.Open(env.Root)
	if err != nil {
		return err
	}
	for _, s := range proj.Services {
		rec := store.Get(images.Key(p.Name, s.Service))
		switch {
		case rec == nil:
		case rec.Image == s.Image && rec.Running == "" && rec.Digest != "" && p.rules(s.Service).Policy == images.Pinned:
			// The tag moved on this host (a manual pull): a pinned
			// service keeps the digest recorded.
			local, err := localDigest(ctx, cli, s.Image)
			if err != nil {
				return err
			}
			if local != rec.Digest {
				if n, err := reference.ParseNormalizedNamed(s.Image); err == nil {
					s.Image = n.Name() + "@" + rec.Digest
				}
			}
		case rec.Image == s.Image && rec.Running != "":
			s.Image = rec.Running
		case rec.Image != s.Image && p.rules(s.Service).MajorStep && majorSkip(cmp.Or(rec.Running, rec.Image), s.Image):
			env.Logger().Warn("this service goes one major version at a time: it stays where it is and the update window takes it there a major at a time",
				"project", p.Name, "service", s.Service, "running", cmp.Or(rec.Running, rec.Image), "compose", s.Image)
			s.Image = cmp.Or(rec.Running, rec.Image)
		}
	}
	return nil
}

// Updater runs image updates: the registry check of each service whose
// policy follows its registry and, inside the service's window, the
// update itself.
type Updater struct {
	Store   *images.Store
	Checker *images.Checker
	// Clock times the health waits (clock.Real when nil).
	Clock clock.Clock
	// Now is the time windows and records use (Clock's when nil).
	Now func() time.Time
	// Backup takes a fresh backup of the project's data before an image
	// changes (nil: none; stateless projects). Its failure cancels the update.
	Backup func(ctx context.Context, project string) error
	// Health is what must pass after an update besides the containers'
	// own healthchecks (the role's probes).
	Health health.Spec
	// HealthEvery is how often probes and containers are polled (1 s).
	HealthEvery time.Duration
	// HealthTimeout bounds the wait for the containers' healthchecks (2 minutes).
	HealthTimeout time.Duration
	// Notify is told about an update that failed or was rolled back.
	Notify func(ctx context.Context, title, message string)
}

func (u *Updater) clock() clock.Clock { return cmp.Or[clock.Clock](u.Clock, clock.Real) }

func (u *Updater) now() time.Time {
	if u.Now != nil {
		return u.Now()
	}
	return u.clock().Now()
}

// CheckRetry is how long a failed registry check is kept before the
// registry is asked again.
const CheckRetry = 15 * time.Minute

// Outcome is what Update did for one service.
type Outcome struct {
	Service string
	// Available is the update the registry offers ("" none).
	Available string
	// Update is set when an update ran.
	Update *images.Update
	// CheckError is a registry check that failed.
	CheckError string
}

// HoldWait is how long an update waits for a backup or a restore that
// holds its project before it gives up until the next pass.
var HoldWait = 5 * time.Minute

// Update checks the project's services in dependency order and updates,
// one at a time, those whose registry has news and whose window is open:
// pull by digest, backup, recreate, wait for health (containers, the
// service's After command, the probes), and on failure roll back to the
// previous image and notify. Results go to the store (images.json).
func (p *Project) Update(ctx context.Context, env *resource.Env, u *Updater) ([]Outcome, error) {
	proj, err := loadProject(ctx, &p.Source, env.Path, p.environ())
	if err != nil {
		return nil, err
	}
	if err := p.resolveUpdates(proj); err != nil {
		return nil, err
	}
	if p.Updates == nil {
		return nil, nil
	}
	if reason, held := hold.Check(env.Root, p.Name); held {
		env.Logger().Info("image updates wait: the project is held", "project", p.Name, "by", reason)
		return nil, nil
	}
	cli, err := p.client()
	if err != nil {
		return nil, err
	}
	var out []Outcome
	defer func() {
		if err := u.Store.Save(); err != nil {
			env.Logger().Warn("cannot save the image records", "error", err.Error())
		}
	}()
	for _, s := range proj.Services {
		rules := p.rules(s.Service)
		if rules.Policy == images.Off {
			continue
		}
		o, err := p.updateService(ctx, env, cli, u, s, rules)
		if err != nil {
			return out, err
		}
		out = append(out, o)
	}
	return out, nil
}

func (p *Project) updateService(ctx context.Context, env *resource.Env, cli *client.Client, u *Updater, s *Spec, rules images.Rules) (Outcome, error) {
	key := images.Key(p.Name, s.Service)
	o := Outcome{Service: s.Service}
	rec := u.Store.Get(key)
	switch {
	case rec == nil:
		rec = &images.Record{Image: s.Image}
	case rec.Image != s.Image && rules.MajorStep && majorSkip(cmp.Or(rec.Running, rec.Image), s.Image):
		// The compose file jumps majors: keep running what runs and step.
		rec.Running, rec.Image = cmp.Or(rec.Running, rec.Image), s.Image
	case rec.Image != s.Image:
		rec = &images.Record{Image: s.Image}
	}
	rec.Policy = rules.Policy
	if rec.Pending != nil {
		// The agent stopped before this update's verdict: judge it now.
		up, err := p.judge(ctx, env, cli, u, s, rec, true)
		if err == nil {
			rec.Last, o.Update = up, up
		}
		u.Store.Put(key, rec)
		if err != nil {
			return o, err
		}
		p.notifyUpdate(ctx, u, s, up)
		return o, nil
	}
	running := cmp.Or(rec.Running, s.Image)
	named, err := reference.ParseNormalizedNamed(running)
	if err != nil {
		return o, fmt.Errorf("service %s: image %s: %w", s.Service, running, err)
	}
	local, err := localDigest(ctx, cli, running)
	if err != nil {
		return o, fmt.Errorf("service %s: %w", s.Service, err)
	}
	if local == "" {
		// Not pulled yet (the pass has not run): nothing to compare.
		u.Store.Put(key, rec)
		return o, nil
	}
	now := u.now()
	if rules.Policy == images.Pinned {
		if rec.Digest == "" {
			rec.Digest = local // recorded once, then kept (see pin)
		}
		u.Store.Put(key, rec)
		return o, nil
	}
	rec.Digest = local
	runTag := ""
	if t, ok := named.(reference.Tagged); ok {
		runTag = t.Tag()
	}
	if rec.CheckError != "" && now.Sub(rec.Checked) < CheckRetry && !now.Before(rec.Checked) {
		// A registry that failed is asked again after CheckRetry, not every pass.
		o.CheckError = rec.CheckError
		u.Store.Put(key, rec)
		return o, nil
	}
	want, err := u.Checker.Want(ctx, rules, s.Image, runTag)
	rec.Checked = now
	if err != nil {
		rec.CheckError = env.Secrets.Redact(err.Error())
		o.CheckError = rec.CheckError
		u.Store.Put(key, rec)
		env.Logger().Warn("image update check failed", "project", p.Name, "service", s.Service, "error", rec.CheckError)
		return o, nil
	}
	rec.CheckError = ""
	if want == nil || (want.Digest == local && want.Tag == runTag) {
		rec.Available = ""
		u.Store.Put(key, rec)
		return o, nil
	}
	rec.Available = named.Name() + ":" + want.Tag + "@" + want.Digest
	o.Available = rec.Available
	if !rules.Window.Open(now) {
		u.Store.Put(key, rec)
		return o, nil
	}
	up, err := p.apply1(ctx, env, cli, u, s, rec, named, want)
	if err == nil {
		rec.Last, o.Update = up, up
	}
	u.Store.Put(key, rec)
	if err != nil {
		return o, err // stopped before the verdict: rec.Pending says what to judge
	}
	p.notifyUpdate(ctx, u, s, up)
	return o, nil
}

func (p *Project) notifyUpdate(ctx context.Context, u *Updater, s *Spec, up *images.Update) {
	if up.Result != images.ResultUpdated && u.Notify != nil {
		u.Notify(ctx, fmt.Sprintf("image update of %s/%s %s", p.Name, s.Service, up.Result),
			fmt.Sprintf("%s → %s: %s", up.From, up.To, up.Error))
	}
}

// apply1 updates one service to want and rolls back when it does not
// come up healthy. rec is updated in place (Running, Digest, Previous,
// Pending). An error means ctx ended before the verdict: rec.Pending
// holds the update for the next start to judge.
func (p *Project) apply1(ctx context.Context, env *resource.Env, cli *client.Client, u *Updater, s *Spec, rec *images.Record,
	named reference.Named, want *images.Check) (*images.Update, error) {
	log := env.Logger().With("project", p.Name, "service", s.Service)
	oldRef := cmp.Or(rec.Running, s.Image)
	oldDigest := rec.Digest
	newRef := named.Name() + ":" + want.Tag
	up := &images.Update{At: u.now(), From: shortRef(oldRef, oldDigest), To: shortRef(newRef, want.Digest)}
	fail := func(result, format string, args ...any) (*images.Update, error) {
		up.Result, up.Error = result, env.Secrets.Redact(fmt.Sprintf(format, args...))
		log.Error("image update "+result, "from", up.From, "to", up.To, "error", up.Error)
		return up, nil
	}
	log.Info("updating image", "from", up.From, "to", up.To)
	old, err := cli.ImageInspect(ctx, oldRef)
	if err != nil {
		return fail(images.ResultFailed, "inspecting the running image %s: %v", oldRef, err)
	}
	// The previous image stays on the host under a tag of its own while
	// it is the rollback target (an untagged image is what prunes remove).
	rollback := named.Name() + ":" + RollbackTag(p.Name, s.Service)
	if err := cli.ImageTag(ctx, old.ID, rollback); err != nil {
		return fail(images.ResultFailed, "keeping the previous image as %s: %v", rollback, err)
	}
	byDigest := named.Name() + "@" + want.Digest
	if err := pull(ctx, cli, env, byDigest, os.Stderr); err != nil {
		return fail(images.ResultFailed, "%v", err)
	}
	if u.Backup != nil {
		if err := u.Backup(ctx, p.Name); err != nil {
			return fail(images.ResultFailed, "the backup before the update failed, nothing changed: %v", err)
		}
	}
	if err := cli.ImageTag(ctx, byDigest, newRef); err != nil {
		return fail(images.ResultFailed, "tagging %s as %s: %v", byDigest, newRef, err)
	}
	rec.Pending = &images.Pending{Update: *up, OldRef: oldRef, OldDigest: oldDigest, OldID: old.ID, NewRef: newRef, NewDigest: want.Digest}
	return p.judge(ctx, env, cli, u, s, rec, false)
}

// judge recreates the service on rec.Pending's new image and keeps it
// when it comes up healthy (containers, the service's After command, the
// probes), or rolls back to the previous image. It clears rec.Pending with
// the verdict, and returns ctx's error, keeping it, when ctx ends first.
// resumed says the agent stopped during the update and judges it at a
// later start.
func (p *Project) judge(ctx context.Context, env *resource.Env, cli *client.Client, u *Updater, s *Spec, rec *images.Record, resumed bool) (*images.Update, error) {
	pend := rec.Pending
	log := env.Logger().With("project", p.Name, "service", s.Service)
	up := &images.Update{At: pend.At, From: pend.From, To: pend.To}
	fail := func(result, format string, args ...any) (*images.Update, error) {
		if ctx.Err() != nil {
			return nil, ctx.Err()
		}
		rec.Pending = nil
		up.Result, up.Error = result, env.Secrets.Redact(fmt.Sprintf(format, args...))
		log.Error("image update "+result, "from", up.From, "to", up.To, "error", up.Error)
		return up, nil
	}
	setRunning := func(ref string) {
		rec.Running = ""
		if ref != rec.Image {
			rec.Running = ref
		}
		u.Store.Put(images.Key(p.Name, s.Service), rec)
		// The pass reads the record from images.json; a start after a
		// kill reads Pending from it.
		if err := u.Store.Save(); err != nil {
			log.Warn("cannot save the image records", "error", err.Error())
		}
	}
	// Until the new image is judged, the project is held: a scheduled
	// backup's quiesce step waits instead of stopping the service under
	// its health check (which would roll back a good update), and a
	// restore is refused. The recreates below run as the holder.
	h, err := hold.Wait(ctx, env.Root, p.Name, "image update of "+s.Service, HoldWait, time.Second)
	if err != nil {
		if ctx.Err() != nil {
			return nil, ctx.Err()
		}
		// Nothing was recreated yet: the old image still runs.
		if err := cli.ImageTag(ctx, pend.OldID, pend.OldRef); err != nil {
			log.Warn("cannot tag the previous image back", "error", err.Error())
		}
		setRunning(pend.OldRef)
		rec.Digest = pend.OldDigest
		return fail(images.ResultFailed, "nothing changed: %v", err)
	}
	defer h.Release()
	ctx = h.Context(ctx)
	if resumed {
		log.Info("judging an image update the agent stopped during", "from", up.From, "to", up.To, "started", pend.At.UTC().Format(time.RFC3339))
	}
	setRunning(pend.NewRef)
	err = p.converge(ctx, env, u, s)
	if r := p.rules(s.Service); err == nil && len(r.After) > 0 {
		log.Info("running the service's step after an update", "command", strings.Join(r.After, " "))
		var outBuf strings.Builder
		err = Exec(ctx, cli, p.Name, s.Service, r.AfterUser, r.After, &outBuf)
		if err != nil {
			err = fmt.Errorf("after the update, %w", err)
		}
	}
	if err == nil {
		err = u.probes(ctx)
	}
	if ctx.Err() != nil {
		return nil, ctx.Err()
	}
	if err == nil {
		rec.Pending = nil
		rec.Previous = shortRef(pend.OldRef, pend.OldDigest)
		rec.Digest, rec.Available = pend.NewDigest, ""
		up.Result = images.ResultUpdated
		log.Info("image updated", "from", up.From, "to", up.To)
		return up, nil
	}
	cause := err
	log.Error("the updated service is not healthy; rolling back", "to", up.From, "error", env.Secrets.Redact(cause.Error()))
	if err := cli.ImageTag(ctx, pend.OldID, pend.OldRef); err != nil {
		return fail(images.ResultFailed, "%v; rolling back: tagging the previous image: %v", cause, err)
	}
	setRunning(pend.OldRef)
	rec.Digest = pend.OldDigest
	if err := p.converge(ctx, env, u, s); err != nil {
		return fail(images.ResultFailed, "%v; the rollback failed too: %v", cause, err)
	}
	return fail(images.ResultRolledBack, "%v", cause)
}

// planUpdates are plan's lines for the updates the registry offers
// ("image nextcloud:30.0 → 30.0.4 (sha256:…)"), with when they apply.
// It asks the registry through the cache in images.json (one HEAD per
// image and TTL); a failed check is a line too, never an error.
func (p *Project) planUpdates(ctx context.Context, env *resource.Env, cli *client.Client, proj *project, compose map[string]string) []string {
	if p.Updates == nil {
		return nil
	}
	store, err := images.Open(env.Root)
	if err != nil {
		return []string{"image updates: " + err.Error()}
	}
	checker := &images.Checker{Store: store}
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	var out []string
	for _, s := range proj.Services {
		rules := p.rules(s.Service)
		if !rules.Policy.Follows() {
			continue
		}
		local, err := localDigest(ctx, cli, s.Image)
		if err != nil || local == "" {
			continue // not pulled yet: the pass pulls what the compose file names
		}
		runTag := ""
		if n, err := reference.ParseNormalizedNamed(s.Image); err == nil {
			if t, ok := n.(reference.Tagged); ok {
				runTag = t.Tag()
			}
		}
		want, err := checker.Want(ctx, rules, compose[s.Service], runTag)
		familiar := s.Image
		if n, err := reference.ParseNormalizedNamed(s.Image); err == nil {
			familiar = reference.FamiliarString(n)
		}
		switch {
		case err != nil:
			out = append(out, fmt.Sprintf("image %s (%s): cannot check the registry: %s", familiar, s.Service, env.Secrets.Redact(err.Error())))
		case want == nil || (want.Digest == local && want.Tag == runTag):
		default:
			when := "no update window: not applied (set updates.window)"
			if rules.Window != nil {
				when = fmt.Sprintf("applied in the window %s, next %s", rules.Window, rules.Window.Next(time.Now()).UTC().Format("2006-01-02 15:04 MST"))
			}
			out = append(out, fmt.Sprintf("image %s → %s (%s) for %s; %s", familiar, want.Tag, want.Digest, s.Service, when))
		}
	}
	if err := store.Save(); err != nil {
		env.Logger().Warn("cannot save the registry answers", "error", err.Error())
	}
	return out
}

// majorSkip reports whether going from the image running to image
// would skip a major version (both tags versions).
func majorSkip(running, image string) bool {
	_, runTag, _, err1 := images.Split(running)
	_, wantTag, _, err2 := images.Split(image)
	rm, ok1 := images.Major(runTag)
	wm, ok2 := images.Major(wantTag)
	return err1 == nil && err2 == nil && ok1 && ok2 && wm > rm+1
}

// converge runs a pass of the project (which recreates what the image
// change touched) and waits until the service's container is healthy.
func (p *Project) converge(ctx context.Context, env *resource.Env, u *Updater, s *Spec) error {
	if _, err := p.CheckApply(ctx, env, true); err != nil {
		return err
	}
	return p.waitService(ctx, u, s)
}

// waitService waits for the service's container to run and, when it has
// a healthcheck, to be healthy; unhealthy or exited fails at once.
func (p *Project) waitService(ctx context.Context, u *Updater, s *Spec) error {
	cli, err := p.client()
	if err != nil {
		return err
	}
	clk := u.clock()
	end := clk.Now().Add(cmp.Or(u.HealthTimeout, 2*time.Minute))
	last := "not found"
	for {
		info, err := cli.ContainerInspect(ctx, s.Name)
		switch {
		case err != nil && !errdefs.IsNotFound(err):
			return err
		case err == nil && info.State != nil:
			st := info.State
			last = st.Status
			if st.Health != nil {
				last = "health " + st.Health.Status
			}
			switch {
			case st.Status == "exited" || st.Status == "dead":
				return fmt.Errorf("container %s %s with code %d", s.Name, st.Status, st.ExitCode)
			case st.Health != nil && st.Health.Status == "unhealthy":
				return fmt.Errorf("container %s is unhealthy%s", s.Name, lastProbe(st.Health.Log))
			case st.Running && (st.Health == nil || st.Health.Status == "healthy"):
				return nil
			}
		}
		if !clk.Now().Before(end) {
			return fmt.Errorf("container %s not healthy after %s (last state: %s)", s.Name, cmp.Or(u.HealthTimeout, 2*time.Minute), last)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-clk.After(cmp.Or(u.HealthEvery, time.Second)):
		}
	}
}

// probes runs the role's probes until they pass or their deadline ends.
func (u *Updater) probes(ctx context.Context) error {
	if len(u.Health.Probes) == 0 {
		return nil
	}
	rep := health.Wait(ctx, u.clock(), u.Health, cmp.Or(u.HealthEvery, time.Second))
	if !rep.OK() {
		return errors.New(rep.Failure())
	}
	return nil
}

// lastProbe is the healthcheck's last output, for the error.
func lastProbe(log []*container.HealthcheckResult) string {
	if len(log) == 0 || log[len(log)-1] == nil {
		return ""
	}
	out := strings.TrimSpace(log[len(log)-1].Output)
	if out == "" {
		return fmt.Sprintf(" (healthcheck exit code %d)", log[len(log)-1].ExitCode)
	}
	return " (healthcheck: " + oneLine(out) + ")"
}

func oneLine(s string) string {
	s = strings.ReplaceAll(s, "\n", " ")
	if len(s) > 200 {
		s = s[:200] + "…"
	}
	return s
}

// localDigest is the registry digest of the local image ref names (from
// its RepoDigests for ref's repository), "" when the image is missing or
// was never pulled from a registry.
func localDigest(ctx context.Context, cli *client.Client, ref string) (string, error) {
	img, err := cli.ImageInspect(ctx, ref)
	if errdefs.IsNotFound(err) {
		return "", nil
	}
	if err != nil {
		return "", fmt.Errorf("inspecting image %s: %w", ref, err)
	}
	named, err := reference.ParseNormalizedNamed(ref)
	if err != nil {
		return "", err
	}
	for _, d := range img.RepoDigests {
		n, err := reference.ParseNormalizedNamed(d)
		if c, ok := n.(reference.Canonical); err == nil && ok && n.Name() == named.Name() {
			return c.Digest().String(), nil
		}
	}
	return "", nil
}

// RollbackTag is the tag that keeps a service's previous image on the
// host while it is the rollback target.
func RollbackTag(project, service string) string {
	t := "homelab-agent-rollback-" + project + "-" + service
	return tagUnsafe.ReplaceAllString(t, "_")[:min(len(t), 128)]
}

var tagUnsafe = regexp.MustCompile(`[^A-Za-z0-9_.-]`)

// shortRef is "ref (sha256:0123456789ab)" for records and messages.
func shortRef(ref, digest string) string {
	if digest == "" {
		return ref
	}
	return ref + "@" + digest
}
