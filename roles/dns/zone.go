package dns

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"net/netip"
	"strconv"
	"strings"

	"github.com/homelab-agent/homelab-agent/agent/lab"
	"github.com/homelab-agent/homelab-agent/agent/role"
)

// Zone is one zone the role serves: the lab's domain or a reverse zone.
type Zone struct {
	Name    string // without the trailing dot
	Primary string // FQDN of the primary name server
	Contact string // SOA mailbox as a name (hostmaster.<domain>.)
	NS      []string
	Records []Record
}

// Record is one resource record, its name relative to the zone.
type Record struct {
	Name, Type, Value, Comment string
}

const serialToken = "@@SERIAL@@"

// Path is where the zone file lives on the dns host.
func (z *Zone) Path() string { return ZoneDir + "/db." + z.Name }

// Zones returns the forward zone and one reverse zone per octet-aligned
// block of the lab network that holds a host.
func Zones(l *lab.Lab) []*Zone {
	var ns []string
	for _, h := range role.HostsPlaying(l, role.NameServer) {
		ns = append(ns, h.Name+"."+l.Domain+".")
	}
	contact := "hostmaster." + l.Domain + "."
	fwd := &Zone{Name: l.Domain, Primary: ns[0], Contact: contact, NS: ns}
	for _, h := range l.Hosts {
		fwd.Records = append(fwd.Records, Record{Name: h.Name, Type: "A", Value: h.IP.String(), Comment: "role " + h.Role})
	}
	if proxies := role.HostsPlaying(l, role.ReverseProxy); len(proxies) > 0 {
		for _, s := range role.Services(l) {
			fwd.Records = append(fwd.Records, Record{Name: s.Subdomain, Type: "A", Value: proxies[0].IP.String(),
				Comment: fmt.Sprintf("via %s to %s:%d", proxies[0].Name, s.Host.Name, s.Port)})
		}
	}
	zones := []*Zone{fwd}
	byName := map[string]*Zone{}
	bits := min(max((l.Network.CIDR.Bits()+7)/8*8, 8), 24)
	for _, h := range l.Hosts {
		name, rel := reverseName(h.IP.Addr, bits)
		z := byName[name]
		if z == nil {
			z = &Zone{Name: name, Primary: ns[0], Contact: contact, NS: ns}
			byName[name] = z
			zones = append(zones, z)
		}
		z.Records = append(z.Records, Record{Name: rel, Type: "PTR", Value: h.Name + "." + l.Domain + "."})
	}
	return zones
}

// reverseName splits an IPv4 address into its in-addr.arpa zone (the first
// bits/8 octets) and the record name inside it.
func reverseName(ip netip.Addr, bits int) (zone, rel string) {
	b := ip.As4()
	n := bits / 8
	var z, r []string
	for i := n - 1; i >= 0; i-- {
		z = append(z, strconv.Itoa(int(b[i])))
	}
	for i := 3; i >= n; i-- {
		r = append(r, strconv.Itoa(int(b[i])))
	}
	return strings.Join(z, ".") + ".in-addr.arpa", strings.Join(r, ".")
}

// Render returns the zone file with a serial placeholder, so that the
// content can be compared without the serial.
func (z *Zone) Render() []byte {
	var b bytes.Buffer
	fmt.Fprintf(&b, "; %s: managed by homelab-agent from homelab.yaml; local edits are overwritten.\n", z.Name)
	fmt.Fprintf(&b, "$ORIGIN %s.\n$TTL 300\n", z.Name)
	fmt.Fprintf(&b, "@\tIN\tSOA\t%s %s (\n", z.Primary, z.Contact)
	fmt.Fprintf(&b, "\t\t%s\t; serial, changes only when the records change\n", serialToken)
	b.WriteString("\t\t3600\t\t; refresh\n\t\t600\t\t; retry\n\t\t1209600\t\t; expire\n\t\t300 )\t\t; negative answers\n")
	for _, n := range z.NS {
		fmt.Fprintf(&b, "@\tIN\tNS\t%s\n", n)
	}
	for _, r := range z.Records {
		fmt.Fprintf(&b, "%s\tIN\t%s\t%s", r.Name, r.Type, r.Value)
		if r.Comment != "" {
			fmt.Fprintf(&b, "\t; %s", r.Comment)
		}
		b.WriteByte('\n')
	}
	return b.Bytes()
}

// WithSerial puts the serial into a rendered zone.
func (z *Zone) WithSerial(body []byte, serial uint32) []byte {
	return bytes.Replace(body, []byte(serialToken), []byte(fmt.Sprintf("%-10d", serial)), 1)
}

func contentHash(body []byte) string {
	sum := sha256.Sum256(body)
	return hex.EncodeToString(sum[:8])
}
