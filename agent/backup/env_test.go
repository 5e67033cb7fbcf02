package backup

import (
	"strings"
	"testing"
)

// The agent's own variables (its config, which may hold the repo token,
// and its secrets) never reach restic.
func TestResticEnvDropsAgentVariables(t *testing.T) {
	env := resticEnv([]string{"PATH=/bin", "HOMELAB_AGENT_AUTH_TOKEN=tok-123", "HOMELAB_AGENT_WEBHOOK_SECRET=hook-456",
		"HOMELAB_SECRET_DB=db-789", "RESTIC_PASSWORD=x"}, testSecrets(testPassword), "s3:http://h/b", "/pw", "/cache")
	all := strings.Join(env, "\n")
	for _, bad := range []string{"tok-123", "hook-456", "db-789", "RESTIC_PASSWORD=x"} {
		if strings.Contains(all, bad) {
			t.Errorf("restic's environment holds %q:\n%s", bad, all)
		}
	}
	if !strings.Contains(all, "PATH=/bin") || !strings.Contains(all, "RESTIC_PASSWORD_FILE=/pw") {
		t.Errorf("restic's environment lacks what it needs:\n%s", all)
	}
}
