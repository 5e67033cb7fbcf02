package docker

import (
	"context"
	"os"
	"strings"
	"testing"

	"github.com/docker/docker/api/types/filters"
	"github.com/docker/docker/api/types/network"
	"github.com/docker/docker/client"
)

// A project removed from the repo takes its containers and the networks
// the agent made for it along; its volumes and data stay.
func TestPruneRemovesTheProjectsNetworks(t *testing.T) {
	h := newHarness(t)
	keep := h.writeData("db/keep.txt", "precious")
	h.apply(h.project(twoServices))
	nets := func() []string {
		ns, err := h.cli.NetworkList(context.Background(), network.ListOptions{Filters: filters.NewArgs(filters.Arg("label", LabelProject+"="+h.name))})
		if err != nil {
			t.Fatal(err)
		}
		var out []string
		for _, n := range ns {
			out = append(out, n.Name)
		}
		return out
	}
	if len(nets()) == 0 {
		t.Fatal("the project made no network")
	}
	before := nets()
	p := &Prune{Projects: []string{h.name}, Connect: func() (*client.Client, error) { return h.cli, nil }}
	ch, err := p.CheckApply(context.Background(), h.env, false)
	if err != nil || ch == nil {
		t.Fatalf("plan: %+v %v", ch, err)
	}
	for _, n := range before {
		if !strings.Contains(ch.Diff, "- network "+n+" (project "+h.name+" removed from repo)") {
			t.Errorf("plan does not name network %s:\n%s", n, ch.Diff)
		}
	}
	if len(nets()) != len(before) {
		t.Fatal("plan removed a network")
	}
	if _, err := p.CheckApply(context.Background(), h.env, true); err != nil {
		t.Fatal(err)
	}
	if cs := h.containers(); len(cs) != 0 {
		t.Errorf("containers left: %v", cs)
	}
	if n := nets(); len(n) != 0 {
		t.Errorf("networks left: %v", n)
	}
	if _, err := h.cli.VolumeInspect(context.Background(), h.name+"_cache"); err != nil {
		t.Errorf("named volume did not survive: %v", err)
	}
	if b, err := os.ReadFile(keep); err != nil || string(b) != "precious" {
		t.Errorf("data did not survive: %q %v", b, err)
	}
	if ch, err := p.CheckApply(context.Background(), h.env, true); err != nil || ch != nil {
		t.Errorf("second pass: %+v %v", ch, err)
	}
}
