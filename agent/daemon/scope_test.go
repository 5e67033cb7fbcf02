package daemon_test

import (
	"strings"
	"testing"
)

// TestOtherHostsComposeNotLoaded: the daemon checks all of homelab.yaml
// but loads only its own host's compose files, so a broken compose file
// of another host (the media host's app) does not stop dns1 from applying
// the commit, while a broken homelab.yaml still does (TestPushInvalidThenFix).
func TestOtherHostsComposeNotLoaded(t *testing.T) {
	h := newHarness(t, nil)
	h.converge()
	h.repo.Write("apps/whoami/compose.yaml", "services:\n  whoami:\n    image: traefik/whoami:v1.10\n    build_args: {A: b}\n")
	h.repo.Edit("homelab.yaml", "dns:     {upstream: mullvad-base}", "dns:     {upstream: mullvad-family}")
	c := h.repo.CommitAndPush("break the media host's app, change the DNS upstream")
	s := h.converge()
	if s.AppliedCommit != c || s.LastGoodCommit != c || s.BadCommit != "" || s.LastError != "" {
		t.Fatalf("dns1 refused a commit whose only fault is another host's compose file: %+v", s)
	}
	if !strings.Contains(h.file(namedConf), "family.dns.mullvad.net") {
		t.Fatal("the change was not applied")
	}
}
