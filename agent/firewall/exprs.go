package firewall

import (
	"net/netip"
	"strings"

	"github.com/google/nftables/binaryutil"
	"github.com/google/nftables/expr"
	"github.com/google/nftables/userdata"
	"golang.org/x/sys/unix"
)

// Exprs translates the rule to the netlink expressions nft itself
// generates for its Text, so that `nft list` prints Text back.
func (r *Rule) Exprs() []expr.Any {
	var e []expr.Any
	if r.IIfName != "" {
		name := make([]byte, unix.IFNAMSIZ)
		copy(name, r.IIfName)
		if p, wild := strings.CutSuffix(r.IIfName, "*"); wild {
			name = []byte(p)
		}
		e = append(e, &expr.Meta{Key: expr.MetaKeyIIFNAME, Register: 1},
			&expr.Cmp{Op: expr.CmpOpEq, Register: 1, Data: name})
	}
	if r.NotLocal {
		e = append(e, &expr.Fib{Register: 1, ResultADDRTYPE: true, FlagDADDR: true},
			&expr.Cmp{Op: expr.CmpOpNeq, Register: 1, Data: binaryutil.NativeEndian.PutUint32(unix.RTN_LOCAL)})
	}
	if r.CtState != 0 {
		e = append(e, ctBits(expr.CtKeySTATE, r.CtState)...)
	}
	if r.DNAT {
		e = append(e, ctBits(expr.CtKeySTATUS, 0x20)...) // IPS_DST_NAT
	}
	if r.Src.IsValid() || r.Dst.IsValid() {
		e = append(e, nfproto(r.family6())...)
		if r.Src.IsValid() {
			e = append(e, prefixMatch(r.Src, true)...)
		}
		if r.Dst.IsValid() {
			e = append(e, prefixMatch(r.Dst, false)...)
		}
	}
	if r.Proto != "" {
		proto := byte(unix.IPPROTO_TCP)
		if r.Proto == "udp" {
			proto = unix.IPPROTO_UDP
		}
		e = append(e, &expr.Meta{Key: expr.MetaKeyL4PROTO, Register: 1},
			&expr.Cmp{Op: expr.CmpOpEq, Register: 1, Data: []byte{proto}})
		if r.Port != 0 {
			e = append(e, &expr.Payload{DestRegister: 1, Base: expr.PayloadBaseTransportHeader, Offset: 2, Len: 2},
				&expr.Cmp{Op: expr.CmpOpEq, Register: 1, Data: binaryutil.BigEndian.PutUint16(r.Port)})
		}
	}
	if c := r.ICMP; c != nil {
		proto, typ := byte(unix.IPPROTO_ICMP), icmpTypes[c.Type]
		if c.V6 {
			proto, typ = unix.IPPROTO_ICMPV6, icmp6Types[c.Type]
		}
		if !r.Src.IsValid() && !r.Dst.IsValid() {
			e = append(e, nfproto(c.V6)...)
		}
		e = append(e, &expr.Meta{Key: expr.MetaKeyL4PROTO, Register: 1},
			&expr.Cmp{Op: expr.CmpOpEq, Register: 1, Data: []byte{proto}},
			&expr.Payload{DestRegister: 1, Base: expr.PayloadBaseTransportHeader, Offset: 0, Len: 1},
			&expr.Cmp{Op: expr.CmpOpEq, Register: 1, Data: []byte{typ}})
	}
	if l := r.Limit; l != nil {
		e = append(e, &expr.Limit{Type: expr.LimitTypePkts, Rate: l.PerSecond, Unit: expr.LimitTimeSecond, Burst: l.Burst})
	}
	switch r.Verdict {
	case "accept":
		e = append(e, &expr.Verdict{Kind: expr.VerdictAccept})
	case "drop":
		e = append(e, &expr.Verdict{Kind: expr.VerdictDrop})
	case "masquerade":
		e = append(e, &expr.Masq{})
	}
	return e
}

// UserData is the rule's comment as nft stores it.
func (r *Rule) UserData() []byte {
	if r.Comment == "" {
		return nil
	}
	return userdata.AppendString(nil, userdata.TypeComment, r.Comment)
}

func ctBits(key expr.CtKey, bits uint32) []expr.Any {
	return []expr.Any{
		&expr.Ct{Key: key, Register: 1},
		&expr.Bitwise{SourceRegister: 1, DestRegister: 1, Len: 4,
			Mask: binaryutil.NativeEndian.PutUint32(bits), Xor: make([]byte, 4)},
		&expr.Cmp{Op: expr.CmpOpNeq, Register: 1, Data: make([]byte, 4)},
	}
}

func nfproto(v6 bool) []expr.Any {
	p := byte(unix.NFPROTO_IPV4)
	if v6 {
		p = unix.NFPROTO_IPV6
	}
	return []expr.Any{&expr.Meta{Key: expr.MetaKeyNFPROTO, Register: 1},
		&expr.Cmp{Op: expr.CmpOpEq, Register: 1, Data: []byte{p}}}
}

// prefixMatch loads the address and compares it as nft does: whole bytes
// when the prefix length is a multiple of 8, a mask otherwise.
func prefixMatch(p netip.Prefix, src bool) []expr.Any {
	p = p.Masked()
	addr := p.Addr().AsSlice()
	off := uint32(16) // IPv4 daddr
	switch {
	case p.Addr().Is4() && src:
		off = 12
	case p.Addr().Is6() && src:
		off = 8
	case p.Addr().Is6():
		off = 24
	}
	if p.Bits()%8 == 0 {
		n := uint32(p.Bits() / 8)
		return []expr.Any{
			&expr.Payload{DestRegister: 1, Base: expr.PayloadBaseNetworkHeader, Offset: off, Len: n},
			&expr.Cmp{Op: expr.CmpOpEq, Register: 1, Data: addr[:n]},
		}
	}
	m := make([]byte, len(addr))
	for i := range m {
		bits := p.Bits() - i*8
		switch {
		case bits >= 8:
			m[i] = 0xff
		case bits > 0:
			m[i] = byte(0xff << (8 - bits))
		}
	}
	return []expr.Any{
		&expr.Payload{DestRegister: 1, Base: expr.PayloadBaseNetworkHeader, Offset: off, Len: uint32(len(addr))},
		&expr.Bitwise{SourceRegister: 1, DestRegister: 1, Len: uint32(len(addr)), Mask: m, Xor: make([]byte, len(addr))},
		&expr.Cmp{Op: expr.CmpOpEq, Register: 1, Data: addr},
	}
}
