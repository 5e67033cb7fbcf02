package bootstrap

import (
	"bytes"
	"fmt"
	"net/netip"
)

// NodeRulesFile holds the node's own nftables rules for the lab bridge,
// loaded by the bridge's post-up line.
const NodeRulesFile = "/etc/network/homelab-node.nft"

// NodeTable is the nftables table of NodeRulesFile.
const NodeTable = "homelab-node"

// InterfacesFile is where the lab bridge is defined on the node, sourced by
// Proxmox's /etc/network/interfaces ("source /etc/network/interfaces.d/*").
const InterfacesFile = "/etc/network/interfaces.d/homelab"

// Interfaces renders the lab bridge with the gateway address and NAT
// masquerade for the lab subnet out of the uplink, as in the Proxmox
// admin guide's "Masquerading (NAT) with iptables" example. The conntrack
// zone rules keep NAT working when the Proxmox firewall is enabled. Its
// post-up line loads NodeRules, so guests cannot reach the node itself.
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
	post-up   nft -f %[5]s
	post-down nft delete table inet %[6]s
`, s.Bridge, gw, s.CIDR, s.Uplink, NodeRulesFile, NodeTable)
	return b.Bytes()
}

// NodeRules renders the node's own rules for the lab bridge: a guest
// reaches the node only to be forwarded (NAT to the uplink is the forward
// hook, untouched here) and with ICMP errors (path MTU discovery, port
// unreachable), plus echo requests, rate limited, because every guest's
// firewall change is confirmed by pinging the gateway. Everything else a
// guest sends to the node itself (the web UI on 8006, SSH on 22, rpcbind,
// DNS ...) is dropped. It is its own table and base chain, so an accept in
// the Proxmox firewall's chains cannot override its drop; traffic from
// other interfaces is left alone. The script replaces the table, so
// reloading the bridge (ifreload -a) is harmless.
func NodeRules(s Settings) []byte {
	return fmt.Appendf(nil, `#!/usr/sbin/nft -f
# Written by homelab-agent bootstrap: guests on %[1]s reach this node only to be
# forwarded, with ICMP errors and with (rate-limited) pings of the gateway.
add table inet %[2]s
delete table inet %[2]s
table inet %[2]s {
	chain input {
		type filter hook input priority filter - 10; policy accept;
		iifname != "%[1]s" accept
		ct state established,related accept
		icmp type { destination-unreachable, time-exceeded, parameter-problem } accept
		icmpv6 type { destination-unreachable, packet-too-big, time-exceeded, parameter-problem } accept
		icmpv6 type { nd-neighbor-solicit, nd-neighbor-advert, nd-router-solicit } accept
		icmp type echo-request limit rate 20/second burst 50 packets accept comment "the guests' lock-out probe pings the gateway"
		counter drop comment "guests never reach the node itself"
	}
}
`, s.Bridge, NodeTable)
}
