// Package gitsynctest runs real git servers on loopback for tests: a lab
// repo made and pushed with the git CLI, `git http-backend` behind
// net/http/cgi with basic auth, and sshd with a deploy key and git-shell.
// It also makes signing keys with ssh-keygen and gpg.
package gitsynctest

import (
	"bytes"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/homelab-agent/homelab-agent/internal/testreq"
)

// Repo is a bare repo served by the test servers and a work clone that
// commits and pushes to it with the git CLI.
type Repo struct {
	t testing.TB
	// Root holds the bare repo (Root/lab.git): GIT_PROJECT_ROOT for HTTP.
	Root string
	// Bare is the bare repo's path.
	Bare string
	// Work is the work clone.
	Work string
	env  []string
}

// NewRepo makes a bare repo whose branch main holds a copy of src (one
// commit), and a work clone of it.
func NewRepo(t testing.TB, src string) *Repo {
	t.Helper()
	testreq.Tool(t, "git")
	dir := t.TempDir()
	home := filepath.Join(dir, "home")
	os.MkdirAll(home, 0o700)
	r := &Repo{t: t, Root: filepath.Join(dir, "srv"), Work: filepath.Join(dir, "work"),
		env: []string{"HOME=" + home, "GIT_CONFIG_NOSYSTEM=1", "GIT_AUTHOR_NAME=Lab Owner", "GIT_AUTHOR_EMAIL=owner@home.example",
			"GIT_COMMITTER_NAME=Lab Owner", "GIT_COMMITTER_EMAIL=owner@home.example"}}
	r.Bare = filepath.Join(r.Root, "lab.git")
	r.git("", "init", "-q", "--bare", "-b", "main", r.Bare)
	r.git("", "init", "-q", "-b", "main", r.Work)
	r.git(r.Work, "remote", "add", "origin", r.Bare)
	if err := CopyTree(src, r.Work); err != nil {
		t.Fatal(err)
	}
	r.Commit("initial lab")
	r.Push(false)
	return r
}

// Git runs git in the work clone and returns its trimmed output.
func (r *Repo) Git(args ...string) string { return r.git(r.Work, args...) }

func (r *Repo) git(dir string, args ...string) string {
	r.t.Helper()
	cmd := exec.Command("git", args...)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), r.env...)
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	if err := cmd.Run(); err != nil {
		r.t.Fatalf("git %s: %v\n%s%s", strings.Join(args, " "), err, out.String(), errb.String())
	}
	return strings.TrimSpace(out.String())
}

// Setenv adds environment variables to every git command (GNUPGHOME ...).
func (r *Repo) Setenv(kv ...string) { r.env = append(r.env, kv...) }

// Write writes a file of the work clone.
func (r *Repo) Write(path, content string) {
	r.t.Helper()
	p := filepath.Join(r.Work, path)
	os.MkdirAll(filepath.Dir(p), 0o755)
	if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
		r.t.Fatal(err)
	}
}

// Read reads a file of the work clone.
func (r *Repo) Read(path string) string {
	r.t.Helper()
	b, err := os.ReadFile(filepath.Join(r.Work, path))
	if err != nil {
		r.t.Fatal(err)
	}
	return string(b)
}

// Edit replaces old with new in a file of the work clone.
func (r *Repo) Edit(path, old, new string) {
	r.t.Helper()
	s := r.Read(path)
	if !strings.Contains(s, old) {
		r.t.Fatalf("%s does not contain %q", path, old)
	}
	r.Write(path, strings.Replace(s, old, new, 1))
}

// Commit commits everything in the work clone and returns the commit.
func (r *Repo) Commit(msg string, args ...string) string {
	r.t.Helper()
	r.Git("add", "-A")
	r.Git(append([]string{"commit", "-q", "--allow-empty", "-m", msg}, args...)...)
	return r.Git("rev-parse", "HEAD")
}

// Push pushes main to the bare repo (--force when force).
func (r *Repo) Push(force bool) {
	r.t.Helper()
	if force {
		r.Git("push", "-q", "--force", "origin", "main")
		return
	}
	r.Git("push", "-q", "origin", "main")
}

// CommitAndPush commits, pushes and returns the commit.
func (r *Repo) CommitAndPush(msg string, args ...string) string {
	r.t.Helper()
	h := r.Commit(msg, args...)
	r.Push(false)
	return h
}

// CopyTree copies the regular files of src under dst.
func CopyTree(src, dst string) error {
	return filepath.WalkDir(src, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(src, p)
		if d.IsDir() {
			return os.MkdirAll(filepath.Join(dst, rel), 0o755)
		}
		data, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		return os.WriteFile(filepath.Join(dst, rel), data, 0o644)
	})
}
