//go:build e2e

package e2e

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// jellyfinCompose is media's own compose file (hosts.media.compose), as a
// user keeps one to change the role's: the role's file with the container
// port given by port. 8096 is where Jellyfin (and its stand-in) answers;
// anything else is the push that breaks the service while every check of
// the lab passes.
func jellyfinCompose(port int) string {
	return fmt.Sprintf(`# media's own Jellyfin project (the role's compose file, customised)
services:
  jellyfin:
    image: docker.io/jellyfin/jellyfin:10.10
    restart: unless-stopped
    ports:
      - "${HTTP_PORT}:%d"
    environment:
      JELLYFIN_PublishedServerUrl: ${PUBLIC_URL}
    volumes:
      - ${DATA_DIR}/config:/config
      - ${DATA_DIR}/cache:/cache
      - ${DATA_DIR}/media:/media:ro
`, port)
}

// waveRollback: canary waves (media wave 1, every other host wave 2)
// and a push that breaks Jellyfin's health on media (its compose file maps
// the published port to a container port nothing listens on). Done when
// media rolled the commit back within 120 s naming the failing probe, no
// wave-2 host ever applied it and each refused it naming media, `status
// --fleet` on another guest shows it and exits 1; then the fix rolls out
// wave by wave: media healthy on it before any wave-2 host applies it, and
// the time from the push to the last wave converged and healthy is measured.
func (l *Lab) waveRollback(t *testing.T) (string, string) {
	media := l.guest("media")
	for _, h := range l.Lab.Hosts {
		wave := "2"
		if h.Name == media.Name {
			wave = "1"
		}
		l.setWave(h.Name, wave)
	}
	l.setSecret("FLEET_KEY", "e2e-fleet-key-3b9d")
	os.MkdirAll(filepath.Join(l.Work, "media"), 0o755)
	if err := os.WriteFile(filepath.Join(l.Work, "media", "compose.yaml"), []byte(jellyfinCompose(8096)), 0o644); err != nil {
		l.fail("%v", err)
	}
	l.edit("homelab.yaml", "    role: jellyfin\n", "    role: jellyfin\n    compose: media/compose.yaml\n")
	if _, err := gitRun(l.Work, "add", "-A"); err != nil {
		l.fail("%v", err)
	}
	start := time.Now()
	waves := l.commit("e2e: canary waves; media keeps its own compose file")
	l.waitAll(l.Guests, start, 5*time.Minute, "every guest on the waves commit "+waves[:8], func(_ *Guest, s *Status) bool {
		return converged(s, waves) && s.healthy("")
	})
	l.Good = waves

	// The bad push.
	os.WriteFile(filepath.Join(l.Work, "media", "compose.yaml"), []byte(jellyfinCompose(8097)), 0o644)
	start = time.Now()
	bad := l.commit("e2e: jellyfin's container port 8096 -> 8097 (breaks it)")
	others := l.others(media)
	var rolled time.Duration
	for {
		s, err := l.status(media)
		if err == nil && s.BadCommit == bad {
			if rolled == 0 {
				rolled = time.Since(start) // refused: the return to the last good commit follows
			}
			if !strings.Contains(s.BadReason, "jellyfin /health") {
				l.fail("media rolled back for another reason: %q", s.BadReason)
			}
			if s.AppliedCommit == waves && s.LastGoodCommit == waves && strings.Contains(s.LastError, "is refused; on last good commit") {
				break
			}
		}
		if time.Since(start) > 150*time.Second {
			l.fail("media did not roll %s back within 150 s: %+v %v", bad[:8], s, err)
		}
		l.neverApplied(others, bad)
		time.Sleep(time.Second)
	}
	if rolled > 120*time.Second {
		l.fail("media rolled back after %s, more than 120 s", ms(rolled))
	}
	// The wave-2 hosts refuse it, naming media; none ever applied it.
	l.waitAll(others, start, 2*time.Minute, "wave 2 refuses "+bad[:8], func(_ *Guest, s *Status) bool {
		if s.AppliedCommit == bad {
			l.fail("%s applied the commit media rolled back", s.Host)
		}
		return s.BadCommit == bad && strings.Contains(s.BadReason, "media") && s.AppliedCommit == waves
	})
	// Jellyfin serves again on the last good commit.
	if out, err := l.in(media, "curl", "-fsS", "-o", "/dev/null", "-w", "%{http_code}", "http://127.0.0.1:8096/health"); err != nil || out != "200" {
		l.fail("jellyfin after the rollback: %q %v", out, err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	fleet, ferr := dexec(ctx, l.guest("dns1").Container, nil, "homelab-agent", "status", "--fleet")
	cancel()
	if ferr == nil || !strings.Contains(fleet, "media") || !strings.Contains(fleet, bad[:7]) {
		l.fail("status --fleet on dns1 should show media's rollback and exit 1: %v\n%s", ferr, fleet)
	}
	mediaLine := ""
	for _, ln := range strings.Split(fleet, "\n") {
		if strings.HasPrefix(strings.TrimSpace(ln), "media: refused "+bad[:12]) {
			mediaLine = strings.TrimSpace(ln)
		}
	}
	if mediaLine == "" {
		l.fail("status --fleet on dns1 does not name media's refusal of %s:\n%s", bad[:8], fleet)
	}

	// The fix rolls out wave by wave.
	os.WriteFile(filepath.Join(l.Work, "media", "compose.yaml"), []byte(jellyfinCompose(8096)), 0o644)
	start = time.Now()
	fix := l.commit("e2e: jellyfin's container port back to 8096")
	// Until media is healthy on the fix, no wave-2 host may apply it:
	// sampled, wave 2 first and media after, so that a wave-2 host seen on
	// the fix while media is not yet healthy on it broke the wave.
	var mediaAt time.Duration
	for {
		var early []string
		for _, g := range others {
			if s, err := l.status(g); err == nil && s.AppliedCommit == fix {
				early = append(early, g.Name)
			}
		}
		// The fix puts back what media runs since its rollback: its pass
		// changes nothing there, so no gate runs; its last check stands.
		s, err := l.status(media)
		if err == nil && converged(s, fix) && s.healthy("") {
			mediaAt = time.Since(start)
			break
		}
		if len(early) > 0 {
			l.fail("%v applied the fix %s before media was healthy on it", early, fix[:8])
		}
		if time.Since(start) > 3*time.Minute {
			l.fail("media not healthy on the fix %s within 3 min: %+v %v", fix[:8], s, err)
		}
		time.Sleep(time.Second)
	}
	// A wave-2 host the fix changes nothing on runs no gate: its last
	// check (after a change, or the timer's) must pass.
	late := l.waitAll(others, start, 3*time.Minute, "wave 2 on the fix "+fix[:8], func(_ *Guest, s *Status) bool {
		return converged(s, fix) && s.healthy("")
	})
	var last time.Duration
	for _, g := range others {
		last = max(last, late[g.Name])
	}
	l.Good = fix
	return "push → last wave healthy " + ms(last), fmt.Sprintf("waves: media 1, the 5 others 2; a push mapping Jellyfin to a dead container port: media rolled it back in %s (`jellyfin /health` failed), the 5 wave-2 hosts never applied it and refused it naming media; Jellyfin answered again on the last good commit; `status --fleet` on dns1 exited 1 (%q); the fix: media healthy %s after the push, then wave 2: the last host converged and healthy %s after the push",
		ms(rolled), mediaLine, ms(mediaAt), ms(last))
}

// setWave gives a host of the work clone's homelab.yaml its wave.
func (l *Lab) setWave(host, wave string) {
	l.t.Helper()
	p := filepath.Join(l.Work, "homelab.yaml")
	b, err := os.ReadFile(p)
	if err != nil {
		l.t.Fatal(err)
	}
	lines := strings.Split(string(b), "\n")
	for i, ln := range lines {
		switch {
		case strings.HasPrefix(ln, "  "+host+":") && strings.Contains(ln, "{"):
			// flow style: "  dns1:   {ip: ..., role: dns, ...}"
			j := strings.Index(ln, "{")
			lines[i] = ln[:j+1] + "wave: " + wave + ", " + ln[j+1:]
		case ln == "  "+host+":":
			lines = append(lines[:i+1], append([]string{"    wave: " + wave}, lines[i+1:]...)...)
		default:
			continue
		}
		os.WriteFile(p, []byte(strings.Join(lines, "\n")), 0o644)
		return
	}
	l.t.Fatalf("homelab.yaml has no host %s", host)
}

// others is every guest but g.
func (l *Lab) others(g *Guest) []*Guest {
	var out []*Guest
	for _, o := range l.Guests {
		if o != g {
			out = append(out, o)
		}
	}
	return out
}

// neverApplied fails when one of guests applied commit.
func (l *Lab) neverApplied(guests []*Guest, commit string) {
	l.t.Helper()
	for _, g := range guests {
		if s, err := l.status(g); err == nil && s.AppliedCommit == commit {
			l.fail("%s (wave 2) applied %s before wave 1 was healthy on it", g.Name, commit[:8])
		}
	}
}

// healthy reports whether the agent's last health check passed (on
// commit, unless it is "").
func (s *Status) healthy(commit string) bool {
	return s.Health != nil && s.Health.OK && (commit == "" || s.Health.Commit == commit)
}
