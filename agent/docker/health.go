package docker

import (
	"context"
	"errors"
	"fmt"
	"sort"

	"github.com/docker/docker/api/types/container"
	"github.com/docker/docker/api/types/filters"
	"github.com/docker/docker/client"
)

// ErrNotHealthy marks a project whose containers run but are not all
// healthy yet (starting, or a container not running that has not exited).
var ErrNotHealthy = errors.New("not healthy yet")

// Unhealthy checks a project's containers: nil when every one runs and
// those with a healthcheck report healthy; an error wrapping ErrNotHealthy
// naming the first that is not (yet); another error for a container that
// exited or died, or a project with no container.
func Unhealthy(ctx context.Context, cli *client.Client, project string) error {
	cs, err := cli.ContainerList(ctx, container.ListOptions{All: true,
		Filters: filters.NewArgs(filters.Arg("label", LabelProject+"="+project))})
	if err != nil {
		return fmt.Errorf("listing containers of %s: %w", project, wrapConn(cli, err))
	}
	if len(cs) == 0 {
		return fmt.Errorf("no container is labelled %s=%s", LabelProject, project)
	}
	sort.Slice(cs, func(i, j int) bool { return containerName(cs[i]) < containerName(cs[j]) })
	for _, c := range cs {
		in, err := cli.ContainerInspect(ctx, c.ID)
		if err != nil {
			return fmt.Errorf("inspecting container %s: %w", containerName(c), err)
		}
		st := in.State
		switch {
		case st == nil || !st.Running:
			if st != nil && (st.Status == "exited" || st.Status == "dead") {
				return fmt.Errorf("container %s %s with code %d", containerName(c), st.Status, st.ExitCode)
			}
			return fmt.Errorf("container %s is not running: %w", containerName(c), ErrNotHealthy)
		case st.Health != nil && st.Health.Status != "healthy":
			return fmt.Errorf("container %s is %s: %w", containerName(c), st.Health.Status, ErrNotHealthy)
		}
	}
	return nil
}

// Healthy is the project's health probe: Unhealthy on the machine's
// Docker Engine.
func (p *Project) Healthy(ctx context.Context) error {
	cli, err := p.client()
	if err != nil {
		return err
	}
	return Unhealthy(ctx, cli, p.Name)
}
