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

// requestWire is a drain request as MarshalJSON writes it: the fields of
// version 1 in their order, those of version 2 where they belong, each of
// version 2 left out when empty, so that a version-1 request encodes exactly
// as it always has.
type requestWire struct {
	Version        int          `json:"version"`
	RequestID      string       `json:"request_id"`
	Action         Action       `json:"action,omitempty"`
	RegionID       string       `json:"region_id"`
	VServerGroupID *string      `json:"vserver_group_id,omitempty"`
	BackendServers []serverWire `json:"backend_servers"`
	Mode           Mode         `json:"mode,omitempty"`
	DrainTimeout   string       `json:"drain_timeout,omitempty"`
	DryRun         bool         `json:"dry_run,omitzero"`
	Force          bool         `json:"force,omitzero"`
	RestoreOf      string       `json:"restore_of,omitempty"`
	Reason         string       `json:"reason,omitempty"`
	Source         string       `json:"source,omitempty"`
	Deadline       *time.Time   `json:"deadline,omitempty"`
}

// serverWire is a backend server as a message carries it: port left out
// when nil, weight when unset.
type serverWire struct {
	ServerID string `json:"server_id"`
	Port     *int   `json:"port,omitempty"`
	Type     string `json:"type,omitempty"`
	Weight   Weight `json:"weight,omitzero"`
}

// serversWire is list as version version writes it: in version 1 every
// port, in version 2 a port of 0 (every port, in instance scope) left out.
// Weights are written where set. nil stays nil.
func serversWire(list []BackendServer, version int) []serverWire {
	if list == nil {
		return nil
	}
	out := make([]serverWire, len(list))
	for i := range list {
		b := &list[i]
		out[i] = serverWire{ServerID: b.ServerID, Type: b.Type, Weight: b.Weight}
		if version != Version2 || b.Port != 0 {
			out[i].Port = &b.Port
		}
	}
	return out
}

// MarshalJSON encodes r with the field names of its struct tags,
// backend_servers as [] rather than null when empty, and the deadline in UTC
// with full precision. A version-1 request is written as version 1 has
// always been (with any field of version 2 that is set, which Decode
// refuses). In version 2 an empty vserver_group_id (instance scope) and a
// port of 0 are left out, and drain_timeout is a Go duration string. It
// does not validate: Publish does.
func (r DrainRequest) MarshalJSON() ([]byte, error) {
	w := requestWire{
		Version:        r.Version,
		RequestID:      r.RequestID,
		Action:         r.Action,
		RegionID:       r.RegionID,
		VServerGroupID: &r.VServerGroupID,
		BackendServers: serversWire(r.BackendServers, r.Version),
		Mode:           r.Mode,
		DryRun:         r.DryRun,
		Force:          r.Force,
		RestoreOf:      r.RestoreOf,
		Reason:         r.Reason,
		Source:         r.Source,
	}
	if w.BackendServers == nil {
		w.BackendServers = []serverWire{}
	}
	if r.Version == Version2 && r.VServerGroupID == "" {
		w.VServerGroupID = nil
	}
	if r.DrainTimeout != nil {
		w.DrainTimeout = formatDrainTimeout(*r.DrainTimeout)
	}
	if r.Deadline != nil {
		utc := r.Deadline.UTC()
		w.Deadline = &utc
	}
	b, err := json.Marshal(w, encodeOptions)
	if err != nil {
		return nil, fmt.Errorf("encode drain request %q: %w", r.RequestID, err)
	}
	return b, nil
}

// outcomeV1 is a version-1 event: exactly the fields of version 1, in the
// contract's order.
type outcomeV1 struct {
	Version        int        `json:"version"`
	RequestID      string     `json:"request_id"`
	Status         Status     `json:"status"`
	RegionID       string     `json:"region_id"`
	VServerGroupID string     `json:"vserver_group_id"`
	BackendServers []serverV1 `json:"backend_servers"`
	Removed        []serverV1 `json:"removed,omitempty"`
	NotRemoved     []serverV1 `json:"not_removed,omitempty"`
	APIRequestIDs  []string   `json:"api_request_ids"`
	Attempts       int        `json:"attempts"`
	ReceivedAt     time.Time  `json:"received_at"`
	FinishedAt     time.Time  `json:"finished_at"`
	Error          *Error     `json:"error"`
	Source         string     `json:"source,omitempty"`
	Reason         string     `json:"reason,omitempty"`
	StreamSequence uint64     `json:"stream_sequence"`
}

// serverV1 is a backend server of a version-1 event.
type serverV1 struct {
	ServerID string `json:"server_id"`
	Port     int    `json:"port"`
	Type     string `json:"type,omitempty"`
}

func serversV1(list []BackendServer) []serverV1 {
	if list == nil {
		return nil
	}
	out := make([]serverV1, len(list))
	for i, b := range list {
		out[i] = serverV1{ServerID: b.ServerID, Port: b.Port, Type: b.Type}
	}
	return out
}

// outcomeV2 is a version-2 event: version 1's fields and version 2's, in
// the order a reader meets them (what was asked, what was done, the audit
// trail).
type outcomeV2 struct {
	Version        int          `json:"version"`
	RequestID      string       `json:"request_id"`
	Status         Status       `json:"status"`
	Action         Action       `json:"action"`
	Mode           Mode         `json:"mode,omitempty"`
	DryRun         bool         `json:"dry_run"`
	RegionID       string       `json:"region_id"`
	VServerGroupID string       `json:"vserver_group_id"`
	BackendServers []serverWire `json:"backend_servers"`
	Groups         []groupWire  `json:"groups,omitzero"`
	Removed        []serverWire `json:"removed,omitempty"`
	NotRemoved     []serverWire `json:"not_removed,omitempty"`
	APIRequestIDs  []string     `json:"api_request_ids"`
	Attempts       int          `json:"attempts"`
	ReceivedAt     time.Time    `json:"received_at"`
	FinishedAt     time.Time    `json:"finished_at"`
	Error          *Error       `json:"error"`
	Source         string       `json:"source,omitempty"`
	Reason         string       `json:"reason,omitempty"`
	TraceID        string       `json:"trace_id,omitempty"`
	StreamSequence uint64       `json:"stream_sequence"`
}

// groupWire is a Group as a version-2 event carries it.
type groupWire struct {
	LoadBalancerID string       `json:"load_balancer_id"`
	VServerGroupID string       `json:"vserver_group_id"`
	BackendServers []serverWire `json:"backend_servers"`
	WeightZeroAt   time.Time    `json:"weight_zero_at,omitzero"`
	RemovedAt      time.Time    `json:"removed_at,omitzero"`
}

// MarshalJSON encodes o in the contract's shape of its version, with
// backend_servers and api_request_ids as [] (never null) when empty, removed
// and not_removed left out when empty, error as null when nil, and times in
// UTC with millisecond precision.
//
// A version-1 event (any Version but 2) has exactly version 1's fields:
// those of version 2 are not written, whatever they hold, and neither are
// weights. A version-2 event also has action (ActionDrain when empty), a
// drain's mode (ModeRemove when empty; a restore has none), dry_run, groups
// (left out when nil, except in instance scope, an empty VServerGroupID,
// where nil is []; each server's type defaulted to ecs) and trace_id (when
// set); a port of 0 (every port, in instance scope) is left out.
func (o Outcome) MarshalJSON() ([]byte, error) {
	var v any
	if o.Version == Version2 {
		v = o.wireV2()
	} else {
		v = outcomeV1{
			Version:        o.Version,
			RequestID:      o.RequestID,
			Status:         o.Status,
			RegionID:       o.RegionID,
			VServerGroupID: o.VServerGroupID,
			BackendServers: orEmpty(serversV1(o.BackendServers)),
			Removed:        serversV1(o.Removed),
			NotRemoved:     serversV1(o.NotRemoved),
			APIRequestIDs:  orEmpty(o.APIRequestIDs),
			Attempts:       o.Attempts,
			ReceivedAt:     o.ReceivedAt,
			FinishedAt:     o.FinishedAt,
			Error:          o.Error,
			Source:         o.Source,
			Reason:         o.Reason,
			StreamSequence: o.StreamSequence,
		}
	}
	b, err := json.Marshal(v, outcomeOptions)
	if err != nil {
		return nil, fmt.Errorf("encode outcome of %q: %w", o.RequestID, err)
	}
	return b, nil
}

func (o *Outcome) wireV2() *outcomeV2 {
	w := &outcomeV2{
		Version:        o.Version,
		RequestID:      o.RequestID,
		Status:         o.Status,
		Action:         o.Action,
		Mode:           o.Mode,
		DryRun:         o.DryRun,
		RegionID:       o.RegionID,
		VServerGroupID: o.VServerGroupID,
		BackendServers: orEmpty(serversWire(o.BackendServers, Version2)),
		Removed:        serversWire(o.Removed, Version2),
		NotRemoved:     serversWire(o.NotRemoved, Version2),
		APIRequestIDs:  orEmpty(o.APIRequestIDs),
		Attempts:       o.Attempts,
		ReceivedAt:     o.ReceivedAt,
		FinishedAt:     o.FinishedAt,
		Error:          o.Error,
		Source:         o.Source,
		Reason:         o.Reason,
		TraceID:        o.TraceID,
		StreamSequence: o.StreamSequence,
	}
	if w.Action == "" {
		w.Action = ActionDrain
	}
	switch {
	case w.Action != ActionDrain:
		w.Mode = ""
	case w.Mode == "":
		w.Mode = ModeRemove
	}
	if o.Groups != nil || o.VServerGroupID == "" {
		w.Groups = make([]groupWire, len(o.Groups))
	}
	for i, g := range o.Groups {
		servers := make([]BackendServer, len(g.BackendServers))
		for j, b := range g.BackendServers {
			if b.Type == "" {
				b.Type = TypeECS
			}
			servers[j] = b
		}
		w.Groups[i] = groupWire{
			LoadBalancerID: g.LoadBalancerID,
			VServerGroupID: g.VServerGroupID,
			BackendServers: serversWire(servers, Version1), // a group member always has its port
			WeightZeroAt:   g.WeightZeroAt,
			RemovedAt:      g.RemovedAt,
		}
	}
	return w
}

// orEmpty is list, or an empty list for nil, so that it encodes as [].
func orEmpty[T any](list []T) []T {
	if list == nil {
		return []T{}
	}
	return list
}

// MarshalJSON encodes p as {"request_id":"...","removed":N,"total":N}, with
// phase and until (in UTC, millisecond precision) after them when set.
func (p Progress) MarshalJSON() ([]byte, error) {
	type fields Progress // without this method
	b, err := json.Marshal(fields(p), outcomeOptions)
	if err != nil {
		return nil, fmt.Errorf("encode progress of %q: %w", p.RequestID, err)
	}
	return b, nil
}
