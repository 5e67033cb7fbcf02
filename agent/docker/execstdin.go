package docker

import (
	"bytes"
	"context"
	"fmt"
	"io"

	"github.com/docker/docker/api/types/container"
	"github.com/docker/docker/client"
	"github.com/docker/docker/pkg/stdcopy"
)

// ExecStdin runs argv in the service's running container with stdin as
// its standard input (e.g. SQL holding a secret, which must not be in an
// argv that `ps` shows). A non-zero exit status is an error carrying the
// last lines of standard error; callers redact it.
func ExecStdin(ctx context.Context, cli *client.Client, project, service string, argv []string, stdin io.Reader) error {
	c, err := Service(ctx, cli, project, service)
	if err != nil {
		return err
	}
	if c.State != "running" {
		return fmt.Errorf("%s/%s is %s, not running", project, service, c.State)
	}
	what := fmt.Sprintf("running %q in %s/%s", argv[0], project, service)
	ex, err := cli.ContainerExecCreate(ctx, c.ID, container.ExecOptions{Cmd: argv, AttachStdin: true, AttachStdout: true, AttachStderr: true})
	if err != nil {
		return fmt.Errorf("%s: %w", what, err)
	}
	att, err := cli.ContainerExecAttach(ctx, ex.ID, container.ExecAttachOptions{})
	if err != nil {
		return fmt.Errorf("%s: %w", what, err)
	}
	defer att.Close()
	var stderr bytes.Buffer
	done := make(chan error, 1)
	go func() {
		_, err := stdcopy.StdCopy(io.Discard, &stderr, att.Reader)
		done <- err
	}()
	if _, err := io.Copy(att.Conn, stdin); err != nil {
		return fmt.Errorf("%s: writing its input: %w", what, err)
	}
	att.CloseWrite()
	if err := <-done; err != nil {
		return fmt.Errorf("%s: reading output: %w", what, err)
	}
	return execResult(ctx, cli, ex.ID, what, &stderr)
}
