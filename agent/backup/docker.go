package backup

import (
	"context"
	"errors"
	"fmt"
	"io"
	"sort"
	"strings"
	"time"

	"github.com/docker/docker/api/types/container"
	"github.com/docker/docker/api/types/filters"
	"github.com/docker/docker/client"
	"github.com/docker/docker/pkg/stdcopy"

	"github.com/homelab-agent/homelab-agent/agent/docker"
)

// Container labels DockerControl selects by. The containers subsystem
// puts them on every container it creates.
const (
	// LabelService names the service (the stateful role, e.g. immich) a
	// container belongs to: the containers subsystem's compose project.
	LabelService = docker.LabelProject
	// LabelComponent names the container within its service (e.g.
	// "database"): the compose service. Dump.Container refers to it.
	LabelComponent = docker.LabelService
)

// DockerControl is the Docker Engine's ServiceControl and DumpLoader: it
// acts on the containers labelled homelab.service=<service>.
type DockerControl struct {
	Client *client.Client
	// StopTimeout is how long a container gets to stop before SIGKILL (60s).
	StopTimeout time.Duration
	// Poll is how often WaitHealthy looks (500ms).
	Poll time.Duration
	// Create, when set, creates (and starts) the service's container
	// for a compose service (component) that has none yet, from the
	// service's compose project: a self-restore starts the database alone
	// this way before the service's first start, and `restore` when the
	// container was removed. nil: a missing container is an error.
	Create func(ctx context.Context, service, component string) error
}

var (
	_ ServiceControl = (*DockerControl)(nil)
	_ DumpLoader     = (*DockerControl)(nil)
)

// NewDockerControl connects to the Docker Engine from the environment
// (DOCKER_HOST or the default socket), negotiating the API version.
func NewDockerControl() (*DockerControl, error) {
	c, err := client.NewClientWithOpts(client.FromEnv, client.WithAPIVersionNegotiation())
	if err != nil {
		return nil, fmt.Errorf("connecting to the Docker Engine: %w", err)
	}
	return &DockerControl{Client: c}, nil
}

func (d *DockerControl) containers(ctx context.Context, service, component string) ([]container.Summary, error) {
	f := filters.NewArgs(filters.Arg("label", LabelService+"="+service))
	if component != "" {
		f.Add("label", LabelComponent+"="+component)
	}
	cs, err := d.Client.ContainerList(ctx, container.ListOptions{All: true, Filters: f})
	if err != nil {
		return nil, fmt.Errorf("listing containers of %s: %w", service, err)
	}
	sort.Slice(cs, func(i, j int) bool { return name(cs[i]) < name(cs[j]) })
	return cs, nil
}

func name(c container.Summary) string {
	if len(c.Names) > 0 {
		return strings.TrimPrefix(c.Names[0], "/")
	}
	return c.ID[:12]
}

// Stop implements ServiceControl.
func (d *DockerControl) Stop(ctx context.Context, service string) error {
	cs, err := d.containers(ctx, service, "")
	if err != nil {
		return err
	}
	secs := int(d.stopTimeout().Seconds())
	for _, c := range cs {
		if c.State != "running" && c.State != "restarting" && c.State != "paused" {
			continue
		}
		if err := d.Client.ContainerStop(ctx, c.ID, container.StopOptions{Timeout: &secs}); err != nil {
			return fmt.Errorf("stopping container %s: %w", name(c), err)
		}
	}
	return nil
}

func (d *DockerControl) stopTimeout() time.Duration {
	if d.StopTimeout == 0 {
		return 60 * time.Second
	}
	return d.StopTimeout
}

// Start implements ServiceControl.
func (d *DockerControl) Start(ctx context.Context, service string) error {
	cs, err := d.containers(ctx, service, "")
	if err != nil {
		return err
	}
	if len(cs) == 0 {
		return fmt.Errorf("no container is labelled %s=%s", LabelService, service)
	}
	for _, c := range cs {
		if c.State == "running" {
			continue
		}
		if err := d.Client.ContainerStart(ctx, c.ID, container.StartOptions{}); err != nil {
			return fmt.Errorf("starting container %s: %w", name(c), err)
		}
	}
	return nil
}

// WaitHealthy implements ServiceControl: every container runs, and those
// with a health check are healthy.
func (d *DockerControl) WaitHealthy(ctx context.Context, service string) error {
	poll := d.Poll
	if poll == 0 {
		poll = 500 * time.Millisecond
	}
	t := time.NewTicker(poll)
	defer t.Stop()
	for {
		waiting, err := d.unhealthy(ctx, service)
		if err != nil {
			return err
		}
		if waiting == "" {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("%s: %w", waiting, ctx.Err())
		case <-t.C:
		}
	}
}

// unhealthy names the first container that is not yet running and
// healthy, "" when all are; a container that exited is an error.
func (d *DockerControl) unhealthy(ctx context.Context, service string) (string, error) {
	err := docker.Unhealthy(ctx, d.Client, service)
	switch {
	case err == nil:
		return "", nil
	case errors.Is(err, docker.ErrNotHealthy):
		return strings.TrimSuffix(err.Error(), ": "+docker.ErrNotHealthy.Error()), nil
	}
	return "", err
}

// LoadDump implements DumpLoader: it starts the dump's container alone
// (see database) and runs Dump.Restore in it with the dump on stdin.
func (d *DockerControl) LoadDump(ctx context.Context, service string, dump Dump, r io.Reader) error {
	c, err := d.database(ctx, service, dump.Container)
	if err != nil {
		return err
	}
	out, err := d.exec(ctx, c, dump.Restore, r)
	if err != nil {
		return fmt.Errorf("the restore command (%s) in %s %w: %s", short(dump.Restore), name(c), err, out)
	}
	return nil
}

// CheckDump implements DumpLoader: it starts the dump's container alone
// and returns what Dump.Check prints (what the database holds).
func (d *DockerControl) CheckDump(ctx context.Context, service string, dump Dump) (string, error) {
	if len(dump.Check) == 0 {
		return "", nil
	}
	c, err := d.database(ctx, service, dump.Container)
	if err != nil {
		return "", err
	}
	out, err := d.exec(ctx, c, dump.Check, nil)
	if err != nil {
		return "", fmt.Errorf("the check command (%s) in %s %w: %s", short(dump.Check), name(c), err, out)
	}
	return out, nil
}

// database returns the service's component container, running. When it
// does not exist and Create is set (a self-restore, before the service's
// first start), Create makes it; the service's other containers are left
// as they are.
func (d *DockerControl) database(ctx context.Context, service, component string) (container.Summary, error) {
	cs, err := d.containers(ctx, service, component)
	if err != nil {
		return container.Summary{}, err
	}
	if len(cs) == 0 && d.Create != nil {
		if err := d.Create(ctx, service, component); err != nil {
			return container.Summary{}, fmt.Errorf("creating the %s container of %s: %w", component, service, err)
		}
		if cs, err = d.containers(ctx, service, component); err != nil {
			return container.Summary{}, err
		}
	}
	if len(cs) != 1 {
		return container.Summary{}, fmt.Errorf("want one container labelled %s=%s,%s=%s, found %d", LabelService, service, LabelComponent, component, len(cs))
	}
	c := cs[0]
	if c.State != "running" {
		if err := d.Client.ContainerStart(ctx, c.ID, container.StartOptions{}); err != nil {
			return container.Summary{}, fmt.Errorf("starting container %s: %w", name(c), err)
		}
	}
	return c, nil
}

// exec runs argv in c with stdin (nil for none) and returns its output
// (standard output and error, the tail); a non-zero exit is an error.
func (d *DockerControl) exec(ctx context.Context, c container.Summary, argv []string, stdin io.Reader) (string, error) {
	ex, err := d.Client.ContainerExecCreate(ctx, c.ID, container.ExecOptions{Cmd: argv, AttachStdin: stdin != nil, AttachStdout: true, AttachStderr: true})
	if err != nil {
		return "", fmt.Errorf("creating exec in %s: %w", name(c), err)
	}
	att, err := d.Client.ContainerExecAttach(ctx, ex.ID, container.ExecAttachOptions{})
	if err != nil {
		return "", fmt.Errorf("attaching to exec in %s: %w", name(c), err)
	}
	defer att.Close()
	var out tailBuffer
	copied := make(chan error, 1)
	go func() {
		_, err := stdcopy.StdCopy(&out, &out, att.Reader)
		copied <- err
	}()
	if stdin != nil {
		if _, err := io.Copy(att.Conn, stdin); err != nil {
			return "", fmt.Errorf("sending input to %s: %w", name(c), err)
		}
	}
	att.CloseWrite()
	<-copied
	in, err := d.Client.ContainerExecInspect(ctx, ex.ID)
	if err != nil {
		return "", err
	}
	if in.ExitCode != 0 {
		return strings.TrimSpace(string(out.buf)), fmt.Errorf("exited with code %d", in.ExitCode)
	}
	return strings.TrimSpace(string(out.buf)), nil
}

// short names a command for a message: its words up to the first long
// one (a shell script), so that a script is not quoted whole.
func short(argv []string) string {
	var words []string
	for _, w := range argv {
		if len(w) > 40 || strings.Contains(w, "\n") {
			words = append(words, "...")
			break
		}
		words = append(words, w)
	}
	return strings.Join(words, " ")
}
