package pvesim

import (
	"os"
	"sync"
	"testing"

	"github.com/homelab-agent/homelab-agent/internal/testreq"
)

var (
	schemaOnce sync.Once
	schemaVal  *Schema
	schemaErr  error
)

// TestingSchema loads Proxmox's apidoc.js ($PVE_APIDOC, or
// shared/proxmox/apidoc.js above the test's directory) once per test
// binary. Without it the test skips on a laptop and fails under CI=true.
func TestingSchema(t testing.TB) *Schema {
	t.Helper()
	schemaOnce.Do(func() {
		var path string
		path, schemaErr = FindSchema(".")
		if schemaErr != nil && os.Getenv(SchemaEnv) == "" {
			// The repo may be cloned away from the shared folder (CI).
			if p, ok := testreq.FindShared("proxmox/apidoc.js"); ok {
				path, schemaErr = p, nil
			}
		}
		if schemaErr == nil {
			schemaVal, schemaErr = LoadSchema(path)
		}
	})
	if schemaErr != nil {
		testreq.Missing(t, "Proxmox API schema: %v (set $%s)", schemaErr, SchemaEnv)
	}
	return schemaVal
}
