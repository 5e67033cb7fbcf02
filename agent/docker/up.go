package docker

import (
	"context"
	"fmt"
	"slices"
	"strings"

	"github.com/docker/docker/api/types/container"
	"github.com/docker/docker/api/types/filters"
	"github.com/docker/docker/client"

	"github.com/homelab-agent/homelab-agent/agent/resource"
)

// Client opens the project's engine client (Connect, else Shared).
func (p *Project) Client() (*client.Client, error) { return p.client() }

// Up converges only the named services of the project and what they
// depend on: each is created, recreated or started as a pass would, and
// nothing else of the project is touched (no removal either). A
// self-restore uses it to start a database alone, before the project's
// first pass, to load a dump into it; the pass that follows finds the
// database as it wants it and creates the rest. It does not look at holds:
// its caller holds the service.
func (p *Project) Up(ctx context.Context, env *resource.Env, services ...string) error {
	proj, err := loadProject(ctx, &p.Source, env.Path, p.environ())
	if err != nil {
		return err
	}
	want := map[string]bool{}
	var add func(name string) error
	add = func(name string) error {
		if want[name] {
			return nil
		}
		i := slices.IndexFunc(proj.Services, func(s *Spec) bool { return s.Service == name })
		if i < 0 {
			var names []string
			for _, s := range proj.Services {
				names = append(names, s.Service)
			}
			return fmt.Errorf("project %s has no service %s (it has %s)", p.Name, name, strings.Join(names, ", "))
		}
		want[name] = true
		for dep := range proj.Services[i].DependsOn {
			if err := add(dep); err != nil {
				return err
			}
		}
		return nil
	}
	for _, s := range services {
		if err := add(s); err != nil {
			return err
		}
	}
	cli, err := p.client()
	if err != nil {
		return err
	}
	existing, err := cli.ContainerList(ctx, container.ListOptions{All: true,
		Filters: filters.NewArgs(filters.Arg("label", LabelProject+"="+p.Name))})
	if err != nil {
		return fmt.Errorf("listing containers: %w", wrapConn(cli, err))
	}
	steps, err := p.diff(ctx, cli, env, proj, existing)
	if err != nil {
		return err
	}
	steps = slices.DeleteFunc(steps, func(s *step) bool { return s.action == "remove" || !want[s.spec.Service] })
	c := &converger{p: p, cli: cli, env: env, proj: proj}
	return c.run(ctx, steps)
}
