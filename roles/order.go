// Package roles is the kit the roles are built with, and the one list that
// orders them. Each role lives in its own package under roles/, builds on
// the contract in agent/role (Input, Output, the capabilities it may
// declare) and registers itself in init(); roles/all imports every one of
// them. A role composes primitives (files, container projects, firewall
// ports, backup declarations); it does no I/O of its own.
package roles

import "github.com/homelab-agent/homelab-agent/agent/role"

// Order is the one place that says in which order roles come up in a lab:
// name service first, then the VPN, the proxy, and the apps behind it.
// Bootstrap starts VMs in this order and listings follow it. A role
// missing from it panics when it registers.
var Order = []string{"dns", "tailscale-router", "traefik", "nextcloud", "immich", "jellyfin"}

func init() { role.SetOrder(Order) }
