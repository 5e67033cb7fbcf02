package docker

import (
	"testing"

	"github.com/homelab-agent/homelab-agent/agent/images"
	"github.com/homelab-agent/homelab-agent/agent/lab"
)

func TestResolveUpdatesPrecedence(t *testing.T) {
	if r, err := ResolveUpdates(nil, nil, map[string]images.Rules{"app": {Policy: images.Track}}, []string{"app"}); r != nil || err != nil {
		t.Fatalf("no updates: block anywhere must leave updates off: %v %v", r, err)
	}
	defaults := map[string]images.Rules{
		"app": {MajorStep: true, After: []string{"php", "occ", "upgrade"}},
		"db":  {Policy: images.Pinned},
	}
	services := []string{"app", "cron", "db", "redis"}
	labWide := &lab.Updates{Policy: "minor", Window: "0 4 * * 0"}
	r, err := ResolveUpdates(labWide, nil, defaults, services)
	if err != nil {
		t.Fatal(err)
	}
	for svc, want := range map[string]images.Policy{"app": images.Minor, "cron": images.Minor, "db": images.Pinned, "redis": images.Minor} {
		if r[svc].Policy != want || r[svc].Window == nil || r[svc].Window.Expr != "0 4 * * 0" {
			t.Errorf("lab-wide: %s = %+v, want %s in the lab's window", svc, r[svc], want)
		}
	}
	if !r["app"].MajorStep || len(r["app"].After) != 3 || r["cron"].MajorStep {
		t.Errorf("role rules lost: %+v", r)
	}
	own := &lab.Updates{Policy: "patch", Window: "0 3 * * *", Services: map[string]string{"redis": "track"}}
	r, err = ResolveUpdates(labWide, own, defaults, services)
	if err != nil {
		t.Fatal(err)
	}
	for svc, want := range map[string]images.Policy{"app": images.Patch, "db": images.Patch, "redis": images.Track} {
		if r[svc].Policy != want || r[svc].Window.Expr != "0 3 * * *" {
			t.Errorf("host override: %s = %+v, want %s in the host's window", svc, r[svc], want)
		}
	}
	// No policy anywhere: track, and no window: never applied.
	r, _ = ResolveUpdates(&lab.Updates{}, nil, nil, []string{"web"})
	if r["web"].Policy != images.Track || r["web"].Window != nil {
		t.Errorf("defaults: %+v", r["web"])
	}
	_, err = ResolveUpdates(nil, &lab.Updates{Services: map[string]string{"nope": "pinned"}, ServicesPos: lab.Pos{Line: 9, Col: 59}}, nil, services)
	if err == nil || err.Error() != `homelab.yaml:9:59: updates.services: no service "nope" in the compose project (services: app, cron, db, redis)` {
		t.Errorf("unknown service: %v", err)
	}
}
