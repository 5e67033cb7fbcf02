package dns

import "github.com/homelab-agent/homelab-agent/roles"

var _ roles.Firewaller = Role{}

// Ports implements roles.Firewaller: DNS over UDP and TCP for the lab and
// the VPN, the same clients named.conf lets recurse.
func (Role) Ports(roles.Input) []roles.Port {
	return []roles.Port{
		{Port: 53, Proto: "udp", From: roles.Clients, Service: "dns"},
		{Port: 53, Proto: "tcp", From: roles.Clients, Service: "dns"},
	}
}
