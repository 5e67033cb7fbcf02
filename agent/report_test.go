package agent

import (
	"bytes"
	"strings"
	"testing"

	"github.com/homelab-agent/homelab-agent/agent/resource"
)

// TestNoticeIsShownAndCountsNoChange: an image update the registry offers
// is printed with its lines, as no change.
func TestNoticeIsShownAndCountsNoChange(t *testing.T) {
	notice := ChangeResult{Status: resource.ActionNotice, Change: resource.Change{ID: "containers:cloud", Subsystem: "containers",
		Action: resource.ActionNotice, Summary: "1 image update(s) available",
		Diff: "image nextcloud:30.0 → 30.0.4 (sha256:abc) for app; applied in the window \"0 4 * * 0\" for 1h0m0s, next 2026-12-06 04:00 UTC\n"}}
	r := &Report{Host: "cloud", Role: "nextcloud", Mode: "plan", Changes: []ChangeResult{notice}}
	var b bytes.Buffer
	r.WriteText(&b, true)
	want := "cloud (nextcloud): no changes\n  i containers:cloud: 1 image update(s) available\n      image nextcloud:30.0 → 30.0.4 (sha256:abc) for app;"
	if !strings.HasPrefix(b.String(), want) {
		t.Fatalf("plan with a notice only:\n%s\nwant it to start with\n%s", b.String(), want)
	}
	r.Changed = true
	r.Changes = append(r.Changes, ChangeResult{Status: "planned", Change: resource.Change{ID: "file:/etc/x", Action: "update", Summary: "content"}})
	b.Reset()
	r.WriteText(&b, false)
	if out := b.String(); !strings.Contains(out, "would change 1 resource(s)") || !strings.Contains(out, "  i containers:cloud: 1 image update(s) available\n") {
		t.Fatalf("plan with a change and a notice:\n%s", out)
	}
}
