package docker

import (
	"context"
	"fmt"
	"slices"
	"strings"

	"github.com/docker/docker/api/types/container"
	"github.com/docker/docker/api/types/filters"
	"github.com/docker/docker/api/types/network"
	"github.com/docker/docker/errdefs"

	"github.com/homelab-agent/homelab-agent/agent/resource"
)

// Prune removes the containers of whole projects that left the repo (an
// app taken out of homelab.yaml, a host's old role), then the networks
// the agent created for them (so their subnets go back to the Engine's
// pools). Their volumes and data stay.
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
	var nets []network.Summary
	for _, name := range p.Projects {
		ns, err := cli.NetworkList(ctx, network.ListOptions{Filters: filters.NewArgs(
			filters.Arg("label", LabelProject+"="+name), filters.Arg("label", LabelManaged+"=true"))})
		if err != nil {
			return nil, fmt.Errorf("listing networks: %w", wrapConn(cli, err))
		}
		nets = append(nets, ns...)
	}
	slices.SortFunc(nets, func(a, b network.Summary) int { return strings.Compare(a.Name, b.Name) })
	if len(steps) == 0 && len(nets) == 0 {
		return nil, nil
	}
	ch := summarize(p.ID(), steps)
	if len(nets) > 0 {
		var names []string
		for _, n := range nets {
			names = append(names, n.Name)
			ch.Diff += fmt.Sprintf("- network %s (project %s removed from repo)\n", n.Name, n.Labels[LabelProject])
		}
		ch.Summary = strings.TrimPrefix(ch.Summary+"; remove network "+strings.Join(names, ", "), "; ")
		if len(steps) == 0 {
			ch.Action = "delete"
		}
	}
	if !apply {
		return ch, nil
	}
	c := &converger{p: &Project{}, cli: cli, env: env}
	if err := c.removeAll(ctx, steps); err != nil {
		return ch, err
	}
	for _, n := range nets {
		if err := cli.NetworkRemove(ctx, n.ID); err != nil && !errdefs.IsNotFound(err) {
			return ch, fmt.Errorf("removing network %s of removed project %s: %w", n.Name, n.Labels[LabelProject], wrapConn(cli, err))
		}
		env.Logger().Info("network removed", "network", n.Name, "project", n.Labels[LabelProject])
	}
	return ch, nil
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
