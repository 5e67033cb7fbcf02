package gitsync

import (
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"strings"

	"github.com/go-git/go-git/v5/plumbing/transport"
	githttp "github.com/go-git/go-git/v5/plumbing/transport/http"
	gitssh "github.com/go-git/go-git/v5/plumbing/transport/ssh"
)

// Auth says how to reach the lab repo's server.
type Auth struct {
	// SSHKey is the path of a private deploy key (ssh:// and scp-like URLs).
	SSHKey string
	// KnownHosts is the path of a known_hosts file that pins the server's
	// host key. It is required for SSH: the agent never accepts an
	// unknown host key.
	KnownHosts string
	// Token is an HTTPS token, or "user:password" for basic auth.
	Token string
}

// Kind classifies a repo location.
type Kind string

// Repo location kinds.
const (
	KindLocal Kind = "local"
	KindHTTP  Kind = "http"
	KindSSH   Kind = "ssh"
)

// KindOf tells how a repo URL or path is reached.
func KindOf(repo string) Kind {
	switch {
	case strings.HasPrefix(repo, "http://"), strings.HasPrefix(repo, "https://"):
		return KindHTTP
	case strings.HasPrefix(repo, "ssh://"):
		return KindSSH
	case strings.HasPrefix(repo, "file://"), filepath.IsAbs(repo), strings.HasPrefix(repo, "."):
		return KindLocal
	case strings.Contains(repo, "@") && strings.Contains(repo, ":"): // git@host:path
		return KindSSH
	}
	return KindLocal
}

// authMethod builds go-git's auth for a repo URL.
func authMethod(repo string, a Auth) (transport.AuthMethod, error) {
	switch KindOf(repo) {
	case KindHTTP:
		if a.Token == "" {
			return nil, nil
		}
		user, pass, ok := strings.Cut(a.Token, ":")
		if !ok {
			// A bare token: GitHub, Gitea and Forgejo accept any user name
			// with it; GitLab wants "oauth2".
			user, pass = "homelab-agent", a.Token
			if u, err := url.Parse(repo); err == nil && u.User != nil && u.User.Username() != "" {
				user = u.User.Username()
			}
		}
		return &githttp.BasicAuth{Username: user, Password: pass}, nil
	case KindSSH:
		if a.SSHKey == "" {
			return nil, fmt.Errorf("repo %s is reached over SSH: auth.ssh_key (a deploy key) is required", repo)
		}
		if a.KnownHosts == "" {
			return nil, fmt.Errorf("repo %s is reached over SSH: auth.known_hosts is required to pin the server's host key", repo)
		}
		if _, err := os.Stat(a.KnownHosts); err != nil {
			return nil, fmt.Errorf("auth.known_hosts: %w", err)
		}
		keys, err := gitssh.NewPublicKeysFromFile(sshUser(repo), a.SSHKey, "")
		if err != nil {
			return nil, fmt.Errorf("reading deploy key %s: %w", a.SSHKey, err)
		}
		db, err := gitssh.NewKnownHostsDb(a.KnownHosts)
		if err != nil {
			return nil, fmt.Errorf("reading known_hosts %s: %w", a.KnownHosts, err)
		}
		keys.HostKeyCallback = db.HostKeyCallback()
		return keys, nil
	}
	return nil, nil
}

// sshUser is the user of an ssh:// or scp-like URL, "git" when none.
func sshUser(repo string) string {
	if u, err := url.Parse(repo); err == nil && u.Scheme == "ssh" {
		if u.User != nil && u.User.Username() != "" {
			return u.User.Username()
		}
		return "git"
	}
	if user, _, ok := strings.Cut(repo, "@"); ok && !strings.Contains(user, "/") {
		return user
	}
	return "git"
}
