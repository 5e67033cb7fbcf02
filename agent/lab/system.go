package lab

import "net/netip"

func checkOS(l *Lab, errs *Errors) {
	o := l.OS
	if o == nil {
		return
	}
	switch o.Updates {
	case "", UpdatesSecurity, UpdatesNone:
	default:
		errs.At(o.UpdatesPos, "os.updates must be %q or %q, got %q", UpdatesSecurity, UpdatesNone, o.Updates)
	}
}

// Networks are the lab's own networks, which no Docker address pool may
// overlap: a container network there would cut the guest off from them.
func (l *Lab) Networks() []NamedPrefix {
	n := l.Network
	var out []NamedPrefix
	for _, x := range []NamedPrefix{{"network.cidr", n.CIDR.Prefix}, {"network.vpn_cidr", n.VPNCIDR.Prefix}, {"network.lan_cidr", n.LANCIDR.Prefix}} {
		if x.Prefix.IsValid() {
			out = append(out, x)
		}
	}
	return out
}

// NamedPrefix is a network and the key that sets it.
type NamedPrefix struct {
	Key    string
	Prefix netip.Prefix
}

func checkDocker(l *Lab, errs *Errors) {
	d := l.Docker
	if d == nil {
		return
	}
	var ok []*AddressPool
	for _, p := range d.AddressPools {
		if p == nil {
			errs.At(d.AddressPoolsPos, "docker.address_pools: an empty entry; want {base: 10.210.0.0/16, size: 24}")
			continue
		}
		if !p.Base.IsValid() {
			errs.At(p.Pos, "docker.address_pools: missing required key %q", "base")
			continue
		}
		if !p.Base.Addr().Is4() {
			errs.At(p.BasePos, "docker.address_pools: base must be an IPv4 network, got %s", p.Base)
			continue
		}
		if p.SizePos == (Pos{}) {
			errs.At(p.Pos, "docker.address_pools: missing required key %q (the prefix length of each network, e.g. 24)", "size")
			continue
		}
		if p.Size < p.Base.Bits() || p.Size > 29 {
			errs.At(p.SizePos, "docker.address_pools: size must be between the base's length /%d and 29, got %d", p.Base.Bits(), p.Size)
			continue
		}
		bad := false
		for _, n := range l.Networks() {
			if p.Base.Overlaps(n.Prefix) {
				errs.At(p.BasePos, "docker.address_pools: base %s overlaps %s %s: the Engine would hand out container networks that cut the guests off from it", p.Base, n.Key, n.Prefix)
				bad = true
			}
		}
		for _, q := range ok {
			if p.Base.Overlaps(q.Base.Prefix) {
				errs.At(p.BasePos, "docker.address_pools: base %s overlaps the pool %s (line %d)", p.Base, q.Base, q.BasePos.Line)
				bad = true
			}
		}
		if !bad {
			ok = append(ok, p)
		}
	}
}
