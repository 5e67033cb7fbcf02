//go:build e2e

package e2e

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
)

// updateRepo is where media's Jellyfin comes from in the update scenario:
// a registry on the media guest's own loopback (labsvc registry,
// go-containerregistry's in-process registry), the only kind of registry
// Docker talks plain HTTP to without configuration.
const updateRepo = "127.0.0.1:5000/jellyfin/jellyfin"

// ImageRecord is a service's image in /status (agent/images.Record).
type ImageRecord struct {
	Project   string `json:"project"`
	Service   string `json:"service"`
	Image     string `json:"image"`
	Running   string `json:"running"`
	Digest    string `json:"digest"`
	Available string `json:"available"`
	Last      *struct {
		At     time.Time `json:"at"`
		From   string    `json:"from"`
		To     string    `json:"to"`
		Result string    `json:"result"`
		Error  string    `json:"error"`
	} `json:"last_update"`
}

// imageUpdates: media's Jellyfin follows a registry with policy minor and
// an update window that opens three minutes after the push. A broken
// 10.11.0 (the stand-in answering on the wrong port), in the registry
// before the push, is seen but not applied before the window; inside it the agent backs up, recreates,
// waits for health, and rolls back to the previous digest, and status
// names the failed update; Jellyfin serves throughout but for the two
// recreates. Then a good 10.11.1 is applied inside the same window. Done
// when both outcomes are in media's /status and Jellyfin answers; the lab
// then returns to the role's own compose file.
func (l *Lab) imageUpdates(t *testing.T) (string, string) {
	media := l.guest("media")
	bin, err := os.ReadFile(filepath.Join(l.Dir, "bin", "labsvc"))
	if err != nil {
		l.fail("%v", err)
	}
	if err := writeFile(media.Container, "/usr/local/bin/e2e-labsvc", "0755", bin); err != nil {
		l.fail("%v", err)
	}
	if out, err := l.in(media, "systemd-run", "--unit", "e2e-registry", "/usr/local/bin/e2e-labsvc", "registry", "127.0.0.1:5000"); err != nil {
		l.fail("starting the registry in media: %v %s", err, out)
	}
	defer l.in(media, "systemctl", "stop", "e2e-registry")
	l.eventually(media, 30*time.Second, "the registry answers", "curl", "-fsS", "http://127.0.0.1:5000/v2/")
	l.engine(media, "tag", "docker.io/jellyfin/jellyfin:10.10", updateRepo+":10.10.0")
	l.engine(media, "push", "-q", updateRepo+":10.10.0")

	// The agent asks the registry every 5 s instead of every 6 h (a drill
	// cannot wait for the cache): agent.yaml's image_check_ttl, by the
	// environment, and a restart.
	if err := writeFile(media.Container, "/etc/systemd/system/homelab-agent.service.d/e2e-images.conf", "0644",
		[]byte("[Service]\nEnvironment=HOMELAB_AGENT_IMAGE_CHECK_TTL=5s\n")); err != nil {
		l.fail("%v", err)
	}
	if out, err := l.in(media, "sh", "-c", "systemctl daemon-reload && systemctl restart homelab-agent"); err != nil {
		l.fail("restarting media's agent: %v %s", err, out)
	}

	// A broken 10.11.0: the stand-in answers on 8097, the port is 8096.
	l.engine(media, "create", "--name", "e2e-bad", updateRepo+":10.10.0")
	l.engine(media, "commit", "-c", "ENV PORT=8097", "e2e-bad", updateRepo+":10.11.0")
	l.engine(media, "rm", "e2e-bad")
	l.engine(media, "push", "-q", updateRepo+":10.11.0")

	// The window: daily at the minute three minutes from now (the guests
	// share the machine's clock, UTC), 15 minutes long: the lab converges
	// (wave by wave) and media's first check sees 10.11.0 before it opens.
	open := time.Now().UTC().Add(3 * time.Minute).Truncate(time.Minute)
	window := fmt.Sprintf("%d %d * * *", open.Minute(), open.Hour())
	compose := strings.Replace(jellyfinCompose(8096), "image: docker.io/jellyfin/jellyfin:10.10", "image: "+updateRepo+":10.10.0", 1)
	if err := os.WriteFile(filepath.Join(l.Work, "media", "compose.yaml"), []byte(compose), 0o644); err != nil {
		l.fail("%v", err)
	}
	l.edit("homelab.yaml", "    compose: media/compose.yaml\n",
		"    compose: media/compose.yaml\n    updates: {policy: minor, window: \""+window+"\", window_length: 15m}\n")
	start := time.Now()
	c := l.commit("e2e: media's Jellyfin from the registry, policy minor, window " + window)
	l.waitAll(l.Guests, start, 5*time.Minute, "every guest on "+c[:8], func(_ *Guest, s *Status) bool {
		return converged(s, c)
	})
	l.Good = c
	var before ImageRecord
	l.waitImage(media, time.Minute, "jellyfin's image checked", func(r ImageRecord) bool {
		before = r
		return r.Digest != ""
	})

	var seen ImageRecord
	l.waitImage(media, 90*time.Second, "10.11.0 seen as available", func(r ImageRecord) bool {
		seen = r
		return strings.Contains(r.Available, ":10.11.0@sha256:")
	})
	if !time.Now().Before(open) {
		l.fail("the check took until the window opened (%s): the scenario cannot show an update held for its window", open.Format("15:04"))
	}
	if seen.Last != nil || seen.Digest != before.Digest {
		l.fail("media updated before its window: %+v", seen)
	}

	// Jellyfin's availability, from inside media, every 500 ms.
	stop := make(chan struct{})
	var mu sync.Mutex
	var downs []time.Time
	go func() {
		for {
			select {
			case <-stop:
				return
			case <-time.After(500 * time.Millisecond):
			}
			if out, err := l.in(media, "curl", "-fsS", "-m", "2", "-o", "/dev/null", "-w", "%{http_code}", "http://127.0.0.1:8096/health"); err != nil || out != "200" {
				mu.Lock()
				downs = append(downs, time.Now())
				mu.Unlock()
			}
		}
	}()
	outage := func() time.Duration {
		mu.Lock()
		defer mu.Unlock()
		if len(downs) == 0 {
			return 0
		}
		d := downs[len(downs)-1].Sub(downs[0]) + 500*time.Millisecond
		downs = nil
		return d
	}

	var bad ImageRecord
	l.waitImage(media, time.Until(open)+5*time.Minute, "the broken update rolled back", func(r ImageRecord) bool {
		bad = r
		return r.Last != nil && strings.Contains(r.Last.To, ":10.11.0") && r.Last.Result != ""
	})
	if bad.Last.Result != "rolled back" {
		l.fail("the broken 10.11.0: %+v, want rolled back", bad.Last)
	}
	if bad.Last.At.Before(open) {
		l.fail("the update ran at %s, before its window opened at %s", bad.Last.At.Format(time.TimeOnly), open.Format(time.TimeOnly))
	}
	l.eventually(media, time.Minute, "jellyfin answers after the rollback", "curl", "-fsS", "http://127.0.0.1:8096/health")
	if now := l.jellyfinImage(media); now.Digest != before.Digest {
		l.fail("after the rollback jellyfin runs %s, want the previous %s", now.Digest, before.Digest)
	}
	text, serr := l.in(media, "homelab-agent", "status")
	if serr == nil || !strings.Contains(text, "LAST UPDATE ROLLED BACK") || !strings.Contains(text, ":10.11.0") {
		l.fail("media's status should name the rolled back update and exit 1 (%v):\n%s", serr, text)
	}
	down1 := outage()

	// A good 10.11.1, inside the same window.
	l.engine(media, "tag", updateRepo+":10.10.0", updateRepo+":10.11.1")
	l.engine(media, "push", "-q", updateRepo+":10.11.1")
	var good ImageRecord
	l.waitImage(media, 5*time.Minute, "10.11.1 updated", func(r ImageRecord) bool {
		good = r
		return r.Last != nil && strings.Contains(r.Last.To, ":10.11.1") && r.Last.Result != ""
	})
	if good.Last.Result != "updated" {
		l.fail("the good 10.11.1: %+v, want updated", good.Last)
	}
	l.eventually(media, time.Minute, "jellyfin answers on 10.11.1", "curl", "-fsS", "http://127.0.0.1:8096/health")
	close(stop)
	down2 := outage()

	// Back to the role's own compose file, so that a scenario added after
	// this one finds media as the sample lab has it (a rebuilt media would
	// have no registry on its loopback).
	l.edit("homelab.yaml", "    compose: media/compose.yaml\n    updates: {policy: minor, window: \""+window+"\", window_length: 15m}\n", "")
	os.RemoveAll(filepath.Join(l.Work, "media"))
	if _, err := gitRun(l.Work, "add", "-A"); err != nil {
		l.fail("%v", err)
	}
	start = time.Now()
	c = l.commit("e2e: media back on the role's compose file")
	l.waitAll(l.Guests, start, 5*time.Minute, "every guest on "+c[:8], func(_ *Guest, s *Status) bool {
		return converged(s, c)
	})
	l.Good = c
	return fmt.Sprintf("rollback at %s, update at %s", bad.Last.At.Format(time.TimeOnly), good.Last.At.Format(time.TimeOnly)),
		fmt.Sprintf("policy minor, window %q (opened %s UTC): broken 10.11.0 seen before the window and held; inside it backed up, recreated, health failed, rolled back to the previous digest (Jellyfin unanswered for %s); status names it; a good 10.11.1 then updated inside the window (unanswered for %s)",
			window, open.Format("15:04"), ms(down1), ms(down2))
}

// engine runs docker against the guest's own engine and fails on error.
func (l *Lab) engine(g *Guest, args ...string) string {
	l.t.Helper()
	out, err := l.inEngine(g, args...)
	if err != nil {
		l.fail("%s: docker %s: %v\n%s", g.Name, strings.Join(args, " "), err, out)
	}
	return out
}

// eventually runs argv in the guest until it succeeds.
func (l *Lab) eventually(g *Guest, timeout time.Duration, what string, argv ...string) {
	l.t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		out, err := l.in(g, argv...)
		if err == nil {
			return
		}
		if time.Now().After(deadline) {
			l.fail("%s: %s: not within %s: %v %s", g.Name, what, timeout, err, out)
		}
		time.Sleep(500 * time.Millisecond)
	}
}

// jellyfinImage is the jellyfin service's image record in the guest's
// /status.
func (l *Lab) jellyfinImage(g *Guest) ImageRecord {
	l.t.Helper()
	s, err := l.status(g)
	if err != nil {
		l.fail("%v", err)
	}
	for _, r := range s.Images {
		if r.Project == "jellyfin" && r.Service == "jellyfin" {
			return r
		}
	}
	l.fail("%s: no image record of jellyfin in /status: %+v", g.Name, s.Images)
	return ImageRecord{}
}

// waitImage polls the jellyfin record until cond holds.
func (l *Lab) waitImage(g *Guest, timeout time.Duration, what string, cond func(ImageRecord) bool) {
	l.t.Helper()
	deadline := time.Now().Add(timeout)
	var last ImageRecord
	for {
		if s, err := l.status(g); err == nil {
			for _, r := range s.Images {
				if r.Project == "jellyfin" && r.Service == "jellyfin" {
					last = r
					if cond(r) {
						return
					}
				}
			}
		}
		if time.Now().After(deadline) {
			l.fail("%s: %s: not within %s; last record %+v", g.Name, what, timeout, last)
		}
		time.Sleep(time.Second)
	}
}
