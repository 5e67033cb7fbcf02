package agent

import (
	"context"
	"testing"

	"github.com/homelab-agent/homelab-agent/agent/resource"
)

// A reload hook runs without the agent's private variables.
func TestHookEnvironmentIsClean(t *testing.T) {
	t.Setenv("HOMELAB_AGENT_AUTH_TOKEN", "tok-123")
	t.Setenv("HOMELAB_SECRET_DB", "db-789")
	h := &resource.Hook{Name: "env", Commands: [][]string{{"sh", "-c", `env | grep HOMELAB_ && exit 1; exit 0`}}}
	if err := runHook(context.Background(), h); err != nil {
		t.Fatalf("the hook saw the agent's variables: %v", err)
	}
}
