package daemon_test

import (
	"errors"
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
