package daemon_test

import (
	"bytes"
	"encoding/json"
	"errors"
	"log/slog"
	"strings"
	"testing"

	"github.com/homelab-agent/homelab-agent/agent/daemon"
)

// Without trusted_keys, status says plainly what that means.
func TestUnsignedWarning(t *testing.T) {
	h := newHarness(t, nil)
	s := h.converge()
	if len(s.Warnings) != 1 || !strings.Contains(s.Warnings[0], "anyone who can push to the lab repo can run anything as root on every VM") {
		t.Fatalf("warnings = %q", s.Warnings)
	}
}

// A failed ancestry read is a refusal, not a pass: the head is not
// applied and the last good commit stays.
func TestAncestryReadErrorRefuses(t *testing.T) {
	h := newHarness(t, nil)
	c0 := h.repo.Git("rev-parse", "HEAD")
	h.converge()
	daemon.SetAncestry(h.d, func(old, new string) (bool, error) { return false, errors.New("object pack is unreadable") })
	h.repo.Edit("homelab.yaml", "domain: home.example", "domain: lab.example")
	c1 := h.repo.CommitAndPush("rename the domain")
	s := h.converge()
	if s.AppliedCommit != c0 || !strings.Contains(s.LastError, "cannot check that head "+c1[:12]+" descends") ||
		!strings.Contains(s.LastError, "unreadable") {
		t.Fatalf("ancestry error: applied %s, last_error %q", s.AppliedCommit, s.LastError)
	}
	if strings.Contains(h.file(namedConf), "lab.example") {
		t.Fatal("the head was applied without its ancestry being checked")
	}
	// The check works again: the head is applied (it was not marked bad).
	daemon.SetAncestry(h.d, nil)
	if s = h.converge(); s.AppliedCommit != c1 {
		t.Fatalf("after the read error cleared: applied %s, want %s (%q)", s.AppliedCommit, c1, s.LastError)
	}
}

// Credentials written into the repo URL authenticate but appear nowhere:
// not in /status (repo, sync_error) nor in the log.
func TestCredentialsInRepoURLHidden(t *testing.T) {
	var logs bytes.Buffer
	h := newHarness(t, func(c *daemon.Config) {
		c.Repo = strings.Replace(c.Repo, "http://", "http://agent:s3cret@", 1)
		c.Auth.Token = ""
	})
	h.d = h.newDaemon(daemon.Options{Log: slog.New(slog.NewTextHandler(&logs, nil))})
	if s := h.converge(); s.AppliedCommit == "" {
		t.Fatalf("the URL's credentials did not authenticate: %+v", s)
	}
	h.srv.Stop()
	s := h.converge()
	js, _ := json.Marshal(s)
	if s.SyncError == "" || strings.Contains(string(js), "s3cret") || strings.Contains(s.Repo, "agent:") || strings.Contains(logs.String(), "s3cret") {
		t.Fatalf("credentials shown: status %s\nlog:\n%s", js, logs.String())
	}
}
