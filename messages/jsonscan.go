package messages

import (
	"strconv"
	"unicode/utf16"
	"unicode/utf8"
)

// scanner is a strict, single-pass JSON reader over one message body (RFC
// 8259, UTF-8 only). Decode drives it field by field instead of handing the
// body to encoding/json because the contract needs what encoding/json does
// not give: every violation rather than the first, exact (case-sensitive)
// field names, duplicate names refused, null told apart from absence, and
// numbers such as 80.0 judged by value as JSON Schema does. Being written for
// one shape, it is also much cheaper.
//
// After the first syntax error the scanner stops: failed is set and every
// method returns at once.
type scanner struct {
	data []byte
	// str is data as a string, made once: strings without escapes are
	// returned as substrings of it, so a body costs one allocation for all
	// its string values.
	str    string
	pos    int
	failed bool
	errMsg string // the syntax error, when failed
	// tooDeep tells that the error is maxDepth being passed: the JSON may
	// be sound, it is just not read further.
	tooDeep bool
}

// maxDepth bounds the nesting of arrays and objects. The contract's shape
// needs three levels; deeper structures can only be in misplaced values,
// which are rejected anyway, and the bound keeps skipping them cheap.
const maxDepth = 64

// kind is the JSON type of a value.
type kind uint8

const (
	kindInvalid kind = iota // a syntax error was found
	kindNull
	kindBool
	kindNumber
	kindString
	kindObject
	kindArray
)

func (k kind) String() string {
	switch k {
	case kindNull:
		return "null"
	case kindBool:
		return "boolean"
	case kindNumber:
		return "number"
	case kindString:
		return "string"
	case kindObject:
		return "object"
	case kindArray:
		return "array"
	}
	return "invalid"
}

func newScanner(data []byte) scanner {
	return scanner{data: data, str: string(data)}
}

func (s *scanner) fail(msg string) {
	if !s.failed {
		s.failed = true
		s.errMsg = msg + " at offset " + strconv.Itoa(s.pos)
	}
}

// failChar reports an unexpected byte (or the end of input) at s.pos.
func (s *scanner) failChar(context string) {
	if s.pos >= len(s.data) {
		s.fail("unexpected end of input " + context)
		return
	}
	c := s.data[s.pos]
	var shown string
	if c >= 0x20 && c < utf8.RuneSelf {
		shown = strconv.QuoteRune(rune(c))
	} else {
		shown = "byte 0x" + strconv.FormatUint(uint64(c), 16)
	}
	s.fail("invalid character " + shown + " " + context)
}

// ws skips whitespace and returns the next byte, or 0 at the end of input
// (which a NUL byte in the input also returns: callers that accept the end
// of input check s.pos instead).
func (s *scanner) ws() byte {
	for s.pos < len(s.data) {
		switch c := s.data[s.pos]; c {
		case ' ', '\t', '\n', '\r':
			s.pos++
		default:
			return c
		}
	}
	return 0
}

// consume skips whitespace and then c, or fails.
func (s *scanner) consume(c byte, context string) bool {
	if s.failed {
		return false
	}
	if s.ws() != c {
		s.failChar(context)
		return false
	}
	s.pos++
	return true
}

// more is called after a member or element of a container closed by end:
// it consumes ',' (true: another follows) or end (false), or fails.
func (s *scanner) more(end byte) bool {
	if s.failed {
		return false
	}
	switch s.ws() {
	case ',':
		s.pos++
		return true
	case end:
		s.pos++
		return false
	}
	if end == '}' {
		s.failChar("after object member")
	} else {
		s.failChar("after array element")
	}
	return false
}

// open consumes the opening byte of a container already peeked at, and
// reports whether the container has members: false if it is empty (its end
// consumed too).
func (s *scanner) open(end byte) bool {
	s.pos++
	if s.ws() == end {
		s.pos++
		return false
	}
	return true
}

// key reads an object member's name and the ':' after it.
func (s *scanner) key() string {
	if s.failed {
		return ""
	}
	if s.ws() != '"' {
		s.failChar("looking for a member name")
		return ""
	}
	k := s.readString()
	s.consume(':', "after member name")
	return k
}

// value reads the next value. Strings come back decoded and numbers as their
// literal; objects and arrays are skipped (depth is the nesting level the
// value sits at), since the caller only needs to name their kind.
func (s *scanner) value(depth int) (kind, string) {
	if s.failed {
		return kindInvalid, ""
	}
	switch c := s.ws(); c {
	case '"':
		v := s.readString()
		return s.kindOr(kindString), v
	case '{', '[':
		s.skipContainer(depth)
		if c == '{' {
			return s.kindOr(kindObject), ""
		}
		return s.kindOr(kindArray), ""
	case 't':
		return s.kindOr(s.literal("true", kindBool)), "true"
	case 'f':
		return s.kindOr(s.literal("false", kindBool)), "false"
	case 'n':
		return s.kindOr(s.literal("null", kindNull)), ""
	default:
		if c == '-' || isDigit(c) {
			v := s.readNumber()
			return s.kindOr(kindNumber), v
		}
		s.failChar("looking for a value")
		return kindInvalid, ""
	}
}

func (s *scanner) kindOr(k kind) kind {
	if s.failed {
		return kindInvalid
	}
	return k
}

func (s *scanner) literal(lit string, k kind) kind {
	if len(s.data)-s.pos >= len(lit) && s.str[s.pos:s.pos+len(lit)] == lit {
		s.pos += len(lit)
		return k
	}
	s.failChar("in literal " + lit)
	return kindInvalid
}

// readString reads the string at s.pos (which holds '"').
func (s *scanner) readString() string {
	start := s.pos + 1
	for i := start; i < len(s.data); {
		c := s.data[i]
		switch {
		case c == '"':
			s.pos = i + 1
			return s.str[start:i]
		case c == '\\':
			return s.readEscaped(start, i)
		case c < 0x20:
			s.pos = i
			s.failChar("in string")
			return ""
		case c < utf8.RuneSelf:
			i++
		default:
			r, size := utf8.DecodeRune(s.data[i:])
			if r == utf8.RuneError && size == 1 {
				s.pos = i
				s.fail("invalid UTF-8 in string")
				return ""
			}
			i += size
		}
	}
	s.pos = len(s.data)
	s.fail("unexpected end of input in string")
	return ""
}

// readEscaped finishes a string that starts at start and has its first
// backslash at i. It decodes escapes as encoding/json does, including its
// replacement of unpaired UTF-16 surrogates by U+FFFD.
func (s *scanner) readEscaped(start, i int) string {
	buf := make([]byte, i-start, i-start+16)
	copy(buf, s.data[start:i])
	for i < len(s.data) {
		c := s.data[i]
		switch {
		case c == '"':
			s.pos = i + 1
			return string(buf)
		case c == '\\':
			if i+1 >= len(s.data) {
				s.pos = len(s.data)
				s.fail("unexpected end of input in string escape")
				return ""
			}
			switch e := s.data[i+1]; e {
			case '"', '\\', '/':
				buf = append(buf, e)
			case 'b':
				buf = append(buf, '\b')
			case 'f':
				buf = append(buf, '\f')
			case 'n':
				buf = append(buf, '\n')
			case 'r':
				buf = append(buf, '\r')
			case 't':
				buf = append(buf, '\t')
			case 'u':
				r, ok := s.hex4(i + 2)
				if !ok {
					return ""
				}
				i += 6
				if utf16.IsSurrogate(r) {
					// A high surrogate followed by an escaped low one
					// makes one rune; anything else is unpaired.
					if i+1 < len(s.data) && s.data[i] == '\\' && s.data[i+1] == 'u' {
						r2, ok := s.hex4(i + 2)
						if !ok {
							return ""
						}
						if dec := utf16.DecodeRune(r, r2); dec != utf8.RuneError {
							buf = utf8.AppendRune(buf, dec)
							i += 6
							continue
						}
					}
					r = utf8.RuneError
				}
				buf = utf8.AppendRune(buf, r)
				continue
			default:
				s.pos = i + 1
				s.failChar("in string escape")
				return ""
			}
			i += 2
		case c < 0x20:
			s.pos = i
			s.failChar("in string")
			return ""
		case c < utf8.RuneSelf:
			buf = append(buf, c)
			i++
		default:
			r, size := utf8.DecodeRune(s.data[i:])
			if r == utf8.RuneError && size == 1 {
				s.pos = i
				s.fail("invalid UTF-8 in string")
				return ""
			}
			buf = append(buf, s.data[i:i+size]...)
			i += size
		}
	}
	s.pos = len(s.data)
	s.fail("unexpected end of input in string")
	return ""
}

// hex4 decodes the four hex digits at i.
func (s *scanner) hex4(i int) (rune, bool) {
	var r rune
	for j := i; j < i+4; j++ {
		if j >= len(s.data) {
			s.pos = len(s.data)
			s.fail("unexpected end of input in \\u escape")
			return 0, false
		}
		c := s.data[j]
		switch {
		case isDigit(c):
			r = r<<4 | rune(c-'0')
		case 'a' <= c && c <= 'f':
			r = r<<4 | rune(c-'a'+10)
		case 'A' <= c && c <= 'F':
			r = r<<4 | rune(c-'A'+10)
		default:
			s.pos = j
			s.failChar("in \\u escape")
			return 0, false
		}
	}
	return r, true
}

// readNumber reads the number at s.pos and returns its literal.
// Grammar: -? (0 | [1-9][0-9]*) (. [0-9]+)? ([eE] [+-]? [0-9]+)?
func (s *scanner) readNumber() string {
	start := s.pos
	i := s.pos
	n := len(s.data)
	if s.data[i] == '-' {
		i++
	}
	switch {
	case i < n && s.data[i] == '0':
		i++
		if i < n && isDigit(s.data[i]) {
			s.pos = i
			s.fail("leading zero in number")
			return ""
		}
	case i < n && isDigit(s.data[i]):
		for i < n && isDigit(s.data[i]) {
			i++
		}
	default:
		s.pos = i
		s.failChar("in number")
		return ""
	}
	if i < n && s.data[i] == '.' {
		i++
		if i >= n || !isDigit(s.data[i]) {
			s.pos = i
			s.failChar("after decimal point in number")
			return ""
		}
		for i < n && isDigit(s.data[i]) {
			i++
		}
	}
	if i < n && (s.data[i] == 'e' || s.data[i] == 'E') {
		i++
		if i < n && (s.data[i] == '+' || s.data[i] == '-') {
			i++
		}
		if i >= n || !isDigit(s.data[i]) {
			s.pos = i
			s.failChar("in exponent of number")
			return ""
		}
		for i < n && isDigit(s.data[i]) {
			i++
		}
	}
	s.pos = i
	return s.str[start:i]
}

// skipContainer skips the object or array at s.pos, which sits at nesting
// level depth (the top-level value is at 1). It keeps its own stack of open
// containers rather than recursing, so no input can exhaust the goroutine
// stack.
func (s *scanner) skipContainer(depth int) {
	var stack [maxDepth]byte // closing byte of each open container
	top := 0
	push := func(c byte) bool {
		if depth+top > maxDepth {
			s.fail("nesting deeper than " + strconv.Itoa(maxDepth) + " levels")
			s.tooDeep = true
			return false
		}
		if c == '{' {
			stack[top] = '}'
		} else {
			stack[top] = ']'
		}
		top++
		s.pos++
		return true
	}
	for !s.failed {
		// Here a value is due: at the start, after '[', ':' or ','.
		c := s.ws()
		switch {
		case c == '{' || c == '[':
			if !push(c) {
				return
			}
			end := stack[top-1]
			if s.ws() == end {
				s.pos++
				top--
				break
			}
			if end == '}' {
				s.key()
			}
			continue
		default:
			if k, _ := s.value(depth + top); k == kindInvalid {
				return
			}
		}
		// A value is done: close containers until one has more.
		for top > 0 {
			end := stack[top-1]
			if !s.more(end) {
				if s.failed {
					return
				}
				top--
				continue
			}
			if end == '}' {
				s.key()
			}
			break
		}
		if top == 0 {
			return
		}
	}
}
