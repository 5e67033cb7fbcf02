package role

import (
	"strings"

	"github.com/homelab-agent/homelab-agent/agent/lab"
)

// Part is a job a role's hosts do for the whole lab. Other roles and the
// engine find those hosts by the part, never by the role's name.
type Part string

// The parts the engine and the roles ask about.
const (
	// NameServer hosts answer the lab's zone: every host's resolver points
	// at them.
	NameServer Part = "name server"
	// ReverseProxy hosts publish every Exposer's service; app ports admit
	// them only, and the lab's service names point at the first of them.
	ReverseProxy Part = "reverse proxy"
	// VPNRouter hosts route the VPN into the lab; since they masquerade VPN
	// clients, their lab IPs count as VPN sources.
	VPNRouter Part = "VPN router"
)

// Player is implemented by roles that play parts for the lab.
type Player interface {
	Plays() []Part
}

// Plays reports whether the registered role plays the part.
func Plays(roleName string, p Part) bool {
	r, ok := Lookup(roleName)
	if !ok {
		return false
	}
	pl, ok := r.(Player)
	if !ok {
		return false
	}
	for _, x := range pl.Plays() {
		if x == p {
			return true
		}
	}
	return false
}

// HostsPlaying returns the lab's hosts whose role plays the part, in file order.
func HostsPlaying(l *lab.Lab, p Part) []*lab.Host {
	var out []*lab.Host
	for _, h := range l.Hosts {
		if Plays(h.Role, p) {
			out = append(out, h)
		}
	}
	return out
}

// RolesPlaying names the registered roles that play the part, joined
// with " or " for messages ("no host has the traefik role").
func RolesPlaying(p Part) string {
	var out []string
	for _, n := range Names() {
		if Plays(n, p) {
			out = append(out, n)
		}
	}
	if len(out) == 0 {
		return string(p)
	}
	return strings.Join(out, " or ")
}
