package gitsync

import (
	"fmt"
	"net/url"
	"path/filepath"
	"strings"

	"github.com/go-git/go-git/v5/plumbing/transport"
	githttp "github.com/go-git/go-git/v5/plumbing/transport/http"
)

// prepare turns the configured repo into the URL go-git is given and its
// auth method: a local path or file:// URL becomes an absolute path (as
// git reads file:///srv/lab.git), and credentials written into an HTTPS
// URL (https://TOKEN@host/..., https://user:pass@host/...) move out of the
// URL into the auth method, so that no error, clone config or log line
// can carry them.
func prepare(repo string, a Auth) (string, transport.AuthMethod, error) {
	if KindOf(repo) == KindLocal {
		path, err := localPath(repo)
		if err != nil {
			return "", nil, err
		}
		return path, nil, nil
	}
	auth, err := authMethod(repo, a)
	if err != nil || KindOf(repo) != KindHTTP {
		return repo, auth, err
	}
	u, err := url.Parse(repo)
	if err != nil || u.User == nil {
		return repo, auth, nil
	}
	if a.Token == "" {
		// https://TOKEN@host (the token as user name) or https://user:pass@host.
		pass, _ := u.User.Password()
		auth = &githttp.BasicAuth{Username: u.User.Username(), Password: pass}
	}
	u.User = nil
	return u.String(), auth, nil
}

// localPath resolves a local repo: a path, or a file:// URL as git
// accepts it (file:///abs/path, file://localhost/abs/path).
func localPath(repo string) (string, error) {
	if strings.HasPrefix(repo, "file://") {
		u, err := url.Parse(repo)
		if err != nil {
			return "", fmt.Errorf("repo %q: %w", repo, err)
		}
		if u.Host != "" && u.Host != "localhost" {
			return "", fmt.Errorf("repo %q: a file:// URL names a path on this machine (file:///path), not host %q", repo, u.Host)
		}
		if u.Path == "" {
			return "", fmt.Errorf("repo %q: no path", repo)
		}
		return filepath.Clean(u.Path), nil
	}
	abs, err := filepath.Abs(repo)
	if err != nil {
		return repo, nil
	}
	return abs, nil
}

// HasCredentials reports whether a repo URL carries a password or token
// in its user info (https://TOKEN@host/..., scheme://user:pass@host/...).
// An SSH user name (ssh://git@host/..., git@host:path) is no credential.
func HasCredentials(repo string) bool {
	u, err := url.Parse(repo)
	if err != nil || u.User == nil {
		return false
	}
	if _, ok := u.User.Password(); ok {
		return true
	}
	return u.Scheme == "http" || u.Scheme == "https"
}

// Redact hides the credentials of a repo URL: the whole user info of an
// http(s) URL (a token is often written as the user name), the password
// of any other. Text that is not a URL is returned as is.
func Redact(repo string) string {
	u, err := url.Parse(repo)
	if err != nil || u.User == nil {
		return repo
	}
	switch {
	case u.Scheme == "http" || u.Scheme == "https":
		u.User = url.User("xxxxx")
	default:
		if _, ok := u.User.Password(); ok {
			u.User = url.UserPassword(u.User.Username(), "xxxxx")
		}
	}
	return u.String()
}
