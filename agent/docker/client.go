package docker

import (
	"fmt"
	"os"
	"sync"

	"github.com/docker/docker/client"
)

// Connector opens the Docker Engine client a resource talks to.
type Connector func() (*client.Client, error)

var (
	sharedMu     sync.Mutex
	sharedClient = map[string]*client.Client{}
)

// Shared returns the process-wide client for the engine named by the
// environment (DOCKER_HOST, default unix:///var/run/docker.sock), with API
// version negotiation. It is created once per DOCKER_HOST, so that the
// negotiation ping happens once per process and not on every pass.
func Shared() (*client.Client, error) {
	sharedMu.Lock()
	defer sharedMu.Unlock()
	host := os.Getenv(client.EnvOverrideHost)
	if c := sharedClient[host]; c != nil {
		return c, nil
	}
	c, err := client.NewClientWithOpts(client.FromEnv, client.WithAPIVersionNegotiation())
	if err != nil {
		return nil, fmt.Errorf("configuring the Docker client: %w", err)
	}
	sharedClient[host] = c
	return c, nil
}

// UnreachableError says the Docker Engine could not be reached.
type UnreachableError struct {
	Host string
	Err  error
}

func (e *UnreachableError) Error() string {
	return fmt.Sprintf("cannot reach the Docker Engine at %s (is docker running? is DOCKER_HOST right?): %v", e.Host, e.Err)
}

func (e *UnreachableError) Unwrap() error { return e.Err }

// wrapConn turns a connection failure into an *UnreachableError.
func wrapConn(c *client.Client, err error) error {
	if err != nil && client.IsErrConnectionFailed(err) {
		return &UnreachableError{Host: c.DaemonHost(), Err: err}
	}
	return err
}
