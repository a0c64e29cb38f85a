package messages

import "time"

// The readings of JSON scalars that the rules need and that neither
// strconv nor time gives exactly: integers judged by value, and RFC 3339
// times parsed strictly.

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

// parseRFC3339 parses an RFC 3339 date-time strictly: YYYY-MM-DDTHH:MM:SS,
// an optional fraction, and Z or ±HH:MM, every field in range (time.Parse
// accepts one-digit hours, comma fractions and offsets such as +24:00). The
// result is in UTC. Leap seconds (:60) are not accepted, as Go cannot
// represent them.
func parseRFC3339(s string) (time.Time, bool) {
	if len(s) < len("2006-01-02T15:04:05Z") {
		return time.Time{}, false
	}
	num := func(a, b int) int {
		n := 0
		for i := a; i < b; i++ {
			if !isDigit(s[i]) {
				return -1
			}
			n = n*10 + int(s[i]-'0')
		}
		return n
	}
	if s[4] != '-' || s[7] != '-' || s[10] != 'T' || s[13] != ':' || s[16] != ':' {
		return time.Time{}, false
	}
	year, month, day := num(0, 4), num(5, 7), num(8, 10)
	hour, minute, sec := num(11, 13), num(14, 16), num(17, 19)
	if year < 0 || month < 1 || month > 12 || day < 1 || day > daysIn(month, year) ||
		hour < 0 || hour > 23 || minute < 0 || minute > 59 || sec < 0 || sec > 59 {
		return time.Time{}, false
	}
	rest := s[19:]
	nsec := 0
	if rest[0] == '.' {
		j := 1
		for j < len(rest) && isDigit(rest[j]) {
			if j <= 9 {
				nsec = nsec*10 + int(rest[j]-'0')
			}
			j++
		}
		if j == 1 {
			return time.Time{}, false
		}
		for k := j; k <= 9; k++ {
			nsec *= 10
		}
		rest = rest[j:]
	}
	offset := 0
	switch {
	case rest == "Z":
	case len(rest) == 6 && (rest[0] == '+' || rest[0] == '-') && rest[3] == ':':
		oh, om := num(len(s)-5, len(s)-3), num(len(s)-2, len(s))
		if oh < 0 || oh > 23 || om < 0 || om > 59 {
			return time.Time{}, false
		}
		offset = (oh*60 + om) * 60
		if rest[0] == '-' {
			offset = -offset
		}
	default:
		return time.Time{}, false
	}
	t := time.Date(year, time.Month(month), day, hour, minute, sec, nsec, time.UTC)
	return t.Add(-time.Duration(offset) * time.Second), true
}

func daysIn(month, year int) int {
	switch month {
	case 2:
		if year%4 == 0 && (year%100 != 0 || year%400 == 0) {
			return 29
		}
		return 28
	case 4, 6, 9, 11:
		return 30
	}
	return 31
}
