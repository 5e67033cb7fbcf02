package docker

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/compose-spec/compose-go/v2/types"
	"github.com/docker/docker/api/types/container"
	"github.com/docker/docker/api/types/network"
	"github.com/docker/docker/api/types/volume"
	"github.com/docker/docker/client"
	"github.com/docker/docker/errdefs"

	"github.com/homelab-agent/homelab-agent/agent/resource"
)

// converger applies a pass's steps.
type converger struct {
	p       *Project
	cli     *client.Client
	env     *resource.Env
	proj    *project
	ensured bool
}

// run removes what left the repo first (freeing names and ports), then
// creates, recreates and starts services in dependency order.
func (c *converger) run(ctx context.Context, steps []*step) error {
	for _, s := range steps {
		if s.action == "remove" {
			if err := c.remove(ctx, s.old.ID, s.spec.Name); err != nil {
				return err
			}
			c.env.Logger().Info("container removed", "project", c.p.Name, "service", s.spec.Service, "reason", s.reasons[0])
		}
	}
	for _, s := range steps {
		if s.action == "remove" {
			continue
		}
		if err := c.apply(ctx, s); err != nil {
			return fmt.Errorf("service %s: %w", s.spec.Service, err)
		}
	}
	return nil
}

func (c *converger) apply(ctx context.Context, s *step) error {
	if err := c.waitDeps(ctx, s.spec); err != nil {
		return err
	}
	if s.action == "start" {
		err := c.cli.ContainerStart(ctx, s.old.ID, container.StartOptions{})
		if !errdefs.IsNotFound(err) {
			if err != nil {
				return fmt.Errorf("starting container: %s", c.env.Secrets.Redact(err.Error()))
			}
			return nil
		}
		// The engine rolled back a create whose client (an agent killed
		// mid-call) went away after the list: create it now.
		s.old, s.action = nil, "create"
	}
	if err := c.ensureShared(ctx); err != nil {
		return err
	}
	if err := c.ensureImage(ctx, s.spec); err != nil {
		return err
	}
	cc, err := s.spec.build(c.env.Secrets, s.hash, s.fields)
	if err != nil {
		return err
	}
	if s.old != nil {
		if err := c.remove(ctx, s.old.ID, s.spec.Name); err != nil {
			return err
		}
	}
	// The name is fixed, so an interrupted pass can never leave two
	// containers for one service: the engine refuses the second name.
	created, err := c.cli.ContainerCreate(ctx, cc.Config, cc.Host, cc.Net, nil, s.spec.Name)
	if errdefs.IsConflict(err) {
		return fmt.Errorf("creating container %s: the name is taken by a container the agent does not manage; rename or remove it: %w", s.spec.Name, err)
	}
	if err != nil {
		return fmt.Errorf("creating container %s: %s", s.spec.Name, c.env.Secrets.Redact(err.Error()))
	}
	for n, ep := range cc.Connect {
		if err := c.cli.NetworkConnect(ctx, n, created.ID, ep); err != nil {
			return fmt.Errorf("connecting %s to network %s: %w", s.spec.Name, n, err)
		}
	}
	if err := c.start(ctx, created.ID); err != nil {
		return err
	}
	c.env.Logger().Info("container "+s.action+"d", "project", c.p.Name, "service", s.spec.Service, "container", s.spec.Name)
	return nil
}

func (c *converger) start(ctx context.Context, id string) error {
	if err := c.cli.ContainerStart(ctx, id, container.StartOptions{}); err != nil {
		return fmt.Errorf("starting container: %s", c.env.Secrets.Redact(err.Error()))
	}
	return nil
}

// remove stops and removes a container, never its volumes.
func (c *converger) remove(ctx context.Context, id, name string) error {
	if err := c.cli.ContainerStop(ctx, id, container.StopOptions{}); err != nil && !errdefs.IsNotFound(err) {
		return fmt.Errorf("stopping %s: %w", name, err)
	}
	err := c.cli.ContainerRemove(ctx, id, container.RemoveOptions{RemoveVolumes: false})
	if err != nil && !errdefs.IsNotFound(err) {
		return fmt.Errorf("removing %s: %w", name, err)
	}
	return nil
}

// ensureShared creates the project's networks and named volumes that do
// not exist yet (only when a container is about to be created).
func (c *converger) ensureShared(ctx context.Context) error {
	if c.ensured {
		return nil
	}
	labels := func(extra map[string]string) map[string]string {
		l := map[string]string{LabelManaged: "true", LabelProject: c.p.Name}
		for k, v := range extra {
			l[k] = v
		}
		return l
	}
	used := map[string]bool{}
	for _, s := range c.proj.Services {
		for n := range s.Networks {
			used[n] = true
		}
	}
	for key, n := range c.proj.Networks {
		if !used[n.Name] {
			continue // compose's implicit default network, unused under network_mode
		}
		_, err := c.cli.NetworkInspect(ctx, n.Name, network.InspectOptions{})
		switch {
		case err == nil:
			continue
		case !errdefs.IsNotFound(err):
			return fmt.Errorf("inspecting network %s: %w", n.Name, err)
		case n.External:
			return fmt.Errorf("network %s (%s) is external but does not exist", key, n.Name)
		}
		l := labels(n.Labels)
		l["com.docker.compose.project"] = c.p.Name
		l["com.docker.compose.network"] = key
		_, err = c.cli.NetworkCreate(ctx, n.Name, network.CreateOptions{Driver: n.Driver, Options: n.DriverOpts,
			Internal: n.Internal, Attachable: n.Attachable, Labels: l})
		if err != nil && !errdefs.IsConflict(err) {
			return fmt.Errorf("creating network %s: %w", n.Name, err)
		}
	}
	for key, v := range c.proj.Volumes {
		_, err := c.cli.VolumeInspect(ctx, v.Name)
		switch {
		case err == nil:
			continue
		case !errdefs.IsNotFound(err):
			return fmt.Errorf("inspecting volume %s: %w", v.Name, err)
		case v.External:
			return fmt.Errorf("volume %s (%s) is external but does not exist", key, v.Name)
		}
		l := labels(v.Labels)
		l["com.docker.compose.project"] = c.p.Name
		l["com.docker.compose.volume"] = key
		if _, err := c.cli.VolumeCreate(ctx, volume.CreateOptions{Name: v.Name, Driver: v.Driver, DriverOpts: v.DriverOpts, Labels: l}); err != nil {
			return fmt.Errorf("creating volume %s: %w", v.Name, err)
		}
	}
	c.ensured = true
	return nil
}

// waitDeps waits until every dependency meets its depends_on condition.
func (c *converger) waitDeps(ctx context.Context, s *Spec) error {
	for _, dep := range c.proj.Services {
		cond, ok := s.DependsOn[dep.Service]
		if !ok {
			continue
		}
		if err := c.wait(ctx, dep, cond); err != nil {
			return fmt.Errorf("waiting for %s to be %s: %w", dep.Service, condName(cond), err)
		}
	}
	return nil
}

func condName(cond string) string {
	switch cond {
	case types.ServiceConditionHealthy:
		return "healthy"
	case types.ServiceConditionCompletedSuccessfully:
		return "completed successfully"
	}
	return "started"
}

// errWaitFailed ends a wait early: the condition can no longer be met.
var errWaitFailed = errors.New("condition cannot be met")

// wait polls the dependency's container with a deadline.
func (c *converger) wait(ctx context.Context, dep *Spec, cond string) error {
	timeout := c.p.HealthTimeout
	if timeout == 0 {
		timeout = 5 * time.Minute
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	delay := 50 * time.Millisecond
	last := "not found"
	logged := time.Now()
	for {
		info, err := c.cli.ContainerInspect(ctx, dep.Name)
		if err == nil && info.State != nil {
			st := info.State
			last = st.Status
			switch cond {
			case types.ServiceConditionStarted:
				if st.Running || (st.Status == "exited" && st.ExitCode == 0) {
					return nil
				}
			case types.ServiceConditionCompletedSuccessfully:
				if st.Status == "exited" {
					if st.ExitCode == 0 {
						return nil
					}
					return fmt.Errorf("%w: it exited with status %d", errWaitFailed, st.ExitCode)
				}
			case types.ServiceConditionHealthy:
				if st.Health == nil {
					return fmt.Errorf("%w: %s has no healthcheck", errWaitFailed, dep.Service)
				}
				last = "health " + st.Health.Status
				if st.Health.Status == "healthy" {
					return nil
				}
				if !st.Running && st.Status != "created" && st.Status != "restarting" {
					return fmt.Errorf("%w: it is %s", errWaitFailed, st.Status)
				}
			}
		} else if err != nil && !errdefs.IsNotFound(err) && ctx.Err() == nil {
			return err
		}
		if time.Since(logged) > 10*time.Second {
			c.env.Logger().Info("waiting for dependency", "project", c.p.Name, "service", dep.Service, "condition", condName(cond), "state", last)
			logged = time.Now()
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("gave up after %s (last state: %s)", timeout, last)
		case <-time.After(delay):
		}
		delay = min(delay*2, time.Second)
	}
}
