package dns

import "sort"

// Upstream is a DNS-over-TLS resolver profile: the name its certificate
// carries and the addresses that serve it on port 853.
type Upstream struct {
	Hostname string
	Addrs    []string
}

// upstreams are Mullvad's public DNS-over-TLS profiles
// (https://mullvad.net/en/help/dns-over-https-and-dns-over-tls).
var upstreams = map[string]Upstream{
	"mullvad":          {"dns.mullvad.net", []string{"194.242.2.2", "2a07:e340::2"}},
	"mullvad-adblock":  {"adblock.dns.mullvad.net", []string{"194.242.2.3", "2a07:e340::3"}},
	"mullvad-base":     {"base.dns.mullvad.net", []string{"194.242.2.4", "2a07:e340::4"}},
	"mullvad-extended": {"extended.dns.mullvad.net", []string{"194.242.2.5", "2a07:e340::5"}},
	"mullvad-family":   {"family.dns.mullvad.net", []string{"194.242.2.6", "2a07:e340::6"}},
	"mullvad-all":      {"all.dns.mullvad.net", []string{"194.242.2.9", "2a07:e340::9"}},
}

// DefaultUpstream is used when homelab.yaml names none.
const DefaultUpstream = "mullvad-base"

func upstreamNames() []string {
	var out []string
	for n := range upstreams {
		out = append(out, n)
	}
	sort.Strings(out)
	return out
}
