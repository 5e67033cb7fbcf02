package gitsync

import (
	"fmt"
	"net"
	"net/url"
	"strings"
)

// CheckedOut returns the commit the clone's work tree was last checked
// out at (by Checkout), read from the local clone only: the daemon uses
// it to rebuild a lost state.json without the network.
func (s *Syncer) CheckedOut() (string, error) {
	if s.repo == nil {
		if err := s.open(); err != nil {
			return "", err
		}
	}
	ref, err := s.repo.Head()
	if err != nil {
		return "", fmt.Errorf("reading the clone's checked-out commit: %w", err)
	}
	return ref.Hash().String(), nil
}

// ProbeTarget is the "host:port" a firewall change must keep reachable for
// the agent to fetch from repo: https (443), http (80), ssh (22) and
// scp-like "user@host:path" (22). It is "" for a local path or file://
// URL, which need no network.
func ProbeTarget(repo string) string {
	if u, err := url.Parse(repo); err == nil && u.Scheme != "" && u.Host != "" {
		port := map[string]string{"https": "443", "http": "80", "ssh": "22", "git+ssh": "22", "ssh+git": "22", "git": "9418"}[u.Scheme]
		if p := u.Port(); p != "" {
			port = p
		}
		if port == "" {
			return ""
		}
		return net.JoinHostPort(u.Hostname(), port)
	}
	// scp-like: [user@]host:path, with no scheme.
	if i := strings.Index(repo, ":"); i > 0 && !strings.Contains(repo[:i], "/") && !strings.HasPrefix(repo[i:], "://") {
		host := repo[:i]
		if at := strings.LastIndex(host, "@"); at >= 0 {
			host = host[at+1:]
		}
		host = strings.Trim(host, "[]")
		if host != "" {
			return net.JoinHostPort(host, "22")
		}
	}
	return ""
}
