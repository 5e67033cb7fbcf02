package dns

import "github.com/homelab-agent/homelab-agent/agent/role"

var _ role.Firewaller = Role{}

// Ports implements role.Firewaller: DNS over UDP and TCP for the lab and
// the VPN, the same clients named.conf lets recurse.
func (Role) Ports(role.Input) []role.Port {
	return []role.Port{
		{Port: 53, Proto: "udp", From: role.Clients, Service: "dns"},
		{Port: 53, Proto: "tcp", From: role.Clients, Service: "dns"},
	}
}
