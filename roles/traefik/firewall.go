package traefik

import "github.com/homelab-agent/homelab-agent/roles"

var _ roles.Firewaller = Role{}

// Ports implements roles.Firewaller: HTTP (redirected to HTTPS) and HTTPS
// for the lab and the VPN.
func (Role) Ports(roles.Input) []roles.Port {
	return []roles.Port{
		{Port: 80, Proto: "tcp", From: roles.Clients, Service: "http"},
		{Port: 443, Proto: "tcp", From: roles.Clients, Service: "https"},
	}
}
