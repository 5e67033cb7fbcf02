package traefik

import "github.com/homelab-agent/homelab-agent/agent/role"

var _ role.Firewaller = Role{}

// Ports implements role.Firewaller: HTTP (redirected to HTTPS) and HTTPS
// for the lab and the VPN.
func (Role) Ports(role.Input) []role.Port {
	return []role.Port{
		{Port: 80, Proto: "tcp", From: role.Clients, Service: "http"},
		{Port: 443, Proto: "tcp", From: role.Clients, Service: "https"},
	}
}
