package dns

import (
	"bytes"
	"fmt"

	"github.com/homelab-agent/homelab-agent/agent/lab"
)

// CAFile is the system CA bundle named verifies the upstream's certificate with.
const CAFile = "/etc/ssl/certs/ca-certificates.crt"

// renderConf renders named.conf: an ACL for the lab and VPN subnets,
// recursion only for them, DNS-over-TLS forwarding to the upstream
// profile, and the lab's zones.
func renderConf(l *lab.Lab, up Upstream, zones []*Zone) []byte {
	var b bytes.Buffer
	name := upstreamName(l)
	b.WriteString("// named.conf: managed by homelab-agent from homelab.yaml; local edits are overwritten.\n\n")
	b.WriteString("// Who may use this server: the lab subnet and the VPN subnet. Tailscale\n")
	b.WriteString("// masquerades VPN clients as the router's lab address, which the lab subnet covers.\n")
	b.WriteString("acl homelab {\n\tlocalhost;\n")
	fmt.Fprintf(&b, "\t%s;\n", l.Network.CIDR)
	if l.Network.VPNCIDR.IsValid() {
		fmt.Fprintf(&b, "\t%s;\n", l.Network.VPNCIDR)
	}
	if l.Network.LANCIDR.IsValid() {
		fmt.Fprintf(&b, "\t%s;\t// the home LAN (network.lan_cidr)\n", l.Network.LANCIDR)
	}
	b.WriteString("};\n\n")
	fmt.Fprintf(&b, "// DNS-over-TLS to %s; the certificate must name %s.\n", name, up.Hostname)
	fmt.Fprintf(&b, "tls %s {\n\tremote-hostname %q;\n\tca-file %q;\n};\n\n", name, up.Hostname, CAFile)
	b.WriteString("options {\n")
	b.WriteString("\tdirectory \"/var/cache/bind\";\n")
	b.WriteString("\tlisten-on { any; };\n\tlisten-on-v6 { any; };\n")
	b.WriteString("\tallow-query { homelab; };\n\tallow-query-cache { homelab; };\n")
	b.WriteString("\trecursion yes;\n\tallow-recursion { homelab; };\n")
	b.WriteString("\tallow-transfer { none; };\n")
	fmt.Fprintf(&b, "\tforwarders port 853 tls %s {\n", name)
	for _, a := range up.Addrs {
		fmt.Fprintf(&b, "\t\t%s;\n", a)
	}
	b.WriteString("\t};\n\tforward only;\n")
	b.WriteString("\tdnssec-validation auto;\n")
	b.WriteString("\tversion none;\n\thostname none;\n\tserver-id none;\n")
	b.WriteString("};\n")
	for _, z := range zones {
		fmt.Fprintf(&b, "\nzone %q {\n\ttype primary;\n\tfile %q;\n\tallow-update { none; };\n};\n", z.Name, z.Path())
	}
	return b.Bytes()
}
