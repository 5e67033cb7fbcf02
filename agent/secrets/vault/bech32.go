package vault

import "errors"

// bech32Encode encodes data as BIP-173 Bech32 with the human-readable part
// hrp. age has no exported constructor for an X25519 identity from a
// scalar, only ParseX25519Identity of this encoding; this is the
// reference algorithm from BIP-173 (as in age's internal/bech32), and the
// tests check its output with age itself and with the age CLI.
func bech32Encode(hrp string, data []byte) (string, error) {
	values, err := convertBits(data, 8, 5)
	if err != nil {
		return "", err
	}
	lower := make([]byte, len(hrp))
	for i := 0; i < len(hrp); i++ {
		c := hrp[i]
		if c >= 'A' && c <= 'Z' {
			c += 'a' - 'A'
		}
		lower[i] = c
	}
	ret := append([]byte{}, lower...)
	ret = append(ret, '1')
	for _, v := range values {
		ret = append(ret, charset[v])
	}
	for _, v := range checksum(string(lower), values) {
		ret = append(ret, charset[v])
	}
	return string(ret), nil
}

const charset = "qpzry9x8gf2tvdw0s3jn54khce6mua7l"

var generator = []uint32{0x3b6a57b2, 0x26508e6d, 0x1ea119fa, 0x3d4233dd, 0x2a1462b3}

func polymod(values []byte) uint32 {
	chk := uint32(1)
	for _, v := range values {
		top := chk >> 25
		chk = (chk&0x1ffffff)<<5 ^ uint32(v)
		for i := 0; i < 5; i++ {
			if (top>>uint(i))&1 == 1 {
				chk ^= generator[i]
			}
		}
	}
	return chk
}

func checksum(hrp string, data []byte) []byte {
	values := make([]byte, 0, len(hrp)*2+1+len(data)+6)
	for i := 0; i < len(hrp); i++ {
		values = append(values, hrp[i]>>5)
	}
	values = append(values, 0)
	for i := 0; i < len(hrp); i++ {
		values = append(values, hrp[i]&31)
	}
	values = append(values, data...)
	values = append(values, 0, 0, 0, 0, 0, 0)
	mod := polymod(values) ^ 1
	out := make([]byte, 6)
	for i := range out {
		out[i] = byte(mod>>uint(5*(5-i))) & 31
	}
	return out
}

func convertBits(data []byte, from, to uint) ([]byte, error) {
	var acc uint32
	var bits uint
	maxv := uint32(1)<<to - 1
	var out []byte
	for _, b := range data {
		if uint32(b)>>from != 0 {
			return nil, errors.New("bech32: invalid input")
		}
		acc = acc<<from | uint32(b)
		bits += from
		for bits >= to {
			bits -= to
			out = append(out, byte(acc>>bits&maxv))
		}
	}
	if bits > 0 {
		out = append(out, byte(acc<<(to-bits)&maxv))
	}
	return out, nil
}
