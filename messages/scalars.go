package messages

import (
	"time"

	"github.com/go-json-experiment/json"
	"github.com/go-json-experiment/json/jsontext"
)

// The readings of JSON scalars that the rules need: integers judged by
// value, which no library gives, and RFC 3339 times parsed strictly.

// integerValue returns the value of JSON number literal lit if that value
// is an integer (JSON Schema's sense: 80, 80.0, 8e1 and 800e-1 all are), and
// whether its magnitude is below 10^15 (small: large enough for every rule
// here, and exact in an int64). It works on the decimal digits, so no
// rounding can make 80.0000000000000001 look whole.
func integerValue(lit string) (v int64, integral, small bool) {
	neg := false
	if len(lit) > 0 && lit[0] == '-' {
		neg = true
		lit = lit[1:]
	}
	i := 0
	for i < len(lit) && isDigit(lit[i]) {
		i++
	}
	intPart := lit[:i]
	fracPart := ""
	if i < len(lit) && lit[i] == '.' {
		j := i + 1
		for j < len(lit) && isDigit(lit[j]) {
			j++
		}
		fracPart = lit[i+1 : j]
		i = j
	}
	exp := 0
	if i < len(lit) && (lit[i] == 'e' || lit[i] == 'E') {
		i++
		expNeg := false
		if i < len(lit) && (lit[i] == '+' || lit[i] == '-') {
			expNeg = lit[i] == '-'
			i++
		}
		for ; i < len(lit); i++ {
			// Saturate: beyond this, the answer no longer depends on
			// the exact exponent, as bodies are far shorter.
			if exp < 1<<24 {
				exp = exp*10 + int(lit[i]-'0')
			}
		}
		if expNeg {
			exp = -exp
		}
	}
	digit := func(j int) byte {
		if j < len(intPart) {
			return intPart[j]
		}
		return fracPart[j-len(intPart)]
	}
	total := len(intPart) + len(fracPart)
	first := 0
	for first < total && digit(first) == '0' {
		first++
	}
	if first == total {
		return 0, true, true // zero, however written
	}
	last := total - 1
	for digit(last) == '0' {
		last--
	}
	// value = digits[first..last] * 10^scale
	scale := exp - len(fracPart) + (total - 1 - last)
	if scale < 0 {
		return 0, false, false
	}
	if (last-first+1)+scale > 15 {
		return 0, true, false
	}
	for j := first; j <= last; j++ {
		v = v*10 + int64(digit(j)-'0')
	}
	for ; scale > 0; scale-- {
		v *= 10
	}
	if neg {
		v = -v
	}
	return v, true, true
}

// parseRFC3339 parses an RFC 3339 date-time strictly, as the JSON library
// reads a time.Time: YYYY-MM-DDTHH:MM:SS, an optional fraction, and Z or
// ±HH:MM, every field in range (time.Parse alone accepts one-digit hours,
// comma fractions and offsets such as +24:00). The result is in UTC. Leap
// seconds (:60) are not accepted, as Go cannot represent them.
func parseRFC3339(s string) (time.Time, bool) {
	quoted, err := jsontext.AppendQuote(nil, s)
	if err != nil {
		return time.Time{}, false
	}
	var t time.Time
	if err := json.Unmarshal(quoted, &t); err != nil {
		return time.Time{}, false
	}
	return t.UTC(), true
}
