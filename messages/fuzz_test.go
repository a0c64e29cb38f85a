package messages

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"reflect"
	"slices"
	"strings"
	"testing"
	"unicode/utf8"
)

// FuzzDecode: Decode never panics; what it accepts, of either version,
// obeys the contract (checked independently) on the subject of its scope
// and on no other, survives Validate unchanged, and survives re-encoding;
// its verdict agrees with the JSON Schemas' and its syntax verdict with
// encoding/json's; what it refuses comes with violations and a RequestID
// that is empty or valid.
func FuzzDecode(f *testing.F) {
	for _, tc := range decodeCases() {
		if len(tc.body) <= 4<<10 {
			f.Add([]byte(tc.body))
		}
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		body, bodyErr := decodeBody(data)

		syntaxOK := utf8.Valid(data) && json.Valid(data)
		if bodyErr == nil && !syntaxOK {
			t.Fatalf("accepted invalid JSON")
		}
		if !syntaxOK && !hasViolation(bodyErr, "body", "") {
			t.Fatalf("invalid JSON without a body violation: %v", bodyErr)
		}
		if syntaxOK && hasViolation(bodyErr, "body", "invalid JSON") {
			t.Fatalf("valid JSON called invalid: %v", bodyErr)
		}

		if len(data) <= MaxRequestBytes && !hasRepeatedNames(data) {
			checkAgreement(t, data)
		}

		// The subject of the body's scope, and one of the other scope.
		subject, other := testSubject, testInstances
		if bodyErr == nil {
			subject = body.Subject()
			if body.InstanceScope() {
				other = RequestSubject(body.RegionID, testGroup)
			} else {
				other = InstancesRequestSubject(body.RegionID)
			}
		}
		req, err := Decode(subject, data)
		if (err == nil) != (bodyErr == nil) {
			t.Fatalf("Decode on %s: %v, without the subject: %v", subject, err, bodyErr)
		}
		if _, err := Decode(other, data); err == nil {
			t.Fatalf("accepted on %s, the other scope's subject", other)
		}
		if err != nil {
			var ve *ValidationError
			if !errors.As(err, &ve) || len(ve.Violations) == 0 {
				t.Fatalf("error %v is not a *ValidationError with violations", err)
			}
			if req.RequestID != "" && !ValidRequestID(req.RequestID) {
				t.Fatalf("invalid RequestID %q returned", req.RequestID)
			}
			if req.Version != 0 && req.Version != 1 && req.Version != 2 {
				t.Fatalf("version %d returned", req.Version)
			}
			return
		}

		checkContractRules(t, subject, req)
		if !sameRequest(req, body) {
			t.Fatalf("Decode and decodeBody differ:\n%+v\n%+v", req, body)
		}

		again := req
		again.BackendServers = slices.Clone(req.BackendServers)
		if err := again.Validate(); err != nil {
			t.Fatalf("Validate refused a decoded request: %v", err)
		}
		if !reflect.DeepEqual(again, req) {
			t.Fatalf("Validate changed a decoded request:\n%+v\n%+v", req, again)
		}

		enc, err := json.Marshal(req)
		if err != nil {
			t.Fatal(err)
		}
		if len(enc) <= MaxRequestBytes { // escapes can make it longer
			req2, err := Decode(subject, enc)
			if err != nil {
				t.Fatalf("re-encoded request refused: %v\n%s", err, enc)
			}
			if !sameRequest(req, req2) {
				t.Fatalf("round trip changed the request:\n%+v\n%+v", req, req2)
			}
		}

		// encoding/json, where it can read the body (it refuses 80.0 for
		// an int, and drain_timeout's string for a time.Duration), must
		// read the same request once validated (which fills in defaults).
		var std DrainRequest
		dec := json.NewDecoder(bytes.NewReader(data))
		dec.DisallowUnknownFields()
		if dec.Decode(&std) == nil {
			if err := std.Validate(); err != nil {
				t.Fatalf("encoding/json's reading is invalid: %v", err)
			}
			if std.Deadline != nil {
				u := std.Deadline.UTC()
				std.Deadline = &u
			}
			if !sameRequest(req, std) {
				t.Fatalf("encoding/json reads differently:\n%+v\n%+v", req, std)
			}
		}
	})
}

func hasViolation(err error, field, rulePrefix string) bool {
	var ve *ValidationError
	if !errors.As(err, &ve) {
		return false
	}
	for _, v := range ve.Violations {
		if v.Field == field && strings.HasPrefix(v.Rule, rulePrefix) {
			return true
		}
	}
	return false
}

func sameRequest(a, b DrainRequest) bool {
	da, db := a.Deadline, b.Deadline
	a.Deadline, b.Deadline = nil, nil
	if (da == nil) != (db == nil) || (da != nil && !da.Equal(*db)) {
		return false
	}
	ta, tb := a.DrainTimeout, b.DrainTimeout
	a.DrainTimeout, b.DrainTimeout = nil, nil
	if (ta == nil) != (tb == nil) || (ta != nil && *ta != *tb) {
		return false
	}
	return reflect.DeepEqual(a, b)
}

// hasRepeatedNames reports whether any object in the (valid) JSON document
// data names a member twice, after unescaping: a schema validator never sees
// such repeats, as parsing keeps one of them.
func hasRepeatedNames(data []byte) bool {
	dec := json.NewDecoder(bytes.NewReader(data))
	type frame struct {
		object  bool
		names   map[string]bool
		wantKey bool
	}
	var stack []*frame
	for {
		tok, err := dec.Token()
		if err == io.EOF {
			return false
		}
		if err != nil {
			return false // not valid JSON: judged elsewhere
		}
		var top *frame
		if len(stack) > 0 {
			top = stack[len(stack)-1]
		}
		if top != nil && top.object && top.wantKey {
			if d, ok := tok.(json.Delim); ok && d == '}' {
				stack = stack[:len(stack)-1]
				if len(stack) > 0 && stack[len(stack)-1].object {
					stack[len(stack)-1].wantKey = true
				}
				continue
			}
			name := tok.(string)
			if top.names[name] {
				return true
			}
			top.names[name] = true
			top.wantKey = false
			continue
		}
		switch tok {
		case json.Delim('{'):
			stack = append(stack, &frame{object: true, names: map[string]bool{}, wantKey: true})
			continue
		case json.Delim('['):
			stack = append(stack, &frame{})
			continue
		case json.Delim(']'):
			stack = stack[:len(stack)-1]
		}
		// A value ended: an enclosing object now wants its next key.
		if len(stack) > 0 && stack[len(stack)-1].object {
			stack[len(stack)-1].wantKey = true
		}
	}
}

func TestHasRepeatedNames(t *testing.T) {
	for doc, want := range map[string]bool{
		`{"a":1,"b":{"a":2}}`:          false,
		`{"a":1,"a":2}`:                true,
		`{"a":1,"\u0061":2}`:           true,
		`[{"a":1},{"a":1}]`:            false,
		`{"x":[{"a":1,"b":[],"a":3}]}`: true,
		`{"a":{},"b":{},"c":[1,{}]}`:   false,
	} {
		if got := hasRepeatedNames([]byte(doc)); got != want {
			t.Errorf("hasRepeatedNames(%s) = %v", doc, got)
		}
	}
}
