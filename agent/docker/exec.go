package docker

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"strings"

	"github.com/docker/docker/api/types/container"
	"github.com/docker/docker/api/types/filters"
	"github.com/docker/docker/client"
	"github.com/docker/docker/pkg/stdcopy"
)

// Service finds the managed container of a project's service.
func Service(ctx context.Context, cli *client.Client, project, service string) (container.Summary, error) {
	cs, err := cli.ContainerList(ctx, container.ListOptions{All: true, Filters: filters.NewArgs(
		filters.Arg("label", LabelProject+"="+project), filters.Arg("label", LabelService+"="+service))})
	if err != nil {
		return container.Summary{}, fmt.Errorf("listing containers: %w", wrapConn(cli, err))
	}
	if len(cs) == 0 {
		return container.Summary{}, fmt.Errorf("project %s has no container for service %s (has the host been applied?)", project, service)
	}
	return cs[0], nil
}

// Exec runs argv in the service's container as user ("" for the image's
// user), streaming its standard output to stdout. A non-zero exit status
// is an error carrying the last lines of standard error.
func Exec(ctx context.Context, cli *client.Client, project, service, user string, argv []string, stdout io.Writer) error {
	return ExecEnv(ctx, cli, project, service, user, argv, nil, stdout)
}

// ExecEnv is Exec with env (KEY=value) added to the command's
// environment: for a value the command reads from there (occ's OC_PASS),
// never from its argv. Callers redact errors.
func ExecEnv(ctx context.Context, cli *client.Client, project, service, user string, argv, env []string, stdout io.Writer) error {
	c, err := Service(ctx, cli, project, service)
	if err != nil {
		return err
	}
	what := fmt.Sprintf("running %q in %s/%s", strings.Join(argv, " "), project, service)
	ex, err := cli.ContainerExecCreate(ctx, c.ID, container.ExecOptions{User: user, Cmd: argv, Env: env, AttachStdout: true, AttachStderr: true})
	if err != nil {
		return fmt.Errorf("%s: %w", what, err)
	}
	att, err := cli.ContainerExecAttach(ctx, ex.ID, container.ExecAttachOptions{})
	if err != nil {
		return fmt.Errorf("%s: %w", what, err)
	}
	defer att.Close()
	if stdout == nil {
		stdout = io.Discard
	}
	var stderr bytes.Buffer
	if _, err := stdcopy.StdCopy(stdout, &stderr, att.Reader); err != nil {
		return fmt.Errorf("%s: reading output: %w", what, err)
	}
	return execResult(ctx, cli, ex.ID, what, &stderr)
}

// execResult turns a finished exec's exit status into an error carrying
// the tail of its standard error.
func execResult(ctx context.Context, cli *client.Client, id, what string, stderr *bytes.Buffer) error {
	info, err := cli.ContainerExecInspect(ctx, id)
	if err != nil {
		return fmt.Errorf("%s: %w", what, err)
	}
	if info.ExitCode != 0 {
		msg := strings.TrimSpace(stderr.String())
		if len(msg) > 500 {
			msg = "..." + msg[len(msg)-500:]
		}
		return fmt.Errorf("%s: exit status %d: %s", what, info.ExitCode, msg)
	}
	return nil
}

// Stop stops the service's container (its data stays where it is).
func Stop(ctx context.Context, cli *client.Client, project, service string) error {
	c, err := Service(ctx, cli, project, service)
	if err != nil {
		return err
	}
	if err := cli.ContainerStop(ctx, c.ID, container.StopOptions{}); err != nil {
		return fmt.Errorf("stopping %s/%s: %w", project, service, err)
	}
	return nil
}

// Start starts the service's container.
func Start(ctx context.Context, cli *client.Client, project, service string) error {
	c, err := Service(ctx, cli, project, service)
	if err != nil {
		return err
	}
	if err := cli.ContainerStart(ctx, c.ID, container.StartOptions{}); err != nil {
		return fmt.Errorf("starting %s/%s: %w", project, service, err)
	}
	return nil
}

// Env returns one variable of the service container's environment.
func Env(ctx context.Context, cli *client.Client, project, service, key string) (string, bool, error) {
	c, err := Service(ctx, cli, project, service)
	if err != nil {
		return "", false, err
	}
	info, err := cli.ContainerInspect(ctx, c.ID)
	if err != nil {
		return "", false, err
	}
	for _, kv := range info.Config.Env {
		if k, v, ok := strings.Cut(kv, "="); ok && k == key {
			return v, true, nil
		}
	}
	return "", false, nil
}
