//go:build e2e

package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"maps"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/homelab-agent/homelab-agent/agent/role"
	"github.com/homelab-agent/homelab-agent/bootstrap"
)

// result is one row of e2e-results.md.
type result struct {
	Scenario, Outcome, Time, Detail string
}

type results struct {
	mu   sync.Mutex
	rows []result
	t0   time.Time
}

func (r *results) add(row result) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.rows = append(r.rows, row)
}

func (r *results) write(t *testing.T) {
	var b strings.Builder
	fmt.Fprintf(&b, "# e2e drill results\n\n`make e2e` on %s, %s (%d cores). Total %s.\n\n",
		time.Now().UTC().Format("2006-01-02 15:04 UTC"), hostname(), runtime.NumCPU(), time.Since(r.t0).Round(time.Second))
	b.WriteString("| scenario | result | time | detail |\n|---|---|---|---|\n")
	for _, row := range r.rows {
		fmt.Fprintf(&b, "| %s | %s | %s | %s |\n", row.Scenario, row.Outcome, row.Time, strings.ReplaceAll(row.Detail, "|", `\|`))
	}
	p := filepath.Join(repoRoot(), "e2e-results.md")
	if err := os.WriteFile(p, []byte(b.String()), 0o644); err != nil {
		t.Error(err)
	}
	t.Logf("results in %s:\n%s", p, b.String())
}

func hostname() string { h, _ := os.Hostname(); return h }

func ms(d time.Duration) string {
	if d >= 10*time.Second {
		return d.Round(100 * time.Millisecond).String()
	}
	return d.Round(time.Millisecond).String()
}

func percentile(ds []time.Duration, p float64) time.Duration {
	s := slices.Clone(ds)
	slices.Sort(s)
	if len(s) == 0 {
		return 0
	}
	i := int(p*float64(len(s)) + 0.5)
	if i > 0 {
		i--
	}
	return s[min(i, len(s)-1)]
}

// TestDrill runs the whole-lab drill: one lab, the scenarios in order; a
// failed scenario stops the drill (later ones need the lab in order).
func TestDrill(t *testing.T) {
	res := &results{t0: time.Now()}
	defer res.write(t)
	// The drill leaves the machine as it found it: compared after every
	// cleanup (registered first, so it runs last).
	// A killed run's leftovers go first: they are not the machine's.
	removeLeftovers()
	before := takeMachineState(t)
	var nets []string
	t.Cleanup(func() {
		if os.Getenv("E2E_KEEP") == "" {
			checkMachineLeftAsFound(t, before, nets)
		}
	})
	l := NewLab(t)
	nets = l.netIDs
	scenario := func(name string, fn func(t *testing.T) (string, string)) {
		if t.Failed() {
			res.add(result{name, "not run", "", "an earlier scenario failed"})
			return
		}
		// E2E_SKIP="git server;kill" (name prefixes) skips scenarios
		// while working on another one; never under CI.
		if os.Getenv("E2E_SKIP") != "" && os.Getenv("CI") == "true" {
			t.Fatalf("E2E_SKIP=%q is refused under CI=true: every scenario runs", os.Getenv("E2E_SKIP"))
		}
		for _, s := range strings.Split(os.Getenv("E2E_SKIP"), ";") {
			if s != "" && strings.HasPrefix(name, s) {
				res.add(result{name, "skipped", "", "E2E_SKIP"})
				return
			}
		}
		start := time.Now()
		var took, detail string
		ok := t.Run(name, func(t *testing.T) {
			l.t = t
			took, detail = fn(t)
		})
		l.t = t
		outcome := "pass"
		if !ok {
			outcome = "FAIL"
			took = ms(time.Since(start))
			detail = "see the test log"
		}
		res.add(result{name, outcome, took, detail})
	}
	scenario("cold start", l.coldStart)
	scenario("push a change", l.pushChange)
	scenario("broken push", l.brokenPush)
	scenario("git server down 60 s", l.gitDown)
	scenario("firewall from boot, git server down", l.bootFirewall)
	scenario("kill -9 of an agent, 10 times", l.kill9)
	scenario("drift: a container removed by hand", l.drift)
	scenario("rotate secrets by git push", l.rotateSecrets)
	scenario("disaster recovery", l.disasterRecovery)
	scenario("from zero", l.fromZero)
	// On the lab from zero rebuilt.
	scenario("canary waves: a push that breaks Jellyfin", l.waveRollback)
	scenario("image updates: one rolled back, one inside its window", l.imageUpdates)
}

// coldStart boots the six guests from the plain image with bootstrap's
// vendor data (cloud-init installs its packages, formats the data disk
// and starts the agent, which installs what the roles need), waits until
// all converge, then checks DNS, the firewall matrix and the app
// containers in each guest's own engine.
func (l *Lab) coldStart(t *testing.T) (string, string) {
	start := time.Now()
	var wg sync.WaitGroup
	var mu sync.Mutex
	var cloudInit []string
	for _, g := range l.Guests {
		wg.Add(1)
		go func() {
			defer wg.Done()
			t0 := time.Now()
			l.startGuest(g, l.vendorData(g))
			mu.Lock()
			cloudInit = append(cloudInit, g.Name+" "+ms(time.Since(t0)))
			mu.Unlock()
		}()
	}
	wg.Wait()
	if t.Failed() {
		t.FailNow()
	}
	booted := time.Since(start)
	slices.Sort(cloudInit)
	took := l.waitAll(l.Guests, start, 20*time.Minute, "cold start: every guest converged on "+l.Good[:8], func(g *Guest, s *Status) bool {
		return converged(s, l.Good)
	})
	var slowest time.Duration
	for _, d := range took {
		slowest = max(slowest, d)
	}
	// Type=notify reached READY: systemd says active/running.
	for _, g := range l.Guests {
		out, err := l.in(g, "systemctl", "show", "-p", "ActiveState,SubState,Type", "homelab-agent")
		if err != nil || !strings.Contains(out, "ActiveState=active") || !strings.Contains(out, "SubState=running") || !strings.Contains(out, "Type=notify") {
			l.fail("%s: homelab-agent unit not active/running with Type=notify: %s %v", g.Name, out, err)
		}
		if out, err := l.in(g, "systemctl", "is-enabled", "homelab-agent"); err != nil || strings.TrimSpace(out) != "enabled" {
			l.fail("%s: homelab-agent not enabled: %s %v", g.Name, out, err)
		}
	}
	sealed := l.checkNoHandPlacedSecrets()
	converge := time.Since(start)
	names := l.checkDNS()
	checks := l.checkFirewall()
	apps := l.checkApps()
	pkgs := l.checkPackages()
	return ms(converge), fmt.Sprintf("6 guests from the plain image, cloud-init done in %s (per guest: %s); all converged %s after start (slowest guest); Type=notify units active/running; "+
		"secrets: %s; packages the agent installed through the lab's cache: %s; DNS: %d names answered correctly to each of the 5 other guests (dig); firewall: %d connection checks between guests; app containers running (each guest's own engine, health gate on): %s",
		ms(booted), strings.Join(cloudInit, ", "), ms(slowest), sealed, pkgs, names, checks, apps)
}

// checkDNS asks the dns guest for every lab name from every other guest.
func (l *Lab) checkDNS() int {
	want := map[string]string{}
	for _, h := range l.Lab.Hosts {
		want[h.Name+"."+l.Lab.Domain] = h.IP.String()
	}
	proxy := l.Lab.WithRole("traefik")[0].IP.String()
	for _, s := range role.Services(l.Lab) {
		want[s.Subdomain+"."+l.Lab.Domain] = proxy
	}
	dns := l.Lab.WithRole("dns")[0]
	var names []string
	for n := range want {
		names = append(names, n)
	}
	slices.Sort(names)
	var wg sync.WaitGroup
	errs := make(chan string, 64)
	for _, g := range l.Guests {
		if g.Name == dns.Name {
			continue
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			args := []string{"dig", "+short", "+time=2", "+tries=2", "@" + dns.IP.String()}
			for _, n := range names {
				args = append(args, n, "A")
			}
			out, err := l.in(g, args...)
			got := strings.Fields(out)
			if err != nil || len(got) != len(names) {
				errs <- fmt.Sprintf("%s: dig %v: %v", g.Name, got, err)
				return
			}
			for i, n := range names {
				if got[i] != want[n] {
					errs <- fmt.Sprintf("%s: %s is %s, want %s", g.Name, n, got[i], want[n])
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	var bad []string
	for e := range errs {
		bad = append(bad, e)
	}
	if len(bad) > 0 {
		l.fail("DNS answers:\n%s", strings.Join(bad, "\n"))
	}
	return len(names)
}

// checkFirewall makes real TCP connections between guests: a listener is
// started in the target guest on the port and seen up, and the source
// connects with nc. Admitted flows must connect; others must time out
// (the firewall drops them silently; a refusal fails the check).
func (l *Lab) checkFirewall() int {
	type check struct {
		from, to string
		port     int
		admit    bool
	}
	gw := "gateway"
	checks := []check{
		{"proxy", "cloud", 80, true},    // traefik to nextcloud
		{"photos", "cloud", 80, false},  // another guest: no
		{"proxy", "photos", 2283, true}, // traefik to immich
		{"media", "photos", 2283, false},
		{"proxy", "media", 8096, true}, // traefik to jellyfin
		{"cloud", "media", 8096, false},
		{"proxy", "media", 80, true}, // the whoami app's expose port
		{"dns1", "media", 80, false},
		{gw, "cloud", 22, true}, // SSH from the gateway only
		{"dns1", "cloud", 22, false},
		{"cloud", "proxy", 443, true}, // traefik's entry points: the whole lab
		{"cloud", "dns1", 53, true},   // DNS over TCP: the whole lab
		{"vpn", "cloud", 22, true},    // the router's lab IP counts as the VPN
		{"proxy", "dns1", 22, false},
	}
	for _, c := range checks {
		to := l.guest(c.to)
		// Where an app publishes the port (its guest's engine), the app
		// answers; elsewhere a listener in the guest stands in.
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		// A listener that answers one connection; replaced per check.
		lis := fmt.Sprintf("timeout 15 nc -l -p %d -q 0 </dev/null >/dev/null 2>&1 &", c.port)
		if c.port == 53 {
			lis = "true" // named listens
		}
		if _, err := dexec(ctx, to.Container, nil, "sh", "-c", lis); err != nil {
			cancel()
			l.fail("listener on %s:%d: %v", c.to, c.port, err)
		}
		from := l.ID + "-" + c.from
		if c.from == gw {
			from = l.ID + "-gateway"
		}
		// The listener must be up (ss in the target), so that a flow that
		// does not connect was dropped, not refused for want of one.
		up := false
		for j := 0; j < 50; j++ {
			out, _ := dexec(ctx, to.Container, nil, "sh", "-c", fmt.Sprintf("ss -Hltn 'sport = :%d' | wc -l", c.port))
			if strings.TrimSpace(out) != "0" {
				up = true
				break
			}
			time.Sleep(100 * time.Millisecond)
		}
		if !up {
			cancel()
			l.fail("firewall check: nothing listens on %s:%d", c.to, c.port)
		}
		t0 := time.Now()
		_, err := dexec(ctx, from, nil, "nc", "-z", "-w", "3", to.IP, fmt.Sprint(c.port))
		took := time.Since(t0)
		cancel()
		if (err == nil) != c.admit {
			l.fail("firewall: %s -> %s:%d connected=%v, want %v", c.from, c.to, c.port, err == nil, c.admit)
		}
		if !c.admit && took < 2500*time.Millisecond {
			// A drop is silent: nc waits its 3 s. A quick failure is a
			// refusal (a reject, or no listener after all).
			l.fail("firewall: %s -> %s:%d failed in %s: refused, not dropped", c.from, c.to, c.port, took.Round(time.Millisecond))
		}
		// Stop the listener if it is still there.
		dexec(context.Background(), to.Container, nil, "sh", "-c", fmt.Sprintf("pkill -f 'nc -l -p %d' || true", c.port))
	}
	return len(checks)
}

// checkApps checks that every app project's containers run, each in its
// own guest's engine.
func (l *Lab) checkApps() string {
	var out []string
	for _, p := range slices.Sorted(maps.Keys(appProjects)) {
		out = append(out, p+"@"+appProjects[p]+" "+l.checkProject(p, 2*time.Minute))
	}
	return strings.Join(out, ", ")
}

// checkProject waits until every container of the project runs in its
// guest's engine and returns "running/all".
func (l *Lab) checkProject(p string, timeout time.Duration) string {
	g := l.guest(appProjects[p])
	deadline := time.Now().Add(timeout)
	for {
		all, _ := l.inEngine(g, "ps", "-a", "--filter", "label=dev.homelab-agent.project="+p, "--format", "{{.Names}} {{.State}}")
		lines := strings.Split(strings.TrimSpace(all), "\n")
		running := 0
		for _, ln := range lines {
			if strings.HasSuffix(ln, " running") {
				running++
			}
		}
		if all != "" && running == len(lines) {
			return fmt.Sprintf("%d/%d", running, len(lines))
		}
		if time.Now().After(deadline) {
			l.fail("app project %s on %s: containers not all running:\n%s", p, g.Name, all)
		}
		time.Sleep(time.Second)
	}
}

// checkPackages checks that the agent installed each role's packages
// (dpkg says installed) and that none of them was in the image.
func (l *Lab) checkPackages() string {
	want := map[string][]string{
		"dns": {"bind9"}, "tailscale-router": {"tailscale"},
		"traefik": {"docker.io"}, "nextcloud": {"docker.io", "restic"}, "immich": {"docker.io", "restic"}, "jellyfin": {"docker.io"},
	}
	var out []string
	for _, g := range l.Guests {
		for _, p := range want[g.Role] {
			v, err := l.in(g, "dpkg-query", "-W", "-f", "${Status} ${Version}", p)
			if err != nil || !strings.HasPrefix(v, "install ok installed ") {
				l.fail("%s: package %s not installed: %q %v", g.Name, p, v, err)
			}
			out = append(out, g.Name+" "+p+" "+strings.TrimPrefix(v, "install ok installed "))
		}
	}
	img := l.Image
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if got, _ := docker(ctx, "run", "--rm", "--network", "none", img, "sh", "-c", "dpkg-query -W -f '${Package}\\n' bind9 restic docker.io tailscale nftables git 2>/dev/null || true"); strings.TrimSpace(got) != "" {
		l.fail("the guest image carries packages the roles need: %s", got)
	}
	return strings.Join(out, ", ")
}

// pushChange pushes a change of the DNS upstream and measures
// push-to-converged on every guest, by polling and then by webhook.
func (l *Lab) pushChange(t *testing.T) (string, string) {
	dns := l.guest(l.Lab.WithRole("dns")[0].Name)
	// named's own word that it reloaded: rndc status's "last configured".
	lastConfigured := func() string {
		out, err := l.in(dns, "rndc", "status")
		if err != nil {
			l.fail("rndc status on %s: %v\n%s", dns.Name, err, out)
		}
		for _, line := range strings.Split(out, "\n") {
			if v, ok := strings.CutPrefix(line, "last configured: "); ok {
				return strings.TrimSpace(v)
			}
		}
		l.fail("rndc status on %s has no 'last configured' line:\n%s", dns.Name, out)
		return ""
	}
	configured0 := lastConfigured()
	measure := func(upstream string, hook bool) []time.Duration {
		l.setLine("homelab.yaml", "dns:", "dns:     {upstream: "+upstream+"}")
		commit := l.commit("e2e: dns upstream " + upstream)
		start := time.Now()
		if hook {
			var wg sync.WaitGroup
			for _, g := range l.Guests {
				wg.Add(1)
				go func() {
					defer wg.Done()
					if err := l.webhook(g); err != nil {
						t.Error(err)
					}
				}()
			}
			wg.Wait()
		}
		took := l.waitAll(l.Guests, start, 2*time.Minute, "push "+commit[:8], func(g *Guest, s *Status) bool { return converged(s, commit) })
		// waitAll sees a guest converge only when its turn in a round of
		// `docker exec ... status` calls comes (0.1-0.3 s each, six per
		// round): the agent's own last_apply, on the same kernel clock,
		// says when it converged.
		for name, d := range took {
			if s, err := l.status(l.guest(name)); err == nil && converged(s, commit) && s.LastApply.After(start) && s.LastApply.Sub(start) < d {
				took[name] = s.LastApply.Sub(start)
			}
		}
		l.Good = commit
		// The affected guest really changed: named runs with the new upstream.
		out, err := l.in(dns, "grep", "-c", upstreamName(upstream), "/etc/bind/named.conf")
		if err != nil || strings.TrimSpace(out) == "0" {
			l.fail("dns1's named.conf lacks %s after the push: %v", upstream, err)
		}
		var ds []time.Duration
		for _, d := range took {
			ds = append(ds, d)
		}
		return ds
	}
	poll := measure("mullvad-family", false)
	time.Sleep(1100 * time.Millisecond) // rndc's times have one-second steps
	configured1 := lastConfigured()
	hook := measure("mullvad-adblock", true)
	configured2 := lastConfigured()
	if configured1 == configured0 || configured2 == configured1 {
		l.fail("named did not reload on %s: rndc status 'last configured' %q, %q, %q", dns.Name, configured0, configured1, configured2)
	}
	// named still answers after its reload.
	l.checkDNS()
	st, err := l.status(dns)
	if err != nil {
		l.fail("status of %s: %v", dns.Name, err)
	}
	return fmt.Sprintf("poll p50 %s / max %s; webhook p50 %s / max %s", ms(percentile(poll, .5)), ms(percentile(poll, 1)), ms(percentile(hook, .5)), ms(percentile(hook, 1))),
		fmt.Sprintf("dns.upstream changed twice (named.conf on dns1 rewritten; named reloaded: rndc status 'last configured' %s, then %s, then %s; DNS still answers); all 6 guests on each new commit; poll interval %s as /status reports it; from `git push` done to `applied_commit` in /status", configured0, configured1, configured2, st.Interval)
}

func upstreamName(profile string) string {
	return strings.TrimPrefix(profile, "mullvad-") + ".dns.mullvad.net"
}

// brokenPush pushes homelab.yaml with an unknown key: every guest refuses
// it with file:line:col and stays on the last good commit.
func (l *Lab) brokenPush(t *testing.T) (string, string) {
	good := l.Good
	l.edit("homelab.yaml", "domain: home.example", "domain: home.example\ndomian: typo.example")
	bad := l.commit("e2e: a typo")
	start := time.Now()
	took := l.waitAll(l.Guests, start, 2*time.Minute, "broken push "+bad[:8]+" refused", func(g *Guest, s *Status) bool {
		return s.BadCommit == bad && strings.Contains(s.BadReason, "homelab.yaml:4:1") &&
			s.AppliedCommit == good && s.LastGoodCommit == good &&
			(s.LastError == "" || strings.Contains(s.LastError, "is refused; on last good commit"))
	})
	var ds []time.Duration
	for _, d := range took {
		ds = append(ds, d)
	}
	s, _ := l.status(l.Guests[0])
	reason := strings.SplitN(s.BadReason, "\n", 2)[0]
	// DNS still answers on the last good state.
	l.checkDNS()
	// The fix converges everyone.
	l.edit("homelab.yaml", "\ndomian: typo.example", "")
	fix := l.commit("e2e: fix the typo")
	l.waitAll(l.Guests, time.Now(), 2*time.Minute, "fix "+fix[:8], func(g *Guest, s *Status) bool {
		return converged(s, fix) && s.BadCommit == ""
	})
	l.Good = fix
	return "refused on all 6 in max " + ms(percentile(ds, 1)),
		fmt.Sprintf("every guest: bad_commit set, applied and last good unchanged, DNS still answers; reason %q; the fix then converged all 6", reason)
}

// gitDown stops the git server for 60 s: nothing breaks, staleness is
// reported, and the guests recover once it is back.
func (l *Lab) gitDown(t *testing.T) (string, string) {
	git := l.ID + "-git"
	l.must("stop", "-t", "1", git)
	down := time.Now()
	stale := l.waitAll(l.Guests, down, 90*time.Second, "stale reported while the git server is down", func(g *Guest, s *Status) bool {
		return s.Stale && s.SyncError != "" && s.AppliedCommit == l.Good && s.LastError == ""
	})
	var maxStale time.Duration
	for _, d := range stale {
		maxStale = max(maxStale, d)
	}
	if wait := 60*time.Second - time.Since(down); wait > 0 {
		time.Sleep(wait)
	}
	// Nothing broke: DNS answers, units running.
	l.checkDNS()
	for _, g := range l.Guests {
		if out, err := l.in(g, "systemctl", "is-active", "homelab-agent"); err != nil {
			l.fail("%s: agent not active while the git server is down: %s", g.Name, out)
		}
	}
	l.must("start", git)
	back := time.Now()
	// Push while it is back: every guest must sync and apply it (by polling,
	// through its backoff).
	l.setLine("homelab.yaml", "  keep:", "  keep: {daily: 8, weekly: 4, monthly: 6}")
	c := l.commit("e2e: after the outage")
	rec := l.waitAll(l.Guests, back, 5*time.Minute, "recovery after the git server returned", func(g *Guest, s *Status) bool {
		return converged(s, c) && !s.Stale && s.SyncError == ""
	})
	l.Good = c
	var maxRec time.Duration
	for _, d := range rec {
		maxRec = max(maxRec, d)
	}
	return fmt.Sprintf("down %s; recovered in max %s", ms(back.Sub(down)), ms(maxRec)),
		fmt.Sprintf("stale: true on all 6 within %s of the stop (3 intervals + 30 s); DNS answered and every agent stayed active throughout; a commit pushed on return applied on all 6 (through the agents' backoff) in max %s", ms(maxStale), ms(maxRec))
}

// kill9 kills a guest's agent with SIGKILL at a random moment after a push,
// ten times; the guest converges every time.
func (l *Lab) kill9(t *testing.T) (string, string) {
	g := l.guest("cloud")
	var ds []time.Duration
	for i := range 10 {
		l.setLine("homelab.yaml", "  keep:", fmt.Sprintf("  keep: {daily: %d, weekly: 4, monthly: 6}", 10+i))
		c := l.commit(fmt.Sprintf("e2e: kill -9 round %d", i+1))
		start := time.Now()
		if err := l.webhook(g); err != nil {
			l.fail("%v", err)
		}
		time.Sleep(time.Duration(rand.IntN(1500)) * time.Millisecond)
		if out, err := l.in(g, "systemctl", "kill", "-s", "KILL", "--kill-whom=main", "homelab-agent"); err != nil {
			l.fail("kill: %s %v", out, err)
		}
		took := l.waitAll([]*Guest{g}, start, 2*time.Minute, fmt.Sprintf("kill -9 round %d: converged on %s", i+1, c[:8]), func(g *Guest, s *Status) bool {
			return converged(s, c)
		})
		ds = append(ds, took[g.Name])
		l.Good = c
	}
	out, _ := l.in(g, "systemctl", "show", "-p", "NRestarts", "homelab-agent")
	if n := strings.TrimSpace(strings.TrimPrefix(strings.TrimSpace(out), "NRestarts=")); n != "10" {
		l.fail("systemd counted %q restarts of the agent after 10 kills, want 10", strings.TrimSpace(out))
	}
	return fmt.Sprintf("to converged p50 %s / max %s", ms(percentile(ds, .5)), ms(percentile(ds, 1))),
		fmt.Sprintf("guest cloud (nextcloud: containers and files); SIGKILL 0–1.5 s after a webhook for a new commit; systemd restarted it (%s, Restart=always, RestartSec=5s) and it converged all 10 times", strings.TrimSpace(out))
}

// drift removes the media guest's Jellyfin container by hand (docker rm
// -f on the engine) and waits until the agent's next poll has put it back
// and counted the repair as drift in /status.
func (l *Lab) drift(t *testing.T) (string, string) {
	g := l.guest("media")
	const ctr = "jellyfin-jellyfin-1"
	st, err := l.status(g)
	if err != nil {
		l.fail("status of media: %v", err)
	}
	before := 0
	if st.Drift != nil {
		before = st.Drift.Repaired
	}
	start := time.Now()
	if out, err := l.inEngine(g, "rm", "-f", ctr); err != nil {
		l.fail("%v %s", err, out)
	}
	took := l.waitAll([]*Guest{g}, start, 2*time.Minute, "drift repaired on media", func(g *Guest, s *Status) bool {
		return s.Drift != nil && s.Drift.Repaired > before
	})
	st, _ = l.status(g)
	running, _ := l.inEngine(g, "inspect", "-f", "{{.State.Running}}", ctr)
	running = strings.TrimSpace(running)
	if running != "true" {
		l.fail("%s after the repair: running=%s", ctr, running)
	}
	return ms(took[g.Name]), fmt.Sprintf("`docker rm -f %s` in the media guest's engine; the media agent's next poll (interval %s) recreated it and counted drift (%d repaired; %s)",
		ctr, st.Interval, st.Drift.Repaired-before, strings.Join(st.Drift.LastChanges, "; "))
}

// manifest lists every file under dir in the guest with its sha256, owner
// and mode. The live database folder (./postgres, a real PostgreSQL) is
// left out: its files change while the server runs.
func (l *Lab) manifest(g *Guest, dir string) (string, error) {
	return l.in(g, "sh", "-c", `cd "$1" && find . -path ./postgres -prune -o -type f -printf '%u:%g %m %p\n' | LC_ALL=C sort && find . -path ./postgres -prune -o -type f -print0 | LC_ALL=C sort -z | xargs -0 -r sha256sum`, "sh", dir)
}

// disasterRecovery writes data into the cloud guest's service folder,
// backs it up, destroys the guest, its data volume and its containers,
// and recreates it from the image with the same vendor data: the agent
// restores the data by itself. RTO is from the new container's start to
// the agent converged with the data back and the app containers running.
func (l *Lab) disasterRecovery(t *testing.T) (string, string) {
	g := l.guest("cloud")
	svc := "/srv/data/nextcloud"
	// Data: 8 MiB of random bytes, a tree of small files, a symlink-free
	// nested folder, and a file with an odd name.
	write := `set -e
mkdir -p "$1/html/data/alice/files/photos" "$1/html/config"
head -c 8388608 /dev/urandom >"$1/html/data/alice/files/big.bin"
for i in $(seq 1 200); do head -c $((i * 37)) /dev/urandom >"$1/html/data/alice/files/photos/p$i.jpg"; done
printf '<?php $CONFIG = array("instanceid" => "e2e");\n' >"$1/html/config/config.php"
printf 'odd\n' >"$1/html/data/alice/files/a file with spaces & ümlauts.txt"
chown -R 33:33 "$1/html" # www-data, as the nextcloud image's entrypoint leaves it
sync`
	if out, err := l.in(g, "sh", "-c", write, "sh", svc); err != nil {
		l.fail("writing data: %v %s", err, out)
	}
	// A row in Nextcloud's real PostgreSQL, written before the backup and
	// read back after the guest's self-restore.
	const row = "e2e-dr-row-7f3a"
	l.psql("nextcloud-db-1", "CREATE TABLE IF NOT EXISTS e2e_dr (v text); INSERT INTO e2e_dr VALUES ('"+row+"');", time.Minute)
	bstart := time.Now()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	out, err := dexec(ctx, g.Container, nil, "homelab-agent", "backup", "--host", g.Name, "--repo", "/var/lib/homelab-agent/repo")
	cancel()
	if err != nil {
		l.fail("backup: %v\n%s", err, out)
	}
	backupTook := time.Since(bstart)
	// Taken after the backup: occ wrote 'maintenance' => true into
	// config.php for it and false after; the snapshot holds true, and the
	// restore must bring back the file as it is now (maintenance off).
	before, err := l.manifest(g, svc)
	if err != nil || strings.Count(before, "\n") < 400 {
		l.fail("manifest before: %v\n%s", err, before)
	}
	l.drData = before
	vendor := g.Vendor

	// The disaster: the VM, its containers and its data are gone. A new VM
	// gets a new, blank data disk: the same loop device over an emptied
	// file.
	l.must("rm", "-f", "-v", g.Container)
	l.must("volume", "rm", g.Volume)
	l.wipeDisk(g)

	start := time.Now()
	l.startGuest(g, l.vendorData(g))
	if string(g.Vendor) != string(vendor) {
		l.fail("the recreated guest got other vendor data")
	}
	l.waitAll([]*Guest{g}, start, 15*time.Minute, "recreated cloud converged on "+l.Good[:8], func(g *Guest, s *Status) bool {
		return converged(s, l.Good)
	})
	how := l.restored(g, svc, before)
	apps := l.checkProject("nextcloud", 2*time.Minute)
	rto := time.Since(start)
	if got := l.psql("nextcloud-db-1", "SELECT v FROM e2e_dr", 2*time.Minute); got != row {
		l.fail("nextcloud's database after the restore: %q, want the row %q written before the backup", got, row)
	}
	return "RTO " + ms(rto), fmt.Sprintf("guest cloud: %d files (8 MiB + 200 small + odd names) in %s and a row in Nextcloud's PostgreSQL (backed up as a pg_dumpall stream; the live database folder is excluded), backed up in %s by `homelab-agent backup` to the lab's S3 server; guest container (with its engine and the nextcloud containers) destroyed, data disk blanked; recreated from the plain image with byte-identical vendor data (cloud-init formatted the disk, the agent reinstalled its packages); %s; sha256, owner and mode of every file identical; the row read back with psql; nextcloud containers %s",
		strings.Count(before, "\n")/2, svc, ms(backupTook), how, apps)
}

// restored checks that the guest's service data equals want (a manifest)
// and that the agent's self-restore (backup.SelfRestore, in the first
// converge) brought it back, as its journal shows; anything else fails.
func (l *Lab) restored(g *Guest, dir, want string) string {
	l.t.Helper()
	got, err := l.manifest(g, dir)
	if err == nil && got == want {
		j, _ := l.in(g, "journalctl", "-u", "homelab-agent", "--no-pager", "-o", "cat")
		if !strings.Contains(j, "restored snapshot") {
			l.fail("%s: data is back but the agent's journal does not show a self-restore", g.Name)
		}
		if g.Role == "nextcloud" {
			// The database comes back from its dump (pg_dumpall, loaded
			// into the fresh database before the app starts), not as live
			// PostgreSQL files: the backup excludes those.
			if !strings.Contains(j, "loaded its database dump nextcloud-database") {
				l.fail("%s: the self-restore did not load Nextcloud's database dump (journal)", g.Name)
			}
			return "the agent self-restored it in its first converge: files, then the database from its dump before the app started"
		}
		return "the agent self-restored it in its first converge"
	}
	if strings.TrimSpace(got) != "" {
		l.fail("%s: data in %s differs from the backup and is not empty:\n%s", g.Name, dir, tail([]byte(got), 10))
	}
	// The feature under test did not happen: that is a failure, never a
	// pass "restored by hand".
	l.fail("%s: the agent did not self-restore %s in its first converge (the data folder is empty)", g.Name, dir)
	return ""
}

// psql runs sql in a PostgreSQL container of the cloud guest's engine (as the
// nextcloud user, over TCP to 127.0.0.1 as the image trusts it), retrying
// while the server starts, and returns its unaligned output.
func (l *Lab) psql(container, sql string, timeout time.Duration) string {
	l.t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		cmd := exec.Command("docker", "exec", "-i", l.guest("cloud").Container, guestDocker, "exec", "-i", container,
			"psql", "-v", "ON_ERROR_STOP=1", "-At", "-h", "127.0.0.1", "-U", "nextcloud", "-d", "nextcloud")
		cmd.Stdin = strings.NewReader(sql)
		out, err := cmd.CombinedOutput()
		if err == nil {
			return strings.TrimSpace(string(out))
		}
		if time.Now().After(deadline) {
			l.fail("psql in %s: %v\n%s", container, err, out)
		}
		time.Sleep(500 * time.Millisecond)
	}
}

// checkNoHandPlacedSecrets asserts that every guest got its secrets from the
// repo only: no secrets.env, its age identity (0600) from the vendor data,
// and every secret validate says it needs readable by its agent (the
// agent's status lists none missing). It returns what it saw.
func (l *Lab) checkNoHandPlacedSecrets() string {
	l.t.Helper()
	files := 0
	for _, g := range l.Guests {
		if out, err := l.in(g, "test", "-e", "/etc/homelab-agent/secrets.env"); err == nil {
			l.fail("%s: a secrets.env is on the guest: %s", g.Name, out)
		}
		out, err := l.in(g, "stat", "-c", "%a", bootstrap.IdentityPath)
		if err != nil || strings.TrimSpace(out) != "600" {
			l.fail("%s: the age identity from the vendor data: mode %q %v", g.Name, out, err)
		}
		if _, err := os.Stat(filepath.Join(l.Work, "secrets", g.Name+".env.age")); err == nil {
			files++
		}
	}
	return fmt.Sprintf("no secrets.env on any guest; each has its age identity (0600) from the vendor data; %d hosts decrypt their own secrets/<host>.env.age from the repo (the drill holds only the master key)", files)
}

// rotateSecrets changes NEXTCLOUD_DB_PASSWORD and RESTIC_PASSWORD with
// `homelab-agent secrets set` and a push, as an admin would. Done when every
// guest converged on the commit, Nextcloud's database user has a new
// password (its SCRAM verifier changed: ALTER ROLE ran) and its containers
// run, the backup repository opens with the new password and no longer with
// the old one, a snapshot taken before the rotation still restores (restic
// restore --verify with the new password), and neither new value appears in
// any agent's journal.
func (l *Lab) rotateSecrets(t *testing.T) (string, string) {
	g := l.guest("cloud")
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	// A file of the service's, in the snapshot taken before the rotation.
	if out, err := l.in(g, "sh", "-c", "echo before-rotation >/srv/data/nextcloud/e2e-rotation-marker"); err != nil {
		l.fail("%v %s", err, out)
	}
	if out, err := dexec(ctx, g.Container, nil, "homelab-agent", "backup"); err != nil {
		l.fail("backup before the rotation: %v\n%s", err, out)
	}
	out, err := dexec(ctx, g.Container, nil, "homelab-agent", "snapshots", "--service", "nextcloud", "--json")
	var snaps []struct {
		ID   string   `json:"id"`
		Tags []string `json:"tags"`
	}
	if err != nil || json.Unmarshal([]byte(out), &snaps) != nil || len(snaps) == 0 {
		l.fail("snapshots before the rotation: %v\n%s", err, out)
	}
	// The newest snapshot of the files (a database dump is a snapshot of
	// its own, tagged dump:<name>).
	var old struct {
		ID   string   `json:"id"`
		Tags []string `json:"tags"`
	}
	for _, s := range snaps {
		if !slices.ContainsFunc(s.Tags, func(t string) bool { return strings.HasPrefix(t, "dump:") }) {
			old = s
		}
	}
	if old.ID == "" {
		l.fail("no files snapshot of nextcloud before the rotation:\n%s", out)
	}
	const verifier = "SELECT rolpassword FROM pg_authid WHERE rolname = 'nextcloud'"
	before := l.psql("nextcloud-db-1", verifier, time.Minute)

	oldPW := secretValue("RESTIC_PASSWORD")
	newDB, newPW := "e2e-db-password-rotated-2", "e2e restic password rotated 2"
	l.setSecret("NEXTCLOUD_DB_PASSWORD", newDB)
	l.setSecret("RESTIC_PASSWORD", newPW)
	start := time.Now()
	c := l.commit("e2e: rotate NEXTCLOUD_DB_PASSWORD and RESTIC_PASSWORD")
	took := l.waitAll(l.Guests, start, 4*time.Minute, "every guest converged on the rotation "+c[:8], func(g *Guest, s *Status) bool {
		return converged(s, c)
	})
	l.Good = c
	var slowest time.Duration
	for _, d := range took {
		slowest = max(slowest, d)
	}
	if after := l.psql("nextcloud-db-1", verifier, time.Minute); after == before || after == "" {
		l.fail("nextcloud's database user kept its password verifier: ALTER ROLE did not run")
	}
	apps := l.checkProject("nextcloud", 2*time.Minute)

	restic := func(pw string, args ...string) (string, error) {
		env := []string{"env", "RESTIC_REPOSITORY=s3:http://" + s3IP + ":9000/lab-backups", "RESTIC_PASSWORD=" + pw,
			"AWS_ACCESS_KEY_ID=" + secretValue("AWS_ACCESS_KEY_ID"), "AWS_SECRET_ACCESS_KEY=" + secretValue("AWS_SECRET_ACCESS_KEY"), "restic", "--no-cache"}
		return dexec(ctx, g.Container, nil, append(env, args...)...)
	}
	if out, err := restic(oldPW, "cat", "config"); err == nil {
		l.fail("the old RESTIC_PASSWORD still opens the repository after the rotation: %s", out)
	}
	if out, err := restic(newPW, "cat", "config"); err != nil {
		l.fail("the new RESTIC_PASSWORD does not open the repository: %v\n%s", err, out)
	}
	target := "/var/tmp/e2e-rotated-restore"
	if out, err := restic(newPW, "restore", old.ID, "--target", target, "--verify"); err != nil {
		l.fail("snapshot %s, taken before the rotation, does not restore with the new password: %v\n%s", old.ID[:8], err, out)
	}
	n, err := l.in(g, "sh", "-c", `grep -rqx before-rotation "$1" || exit 3; find "$1" -type f | wc -l; rm -rf "$1"`, "sh", target)
	if err != nil || strings.TrimSpace(n) == "0" {
		l.fail("the snapshot %s restored without the file written before it: %q %v", old.ID[:8], n, err)
	}
	for _, h := range l.Guests {
		j, _ := l.in(h, "journalctl", "-u", "homelab-agent", "--no-pager", "-o", "cat")
		for _, v := range []string{newDB, newPW, oldPW} {
			if strings.Contains(j, v) {
				l.fail("%s: a secret value is in the agent's journal", h.Name)
			}
		}
	}
	return ms(slowest), fmt.Sprintf("`secrets set` of both + push: all 6 converged on %s within %s; nextcloud's DB user got a new SCRAM verifier (ALTER ROLE), containers %s; the repository opens with the new RESTIC_PASSWORD only; snapshot %s from before the rotation restored and verified (%s files) with it; no value in any journal",
		c[:8], ms(slowest), apps, old.ID[:8], strings.TrimSpace(n))
}

// secretValue is the drill's value of a secret of secretsEnv.
func secretValue(name string) string {
	for _, line := range strings.Split(secretsEnv, "\n") {
		if k, v, ok := strings.Cut(line, "="); ok && k == name {
			return v
		}
	}
	panic("no secret " + name)
}
