package messages

import (
	"bytes"
	"errors"
	"io"
	"strconv"
	"unicode/utf8"

	"github.com/go-json-experiment/json/jsontext"
)

// Decode reads a drain request of version 1 or 2 received on subject,
// strictly: a body larger than MaxRequestBytes, invalid JSON (or UTF-8),
// trailing data, unknown or repeated fields, every rule of the contract's
// request table of the body's version (a version-1 body that names a field
// of version 2 is refused for it), and region/group tokens of subject that
// differ from the body (or a subject that is not a request subject) are all
// violations, listed together in a *ValidationError. In version 2 a body
// without vserver_group_id (instance scope) must come on the subject token
// InstancesToken, and one with it must not. Optional fields may be null,
// meaning absent; required ones may not. Numbers are judged by value, so a
// port of 80.0 is 80.
//
// A valid request comes back normalised as Validate leaves it: types
// defaulted to "ecs", duplicate servers folded, the deadline in UTC, and in
// version 2 the action (drain) and a drain's mode (remove) filled in.
//
// On error Decode still returns what it could read, so that the caller can
// name the request in its rejected event; of that, only RequestID and
// Version are dependable: each is set only if the field was read once and
// is valid, else "" and 0.
func Decode(subject string, data []byte) (DrainRequest, error) {
	var vs violations
	w := readBody(data, &vs)
	req := w.check(&vs)
	checkSubject(subject, w, req, &vs)
	return result(req, &vs)
}

// decodeBody is Decode without the subject check, for the tests that hold
// the decoder and the JSON Schema (which knows no subjects) in agreement.
func decodeBody(data []byte) (DrainRequest, error) {
	var vs violations
	req := readBody(data, &vs).check(&vs)
	return result(req, &vs)
}

func result(req DrainRequest, vs *violations) (DrainRequest, error) {
	if vs.any() {
		return req, vs.err()
	}
	req.BackendServers = FoldServers(req.BackendServers)
	return req, nil
}

// checkSubject checks subject against the body's region and group (or, in
// instance scope, its absence).
func checkSubject(subject string, w *wireRequest, req DrainRequest, vs *violations) {
	region, group, err := ParseRequestSubject(subject)
	if err != nil {
		vs.add("subject", "must be slb.drain.request.<region_id>.<vserver_group_id or instances> with valid tokens, got "+gotString(subject))
		return
	}
	// Compare only values that are valid themselves: an invalid one has its
	// own violation already.
	if ValidRegionID(req.RegionID) && req.RegionID != region {
		vs.add("region_id", "does not match subject token "+gotString(region))
	}
	switch {
	case req.Version == Version2 && w.groupID.null():
		// A body that broke off may have had its group further on.
		if group != InstancesToken && !w.partial {
			vs.add("vserver_group_id", "absent (instance scope), so the subject token must be "+gotString(InstancesToken)+", got "+gotString(group))
		}
	case ValidGroupID(req.VServerGroupID) && req.VServerGroupID != group:
		vs.add("vserver_group_id", "does not match subject token "+gotString(group))
	}
}

// maxDepth bounds the nesting of arrays and objects. The contract's shape
// needs three levels; deeper structures can only be in misplaced values,
// which are refused anyway, and the bound names the problem long before the
// library's own limit (10000 levels) would.
const maxDepth = 64

// readBody reads a request body into its loose form, adding the violations
// of the body as a whole (size, syntax, shape) to vs. Syntax is the
// library's: after the first syntax error nothing more is read, and what was
// read before it is kept, so that its violations and its request_id still
// count.
func readBody(data []byte, vs *violations) *wireRequest {
	if len(data) > MaxRequestBytes {
		// Read on regardless: the request_id may still be recoverable for
		// the rejected event, and reading is linear in the size.
		vs.add("body", "larger than "+strconv.Itoa(MaxRequestBytes)+" bytes, got "+strconv.Itoa(len(data)))
	}
	// The decoder allows invalid UTF-8 only so that an escaped lone
	// surrogate ("\ud800") reads as U+FFFD, as encoding/json and JSON Schema
	// tools read it (a publisher in JavaScript that cuts a reason inside an
	// emoji sends one) and as this package always has: refusing it would
	// reject version-1 requests accepted until now. Raw invalid bytes are
	// still refused: the body is read only up to the first of them, which
	// is then the syntax error.
	bad := invalidUTF8(data)
	if bad >= 0 {
		data = data[:bad]
	}
	r := reader{dec: jsontext.NewDecoder(bytes.NewBuffer(data),
		jsontext.AllowInvalidUTF8(true),
		// Repeated names are named as violations by the reader, which
		// then reads on; the library would stop at the first.
		jsontext.AllowDuplicateNames(true),
	)}
	w := &wireRequest{}
	r.body(w)
	if bad >= 0 && (r.err == nil || errors.Is(r.err, io.EOF) || errors.Is(r.err, io.ErrUnexpectedEOF)) {
		r.err = bodyRule("invalid JSON: invalid UTF-8 at offset " + strconv.Itoa(bad))
	}
	if r.err != nil {
		w.partial = true
		vs.add("body", ruleOf(r.err))
	}
	return w
}

// invalidUTF8 returns the offset of the first byte of data that is not
// UTF-8, or -1.
func invalidUTF8(data []byte) int {
	if utf8.Valid(data) {
		return -1
	}
	for i := 0; i < len(data); {
		r, size := utf8.DecodeRune(data[i:])
		if r == utf8.RuneError && size == 1 {
			return i
		}
		i += size
	}
	return -1
}

// bodyRule is a reason of the reader's own to stop reading, worded as the
// body's violation.
type bodyRule string

func (e bodyRule) Error() string { return string(e) }

// ruleOf words the reason reading stopped as the body's violation.
func ruleOf(err error) string {
	var rule bodyRule
	var se *jsontext.SyntacticError
	switch {
	case errors.As(err, &rule):
		return string(rule)
	case errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF):
		return "invalid JSON: unexpected end of input"
	case errors.As(err, &se):
		// Not se.Error(): it quotes a JSON pointer that can be long.
		return "invalid JSON: " + se.Err.Error() + " at offset " + strconv.FormatInt(se.ByteOffset, 10)
	}
	return "invalid JSON: " + err.Error()
}

// reader reads one body token by token into a wireRequest, recording each
// member it meets, known or not, so that nothing but a syntax error stops it.
type reader struct {
	dec *jsontext.Decoder
	// err is why reading stopped: a syntax error, nesting deeper than
	// maxDepth, or a body that is not an object. Nothing is read after it.
	err error
}

func (r *reader) read() jsontext.Token {
	if r.err != nil {
		return jsontext.Token{}
	}
	tok, err := r.dec.ReadToken()
	if err != nil {
		r.err = err
	}
	return tok
}

// body reads the top-level value and checks that nothing follows it.
func (r *reader) body(w *wireRequest) {
	if k := r.dec.PeekKind(); k != '{' {
		if r.skip(); r.err == nil {
			r.err = bodyRule("must be a JSON object, got " + kindName(k))
		}
		return
	}
	r.object(func(name string) {
		if m := w.member(name); m == &w.servers && m.kind == 0 && r.dec.PeekKind() == '[' {
			r.servers(w)
		} else {
			r.into(m, name, &w.unknown)
		}
	})
	if r.err != nil {
		return
	}
	if _, err := r.dec.ReadToken(); err != io.EOF {
		r.err = bodyRule("invalid JSON: trailing data after the top-level value, which ends at offset " + strconv.FormatInt(r.dec.InputOffset(), 10))
	}
}

// servers reads the backend_servers array, whose '[' is next.
func (r *reader) servers(w *wireRequest) {
	r.read()
	n := 0
	for ; r.err == nil && r.dec.PeekKind() != ']'; n++ {
		if n >= MaxServers {
			r.skip() // refused for the count already: only syntax matters
			continue
		}
		s := wireServer{kind: r.dec.PeekKind()}
		if s.kind == '{' {
			r.object(func(name string) { r.into(s.member(name), name, &s.unknown) })
		} else {
			r.skip()
		}
		if r.err == nil { // an entry cut short is not judged
			w.entries = append(w.entries, s)
		}
	}
	if r.read(); r.err == nil {
		w.servers = member{kind: '['}
		w.count = n
	}
}

// into reads the value of member name into m, the slot found for name: nil
// if name is unknown, which is then noted in unknown.
func (r *reader) into(m *member, name string, unknown *[]string) {
	switch {
	case m == nil:
		*unknown = append(*unknown, name)
		r.skip()
	case m.kind != 0:
		m.repeated = true
		r.skip()
	default:
		*m = r.value()
	}
}

// object reads an object whose '{' is next, calling each at every member's
// value, which each must read.
func (r *reader) object(each func(name string)) {
	r.read() // '{'
	for r.err == nil {
		if r.dec.PeekKind() == '}' {
			r.read()
			return
		}
		name := r.read()
		if r.err != nil {
			return
		}
		each(name.String())
	}
}

// value reads a member's value: its kind, and the text of a string or a
// number; an object or an array is skipped, as only its kind matters.
// Nothing is recorded if the value does not read.
func (r *reader) value() member {
	k := r.dec.PeekKind()
	if k == '{' || k == '[' {
		if r.skip(); r.err != nil {
			return member{}
		}
		return member{kind: k}
	}
	tok := r.read()
	if r.err != nil {
		return member{}
	}
	m := member{kind: tok.Kind()}
	if m.kind == '"' || m.kind == '0' {
		m.text = tok.String() // a number's literal as written
	}
	return m
}

// skip reads past the next value, refusing nesting deeper than maxDepth.
func (r *reader) skip() {
	depth := r.dec.StackDepth()
	for r.err == nil {
		r.read()
		switch d := r.dec.StackDepth(); {
		case d > maxDepth:
			// Sound JSON, perhaps, but not read further.
			r.err = bodyRule("nesting deeper than " + strconv.Itoa(maxDepth) + " levels")
		case d == depth:
			return
		}
	}
}

// kindName names a JSON type in a violation.
func kindName(k jsontext.Kind) string {
	switch k {
	case 'n':
		return "null"
	case 't', 'f':
		return "boolean"
	case '0':
		return "number"
	case '"':
		return "string"
	case '{':
		return "object"
	case '[':
		return "array"
	}
	return "nothing"
}
