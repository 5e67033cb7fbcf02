package agent

import (
	"bytes"
	"context"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/homelab-agent/homelab-agent/agent/files"
	"github.com/homelab-agent/homelab-agent/agent/lab"
	"github.com/homelab-agent/homelab-agent/agent/resource"
	"github.com/homelab-agent/homelab-agent/agent/role"
	"github.com/homelab-agent/homelab-agent/agent/state"
)

type panicking struct{ id string }

func (p panicking) ID() string        { return p.id }
func (p panicking) Subsystem() string { return "files" }
func (p panicking) CheckApply(context.Context, *resource.Env, bool) (*resource.Change, error) {
	var m map[string]int
	m["boom"]++ // assignment to entry in nil map
	return nil, nil
}

// TestPanickingResourceFailsOnlyItself: a resource whose CheckApply
// panics fails with an error naming it; the rest of the pass runs, its
// dependents are skipped, and the stack is in the log, not the report.
func TestPanickingResourceFailsOnlyItself(t *testing.T) {
	root := t.TempDir()
	out := &role.Output{Resources: []resource.Resource{
		panicking{"broken:panics"},
		&files.File{Path: "/srv/ok", Content: []byte("ok\n")},
		dependent{&files.File{Path: "/srv/needs-broken", Content: []byte("x\n")}, "broken:panics"},
	}}
	st, err := state.Load(root)
	if err != nil {
		t.Fatal(err)
	}
	var log bytes.Buffer
	opts := testOptions(root)
	opts.Log = slog.New(slog.NewTextHandler(&log, nil))
	rep, err := runOutput(context.Background(), &lab.Host{Name: "test", Role: "test"}, out, opts.Secrets, st, opts, true)
	if err == nil || !strings.Contains(err.Error(), "broken:panics: panic: assignment to entry in nil map") {
		t.Fatalf("want the panic as the resource's error, got %v", err)
	}
	if _, err := os.Stat(filepath.Join(root, "srv/ok")); err != nil {
		t.Errorf("the pass stopped at the panic: %v", err)
	}
	statuses := map[string]string{}
	for _, c := range rep.Changes {
		statuses[c.ID] = c.Status
		if strings.Contains(c.Error, "goroutine") {
			t.Errorf("stack in the report: %q", c.Error)
		}
	}
	if statuses["broken:panics"] != "failed" || statuses["file:/srv/ok"] != "applied" || statuses["file:/srv/needs-broken"] != "skipped" {
		t.Errorf("statuses = %v", statuses)
	}
	if !strings.Contains(log.String(), "resource panicked") || !strings.Contains(log.String(), "goroutine") {
		t.Errorf("the log lacks the panic and its stack:\n%s", log.String())
	}
	st, _ = state.Load(root)
	if r := st.Resources["broken:panics"]; r.Status != "failed" || strings.Contains(r.Error, "goroutine") {
		t.Errorf("state: %+v", r)
	}
}
