package bootstrap

import (
	"bytes"
	"fmt"
	"net/netip"
)

// InterfacesFile is where the lab bridge is defined on the node, sourced by
// Proxmox's /etc/network/interfaces ("source /etc/network/interfaces.d/*").
const InterfacesFile = "/etc/network/interfaces.d/homelab"

// Interfaces renders the lab bridge with the gateway address and NAT
// masquerade for the lab subnet out of the uplink, as in the Proxmox
// admin guide's "Masquerading (NAT) with iptables" example. The conntrack
// zone rules keep NAT working when the Proxmox firewall is enabled.
func Interfaces(s Settings) []byte {
	var b bytes.Buffer
	gw := netip.PrefixFrom(s.Gateway, s.CIDR.Bits())
	fmt.Fprintf(&b, `# Written by homelab-agent bootstrap: the lab bridge and its NAT.
auto %[1]s
iface %[1]s inet static
	address %[2]s
	bridge-ports none
	bridge-stp off
	bridge-fd 0
	post-up   echo 1 > /proc/sys/net/ipv4/ip_forward
	post-up   iptables -t nat -A POSTROUTING -s '%[3]s' -o %[4]s -j MASQUERADE
	post-down iptables -t nat -D POSTROUTING -s '%[3]s' -o %[4]s -j MASQUERADE
	post-up   iptables -t raw -I PREROUTING -i fwbr+ -j CT --zone 1
	post-down iptables -t raw -D PREROUTING -i fwbr+ -j CT --zone 1
`, s.Bridge, gw, s.CIDR, s.Uplink)
	return b.Bytes()
}
