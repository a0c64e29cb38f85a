package messages

import (
	"errors"
	"fmt"
	"time"

	"github.com/go-json-experiment/json"
	"github.com/go-json-experiment/json/jsontext"
)

// The messages are encoded by the JSON library from their struct tags: fields
// in declaration order (the contract's order), nil lists as [], empty
// optional fields left out (omitempty). The options keep two things that
// subscribers have always had.
var encodeOptions = json.JoinOptions(
	// U+2028 and U+2029 escaped, as encoding/json does: JavaScript before
	// ES2019 ends a string literal at them.
	jsontext.EscapeForJS(true),
	// Invalid UTF-8 (in an API error message, say) replaced by U+FFFD
	// rather than an error: an event that cannot be encoded would leave its
	// request without an end.
	jsontext.AllowInvalidUTF8(true),
)

// eventTimeLayout is the layout of an event's times: RFC 3339 in UTC with
// exactly three fraction digits, as in the contract's example. The fixed
// width makes event times sort as strings.
const eventTimeLayout = "2006-01-02T15:04:05.000Z07:00"

// outcomeOptions writes times in eventTimeLayout. The library writes a time
// in its own zone with as many digits as it has, and takes no layout from a
// struct tag, so this small marshaler remains.
var outcomeOptions = json.JoinOptions(encodeOptions, json.WithMarshalers(json.MarshalToFunc(encodeEventTime)))

var errYearRange = errors.New("year outside of range [0,9999]")

func encodeEventTime(enc *jsontext.Encoder, t time.Time) error {
	t = t.UTC()
	if y := t.Year(); y < 0 || y > 9999 {
		return errYearRange // RFC 3339 has no form for it
	}
	return enc.WriteToken(jsontext.String(t.Format(eventTimeLayout)))
}

// MarshalJSON encodes r with the field names of its struct tags,
// backend_servers as [] rather than null when empty, and the deadline in UTC
// with full precision. It does not validate: Publish does.
func (r DrainRequest) MarshalJSON() ([]byte, error) {
	if r.Deadline != nil {
		utc := r.Deadline.UTC()
		r.Deadline = &utc
	}
	type fields DrainRequest // without this method
	b, err := json.Marshal(fields(r), encodeOptions)
	if err != nil {
		return nil, fmt.Errorf("encode drain request %q: %w", r.RequestID, err)
	}
	return b, nil
}

// MarshalJSON encodes o in the contract's field order, with backend_servers
// and api_request_ids as [] (never null) when empty, removed and not_removed
// left out when empty, error as null when nil, and times in UTC with
// millisecond precision.
func (o Outcome) MarshalJSON() ([]byte, error) {
	type fields Outcome // without this method
	b, err := json.Marshal(fields(o), outcomeOptions)
	if err != nil {
		return nil, fmt.Errorf("encode outcome of %q: %w", o.RequestID, err)
	}
	return b, nil
}

// MarshalJSON encodes p as {"request_id":"...","removed":N,"total":N}.
func (p Progress) MarshalJSON() ([]byte, error) {
	type fields Progress // without this method
	b, err := json.Marshal(fields(p), encodeOptions)
	if err != nil {
		return nil, fmt.Errorf("encode progress of %q: %w", p.RequestID, err)
	}
	return b, nil
}
