package messages

import (
	"fmt"

	"github.com/go-json-experiment/json"
)

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
// by "unknown", and so is a status outside the contract's, so that the
// subject stays a well-formed subject of EventStream whatever went wrong.
// The group token is InstancesToken for a version-2 event without a group
// (instance scope) and for a VServerGroupID of InstancesToken (as a rejected
// event may take it from its request's subject).
func (o *Outcome) Subject() string {
	status, region, group := o.Status, o.RegionID, o.VServerGroupID
	if !status.Valid() {
		status = unknownToken
	}
	if !ValidRegionID(region) {
		region = unknownToken
	}
	switch {
	case group == "" && o.Version == Version2:
		group = InstancesToken
	case !ValidGroupToken(group):
		group = unknownToken
	}
	return EventSubject(status, region, group)
}

// DecodeOutcome reads an outcome event of version 1 or 2. Unlike Decode it
// is a tolerant reader: unknown fields are ignored, so subscribers keep
// working if a compatible field is ever added; but an event of another
// contract version is an error, since its meaning may differ.
func DecodeOutcome(data []byte) (Outcome, error) {
	var o Outcome
	if err := json.Unmarshal(data, &o); err != nil {
		return Outcome{}, fmt.Errorf("decode outcome event: %w", err)
	}
	if o.Version != Version1 && o.Version != Version2 {
		return Outcome{}, fmt.Errorf("decode outcome event %q: unsupported version %d (want %d or %d)", o.RequestID, o.Version, Version1, Version2)
	}
	return o, nil
}
