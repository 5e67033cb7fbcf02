package agent_test

import (
	"slices"
	"testing"
	"time"

	"github.com/homelab-agent/homelab-agent/agent"
	"github.com/homelab-agent/homelab-agent/agent/health"
)

// TestRolesDeclareHealthProbes: each sample host's desired state carries
// its role's probes, a probe per compose project, and the role's deadline.
func TestRolesDeclareHealthProbes(t *testing.T) {
	l, err := agent.LoadLab("../fixtures/lab")
	if err != nil {
		t.Fatal(err)
	}
	for host, want := range map[string]struct {
		probes   []string
		deadline time.Duration
	}{
		"dns1":   {[]string{"dns dns1.home.example A at 192.168.100.2:53", "dns nextcloud.home.example A at 192.168.100.2:53", "dns whoami.home.example A at 192.168.100.2:53"}, 30 * time.Second},
		"proxy":  {[]string{"traefik route nextcloud.home.example", "traefik route immich.home.example", "traefik route jellyfin.home.example", "traefik route whoami.home.example", "containers of traefik"}, 120 * time.Second},
		"cloud":  {[]string{"nextcloud /status.php", "containers of nextcloud"}, 120 * time.Second},
		"photos": {[]string{"immich /api/server/ping", "containers of immich"}, 120 * time.Second},
		"media":  {[]string{"jellyfin /health", "containers of whoami", "containers of jellyfin"}, 90 * time.Second},
		"vpn":    {[]string{"tailscale status (routes 192.168.100.0/24)"}, 0},
	} {
		_, out, err := agent.Desired(l, host, nil, time.Now())
		if err != nil {
			t.Fatal(err)
		}
		var got []string
		for _, p := range out.Health.Probes {
			got = append(got, p.String())
		}
		for _, w := range want.probes {
			if !slices.Contains(got, w) {
				t.Errorf("%s: probes %q lack %q", host, got, w)
			}
		}
		if out.Health.Deadline != want.deadline {
			t.Errorf("%s: deadline %s, want %s", host, out.Health.Deadline, want.deadline)
		}
		for _, p := range out.Health.Probes {
			if h, ok := p.(health.HTTP); ok && h.URL == "" {
				t.Errorf("%s: probe %s has no URL", host, p)
			}
		}
	}
}
