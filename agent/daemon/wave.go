package daemon

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"time"

	"github.com/homelab-agent/homelab-agent/agent/fleet"
	"github.com/homelab-agent/homelab-agent/agent/gitsync"
	"github.com/homelab-agent/homelab-agent/agent/lab"
	"github.com/homelab-agent/homelab-agent/agent/secrets/vault"
)

// fleetKey reads the lab's shared fleet key from the host's secrets.
func (d *Daemon) fleetKey() ([]byte, error) {
	store, err := vault.LoadHost(d.cfg.Root, filepath.Join(d.cfg.Root, gitsync.Dir), d.cfg.Host, os.Environ())
	if err != nil {
		return nil, err
	}
	v, ok := store.Lookup(fleet.SecretName)
	if !ok || v == "" {
		return nil, fmt.Errorf("the secret %s is not set on this host", fleet.SecretName)
	}
	return []byte(v), nil
}

// fleetHandler serves GET /fleet/status to requests signed with the key.
func (d *Daemon) fleetHandler(w http.ResponseWriter, r *http.Request) {
	key, err := d.fleetKey()
	if err != nil {
		http.Error(w, "fleet status is off: "+err.Error(), http.StatusNotFound)
		return
	}
	if err := fleet.Verify(key, r, d.clock.Now()); err != nil {
		http.Error(w, err.Error(), http.StatusUnauthorized)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	writeJSON(w, d.FleetStatus())
}

// FleetStatus is this host as the fleet sees it.
func (d *Daemon) FleetStatus() *fleet.Status {
	s := d.Status()
	fs := &fleet.Status{Host: s.Host, Role: s.Role, Applied: s.AppliedCommit, LastGood: s.LastGoodCommit,
		BadCommit: s.BadCommit, BadReason: s.BadReason, Stale: s.Stale, StaleSeconds: s.StaleSeconds, Time: d.clock.Now()}
	if l := d.last.lab; l != nil {
		if h := l.Hosts.Get(s.Host); h != nil {
			fs.Wave = h.Wave
		}
	}
	if s.Health != nil {
		ok := s.Health.OK
		fs.Healthy, fs.HealthFailure = &ok, s.Health.Failure
	}
	if s.Drift != nil {
		fs.Drift = s.Drift.Repaired
	}
	if b := s.Backup; b != nil {
		for _, svc := range b.Services {
			if svc.LastSuccess.After(fs.LastBackup) {
				fs.LastBackup = svc.LastSuccess
			}
		}
		fs.Problems = b.Problems
	}
	return fs
}

// peerAddr is where a host's agent answers: its lab IP and this agent's
// port (every agent of a lab listens on the same port).
func (d *Daemon) peerAddr(h *lab.Host) string {
	if d.opts.PeerAddr != nil {
		return d.opts.PeerAddr(h)
	}
	_, port, err := net.SplitHostPort(d.cfg.Listen)
	if err != nil {
		port = "9123"
	}
	return net.JoinHostPort(h.IP.String(), port)
}

// waveGate decides whether this host may apply head now, from the hosts
// of the lower waves (as head's lab places them): it may when every one
// of them applied head (or a later commit) and is healthy. wait is set
// while one has not (yet), or cannot be reached; refuse is the reason to
// refuse head when one of them rolled it back.
func (d *Daemon) waveGate(ctx context.Context, head string, l *lab.Lab) (wait, refuse string) {
	me := l.Hosts.Get(d.cfg.Host)
	if me == nil || me.Wave == 0 {
		return "", ""
	}
	key, err := d.fleetKey()
	if err != nil {
		return "wave " + fmt.Sprint(me.Wave) + ": cannot ask the lower waves: " + err.Error(), ""
	}
	var lower []*lab.Host
	for _, h := range l.Hosts {
		if h.Wave < me.Wave && h.Name != me.Name {
			lower = append(lower, h)
		}
	}
	sort.SliceStable(lower, func(i, j int) bool { return lower[i].Wave < lower[j].Wave })
	var waiting []string
	client := &http.Client{Timeout: 5 * time.Second}
	for _, h := range lower {
		s, err := fleet.Fetch(ctx, client, d.peerAddr(h), key, d.clock.Now())
		if err != nil {
			since := d.unreachableSince(h.Name)
			msg := fmt.Sprintf("wave %d host %s unreachable since %s: %v", h.Wave, h.Name, since.UTC().Format(time.RFC3339), err)
			if d.clock.Now().Sub(since) > d.opts.PeerTimeout {
				msg += fmt.Sprintf(" (over %s: the next wave is blocked)", d.opts.PeerTimeout)
			}
			waiting = append(waiting, msg)
			continue
		}
		d.reachable(h.Name)
		if s.BadCommit == head {
			return "", fmt.Sprintf("wave %d host %s refused it: %s", h.Wave, h.Name, firstLine(s.BadReason))
		}
		done := s.LastGood == head
		if !done && s.LastGood != "" {
			// A later commit on the lower host covers head.
			done, _ = d.syncer.IsAncestor(head, s.LastGood)
		}
		switch {
		case !done:
			waiting = append(waiting, fmt.Sprintf("wave %d host %s has not applied %s yet", h.Wave, h.Name, short(head)))
		case s.Healthy != nil && !*s.Healthy:
			waiting = append(waiting, fmt.Sprintf("wave %d host %s is unhealthy: %s", h.Wave, h.Name, s.HealthFailure))
		}
	}
	if len(waiting) > 0 {
		return "holding " + short(head) + " at wave " + fmt.Sprint(me.Wave) + ": " + strings.Join(waiting, "; "), ""
	}
	return "", ""
}

func (d *Daemon) unreachableSince(host string) time.Time {
	if d.unreachable == nil {
		d.unreachable = map[string]time.Time{}
	}
	t, ok := d.unreachable[host]
	if !ok {
		t = d.clock.Now()
		d.unreachable[host] = t
	}
	return t
}

func (d *Daemon) reachable(host string) { delete(d.unreachable, host) }

// serveFleet listens on the host's lab IP for GET /fleet/status once the
// lab uses waves and the status address is loopback only (the default):
// the other agents must reach it, /status and /metrics stay local. Only
// on the real host.
func (d *Daemon) serveFleet() {
	l := d.last.lab
	if d.fleetSrv != nil || l == nil || !l.UsesWaves() || (d.cfg.Root != "/" && d.cfg.Root != "") {
		return
	}
	h := l.Hosts.Get(d.cfg.Host)
	host, port, err := net.SplitHostPort(d.cfg.Listen)
	if h == nil || err != nil {
		return
	}
	if ip := net.ParseIP(host); host == "" || (ip != nil && (ip.IsUnspecified() || ip.String() == h.IP.String())) {
		return // the status server already answers on the lab IP
	}
	ln, err := net.Listen("tcp", net.JoinHostPort(h.IP.String(), port))
	if err != nil {
		d.log.Warn("cannot serve the fleet status on the lab address; the next waves will wait", "err", err)
		return
	}
	mux := http.NewServeMux()
	mux.HandleFunc("GET "+fleet.Path, d.fleetHandler)
	d.fleetSrv = &http.Server{Handler: mux, ReadHeaderTimeout: 5 * time.Second, ReadTimeout: 10 * time.Second,
		WriteTimeout: 10 * time.Second, IdleTimeout: time.Minute}
	go d.fleetSrv.Serve(ln)
	d.log.Info("serving the fleet status", "addr", ln.Addr().String())
}
