package docker

import (
	"context"
	"fmt"
	"slices"
	"strings"

	"github.com/docker/docker/api/types/container"
	"github.com/docker/docker/api/types/filters"

	"github.com/homelab-agent/homelab-agent/agent/resource"
)

// Prune removes the containers of whole projects that left the repo (an
// app taken out of homelab.yaml, a host's old role). Its volumes,
// networks and data stay.
type Prune struct {
	// Projects are the project names to remove.
	Projects []string
	// Connect opens the engine client; nil uses Shared.
	Connect Connector
}

var _ resource.Resource = (*Prune)(nil)

// ID implements resource.Resource.
func (p *Prune) ID() string { return "prune:containers" }

// Subsystem implements resource.Resource.
func (p *Prune) Subsystem() string { return Subsystem }

// CheckApply implements resource.Resource.
func (p *Prune) CheckApply(ctx context.Context, env *resource.Env, apply bool) (*resource.Change, error) {
	if len(p.Projects) == 0 {
		return nil, nil
	}
	connect := p.Connect
	if connect == nil {
		connect = Shared
	}
	cli, err := connect()
	if err != nil {
		return nil, err
	}
	var steps []*step
	for _, name := range p.Projects {
		cs, err := cli.ContainerList(ctx, container.ListOptions{All: true,
			Filters: filters.NewArgs(filters.Arg("label", LabelProject+"="+name))})
		if err != nil {
			return nil, fmt.Errorf("listing containers: %w", wrapConn(cli, err))
		}
		slices.SortFunc(cs, func(a, b container.Summary) int { return strings.Compare(containerName(a), containerName(b)) })
		for _, c := range cs {
			steps = append(steps, &step{spec: &Spec{Project: name, Service: name + "/" + c.Labels[LabelService], Name: containerName(c)},
				action: "remove", reasons: []string{"project removed from repo"}, old: &c})
		}
	}
	if len(steps) == 0 {
		return nil, nil
	}
	ch := summarize(p.ID(), steps)
	if !apply {
		return ch, nil
	}
	c := &converger{p: &Project{}, cli: cli, env: env}
	return ch, c.removeAll(ctx, steps)
}

func (c *converger) removeAll(ctx context.Context, steps []*step) error {
	for _, s := range steps {
		if err := c.remove(ctx, s.old.ID, s.spec.Name); err != nil {
			return err
		}
		c.env.Logger().Info("container removed", "container", s.spec.Name, "reason", s.reasons[0])
	}
	return nil
}
