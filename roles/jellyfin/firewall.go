package jellyfin

import "github.com/homelab-agent/homelab-agent/roles"

var _ roles.Firewaller = Role{}

// Ports implements roles.Firewaller: Jellyfin's port, from the proxy only.
func (r Role) Ports(in roles.Input) []roles.Port {
	return []roles.Port{{Port: roles.ExposedPort(r, in.Host), Proto: "tcp", From: roles.Proxy, Service: "jellyfin"}}
}
