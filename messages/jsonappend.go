package messages

import (
	"errors"
	"strconv"
	"time"
	"unicode/utf8"
)

// Hand-written encoders for the two message types: they are produced for
// every request (events) and by every Go publisher, and writing a fixed shape
// directly is several times cheaper than encoding/json's reflection. They
// also give the contract's exact field order and spellings in one place.

const hexDigits = "0123456789abcdef"

// appendString appends s as a JSON string. Like encoding/json it replaces
// invalid UTF-8 by U+FFFD and escapes U+2028 and U+2029 (which JavaScript
// treats as line ends), but it leaves <, > and & alone: these are messages,
// not HTML.
func appendString(b []byte, s string) []byte {
	b = append(b, '"')
	start := 0
	for i := 0; i < len(s); {
		c := s[i]
		if c < utf8.RuneSelf {
			if c >= 0x20 && c != '"' && c != '\\' {
				i++
				continue
			}
			b = append(b, s[start:i]...)
			switch c {
			case '"', '\\':
				b = append(b, '\\', c)
			case '\n':
				b = append(b, '\\', 'n')
			case '\r':
				b = append(b, '\\', 'r')
			case '\t':
				b = append(b, '\\', 't')
			default:
				b = append(b, '\\', 'u', '0', '0', hexDigits[c>>4], hexDigits[c&0xf])
			}
			i++
			start = i
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && size == 1 {
			b = append(b, s[start:i]...)
			b = append(b, `\ufffd`...)
			i++
			start = i
			continue
		}
		if r == '\u2028' || r == '\u2029' {
			b = append(b, s[start:i]...)
			b = append(b, '\\', 'u', '2', '0', '2', hexDigits[r&0xf])
			i += size
			start = i
			continue
		}
		i += size
	}
	b = append(b, s[start:]...)
	return append(b, '"')
}

// appendServers appends list as a JSON array, [] when empty.
func appendServers(b []byte, list []BackendServer) []byte {
	b = append(b, '[')
	for i, s := range list {
		if i > 0 {
			b = append(b, ',')
		}
		b = append(b, `{"server_id":`...)
		b = appendString(b, s.ServerID)
		b = append(b, `,"port":`...)
		b = strconv.AppendInt(b, int64(s.Port), 10)
		if s.Type != "" {
			b = append(b, `,"type":`...)
			b = appendString(b, s.Type)
		}
		b = append(b, '}')
	}
	return append(b, ']')
}

func appendStrings(b []byte, list []string) []byte {
	b = append(b, '[')
	for i, s := range list {
		if i > 0 {
			b = append(b, ',')
		}
		b = appendString(b, s)
	}
	return append(b, ']')
}

var errYearRange = errors.New("year outside of range [0,9999]")

// appendTime appends t in UTC with the given layout, quoted. RFC 3339 has no
// form for years outside 0000..9999, so those are an error, as in
// time.Time.MarshalJSON.
func appendTime(b []byte, t time.Time, layout string) ([]byte, error) {
	t = t.UTC()
	if y := t.Year(); y < 0 || y > 9999 {
		return b, errYearRange
	}
	b = append(b, '"')
	b = t.AppendFormat(b, layout)
	return append(b, '"'), nil
}
