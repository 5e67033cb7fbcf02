// Package all registers every role; the binary and the engine's tests
// import it, so a new role is added here and nowhere else outside roles/.
package all

import (
	_ "github.com/homelab-agent/homelab-agent/roles/dns"
	_ "github.com/homelab-agent/homelab-agent/roles/immich"
	_ "github.com/homelab-agent/homelab-agent/roles/jellyfin"
	_ "github.com/homelab-agent/homelab-agent/roles/nextcloud"
	_ "github.com/homelab-agent/homelab-agent/roles/tailscale"
	_ "github.com/homelab-agent/homelab-agent/roles/traefik"
)
