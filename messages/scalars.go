package messages

import (
	"math/big"
	"strings"
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

// durationUnits are time.ParseDuration's units, in nanoseconds.
var durationUnits = map[string]int64{
	"ns": 1,
	"us": 1e3, "µs": 1e3, "μs": 1e3, // U+00B5 and U+03BC
	"ms": 1e6,
	"s":  1e9,
	"m":  60e9,
	"h":  3600e9,
}

// parseDrainTimeout reads a drain_timeout: a Go duration as
// time.ParseDuration reads it (such as 90s, 1.5h or 2m30s, or a bare 0),
// except that no '-' sign is taken. syntax tells whether s has that form
// (the schema's pattern); atMostMax whether its exact value is at most
// MaxDrainTimeout, in which case d is that value cut to whole nanoseconds,
// as time.ParseDuration cuts it. Values are computed exactly, so neither
// overflow nor rounding can make a value over an hour look in range.
func parseDrainTimeout(s string) (d time.Duration, syntax, atMostMax bool) {
	s = strings.TrimPrefix(s, "+")
	if s == "0" {
		return 0, true, true
	}
	if s == "" {
		return 0, false, false
	}
	total := new(big.Rat)
	for s != "" {
		i := 0
		for i < len(s) && isDigit(s[i]) {
			i++
		}
		intPart, frac := s[:i], ""
		s = s[i:]
		if s != "" && s[0] == '.' {
			j := 1
			for j < len(s) && isDigit(s[j]) {
				j++
			}
			frac, s = s[1:j], s[j:]
		}
		if intPart == "" && frac == "" {
			return 0, false, false
		}
		j := 0
		for j < len(s) && s[j] != '.' && !isDigit(s[j]) {
			j++
		}
		unit, ok := durationUnits[s[:j]]
		if !ok {
			return 0, false, false
		}
		s = s[j:]
		// (intPart.frac) * unit = intPart frac * unit / 10^len(frac)
		num, _ := new(big.Int).SetString("0"+intPart+frac, 10)
		num.Mul(num, big.NewInt(unit))
		den := new(big.Int).Exp(big.NewInt(10), big.NewInt(int64(len(frac))), nil)
		total.Add(total, new(big.Rat).SetFrac(num, den))
	}
	if total.Cmp(new(big.Rat).SetInt64(int64(MaxDrainTimeout))) > 0 {
		return 0, true, false
	}
	ns := new(big.Int).Quo(total.Num(), total.Denom()) // ≥ 0: floor
	return time.Duration(ns.Int64()), true, true
}

// formatDrainTimeout is d as drain_timeout carries it: time.Duration's
// String ("90s" is "1m30s"), which parseDrainTimeout reads back exactly.
func formatDrainTimeout(d time.Duration) string { return d.String() }
