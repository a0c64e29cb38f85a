package messages

import (
	"encoding/json"
	"fmt"
	"strconv"
)

// timeLayout is the layout of received_at and finished_at: RFC 3339 in UTC
// with exactly three fraction digits, as in the contract's example. The fixed
// width makes event times sort as strings.
const timeLayout = "2006-01-02T15:04:05.000Z07:00"

// MsgID is the Nats-Msg-Id of the event: EventMsgID of its request_id, or,
// for a request whose id could not be read, EventSeqMsgID of its request
// stream sequence.
func (o *Outcome) MsgID() string {
	if o.RequestID == "" {
		return EventSeqMsgID(o.StreamSequence)
	}
	return EventMsgID(o.RequestID)
}

// Subject is the subject the event is published to. A region or group that
// is not a valid id (as may be the case for a rejected request) is replaced
// by "unknown", and so is a status outside the contract's three, so that the
// subject stays a well-formed subject of EventStream whatever went wrong.
func (o *Outcome) Subject() string {
	status, region, group := o.Status, o.RegionID, o.VServerGroupID
	if !status.Valid() {
		status = unknownToken
	}
	if !ValidRegionID(region) {
		region = unknownToken
	}
	if !ValidGroupID(group) {
		group = unknownToken
	}
	return EventSubject(status, region, group)
}

// MarshalJSON encodes o in the contract's field order, with backend_servers
// and api_request_ids as [] (never null) when empty, error as null when nil,
// and times in UTC with millisecond precision.
func (o Outcome) MarshalJSON() ([]byte, error) {
	b := make([]byte, 0, 320+len(o.Reason)+len(o.Source)+
		48*(len(o.BackendServers)+len(o.Removed)+len(o.NotRemoved))+40*len(o.APIRequestIDs))
	b = append(b, `{"version":`...)
	b = strconv.AppendInt(b, int64(o.Version), 10)
	b = append(b, `,"request_id":`...)
	b = appendString(b, o.RequestID)
	b = append(b, `,"status":`...)
	b = appendString(b, string(o.Status))
	b = append(b, `,"region_id":`...)
	b = appendString(b, o.RegionID)
	b = append(b, `,"vserver_group_id":`...)
	b = appendString(b, o.VServerGroupID)
	b = append(b, `,"backend_servers":`...)
	b = appendServers(b, o.BackendServers)
	if len(o.Removed) > 0 {
		b = append(b, `,"removed":`...)
		b = appendServers(b, o.Removed)
	}
	if len(o.NotRemoved) > 0 {
		b = append(b, `,"not_removed":`...)
		b = appendServers(b, o.NotRemoved)
	}
	b = append(b, `,"api_request_ids":`...)
	b = appendStrings(b, o.APIRequestIDs)
	b = append(b, `,"attempts":`...)
	b = strconv.AppendInt(b, int64(o.Attempts), 10)
	var err error
	b = append(b, `,"received_at":`...)
	if b, err = appendTime(b, o.ReceivedAt, timeLayout); err != nil {
		return nil, fmt.Errorf("encode outcome of %q: received_at: %w", o.RequestID, err)
	}
	b = append(b, `,"finished_at":`...)
	if b, err = appendTime(b, o.FinishedAt, timeLayout); err != nil {
		return nil, fmt.Errorf("encode outcome of %q: finished_at: %w", o.RequestID, err)
	}
	b = append(b, `,"error":`...)
	if o.Error == nil {
		b = append(b, "null"...)
	} else {
		b = append(b, `{"code":`...)
		b = appendString(b, o.Error.Code)
		b = append(b, `,"message":`...)
		b = appendString(b, o.Error.Message)
		b = append(b, '}')
	}
	if o.Source != "" {
		b = append(b, `,"source":`...)
		b = appendString(b, o.Source)
	}
	if o.Reason != "" {
		b = append(b, `,"reason":`...)
		b = appendString(b, o.Reason)
	}
	b = append(b, `,"stream_sequence":`...)
	b = strconv.AppendUint(b, o.StreamSequence, 10)
	return append(b, '}'), nil
}

// DecodeOutcome reads an outcome event. Unlike Decode it is a tolerant
// reader: unknown fields are ignored, so subscribers keep working if a
// compatible field is ever added; but an event of another contract version
// is an error, since its meaning may differ.
func DecodeOutcome(data []byte) (Outcome, error) {
	var o Outcome
	if err := json.Unmarshal(data, &o); err != nil {
		return Outcome{}, fmt.Errorf("decode outcome event: %w", err)
	}
	if o.Version != Version {
		return Outcome{}, fmt.Errorf("decode outcome event %q: unsupported version %d (want %d)", o.RequestID, o.Version, Version)
	}
	return o, nil
}
