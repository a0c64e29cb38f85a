package slbsim

import "math/rand/v2"

// newRequestID returns a random UUID (version 4) in upper case, the shape of
// Alibaba's RequestId. It uses the runtime's unseeded generator on purpose:
// ids must differ across runs and emulator restarts, where audit trails keep
// them.
func newRequestID() string {
	const hex = "0123456789ABCDEF"
	hi, lo := rand.Uint64(), rand.Uint64()
	hi = hi&^0xf000 | 0x4000     // version 4
	lo = lo&^(0xc<<60) | 0x8<<60 // RFC 4122 variant
	var raw [16]byte
	for i := range 8 {
		raw[i] = byte(hi >> (56 - 8*i))
		raw[8+i] = byte(lo >> (56 - 8*i))
	}
	var out [36]byte
	j := 0
	for i, b := range raw {
		if i == 4 || i == 6 || i == 8 || i == 10 {
			out[j] = '-'
			j++
		}
		out[j], out[j+1] = hex[b>>4], hex[b&0xf]
		j += 2
	}
	return string(out[:])
}
