// Package all registers every role; the binary and the tests import it. A
// new role is added here, in roles.Order, and in its own package under
// roles/, and nowhere else (docs/architecture.md).
package all

import (
	_ "github.com/homelab-agent/homelab-agent/roles/dns"
	_ "github.com/homelab-agent/homelab-agent/roles/immich"
	_ "github.com/homelab-agent/homelab-agent/roles/jellyfin"
	_ "github.com/homelab-agent/homelab-agent/roles/nextcloud"
	_ "github.com/homelab-agent/homelab-agent/roles/tailscale"
	_ "github.com/homelab-agent/homelab-agent/roles/traefik"
)
