package messages

import (
	"context"
	"fmt"
	"slices"
	"strconv"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// Publisher is the part of jetstream.JetStream that Publish needs.
type Publisher interface {
	PublishMsg(ctx context.Context, msg *nats.Msg, opts ...jetstream.PublishOpt) (*jetstream.PubAck, error)
}

// Publish sends req, of version 1 or 2, to req.Subject() (RequestSubject of
// its region and group, or InstancesRequestSubject of its region in
// instance scope) with Nats-Msg-Id set to its request_id, so that JetStream
// drops a re-send of the same request within the stream's duplicate window
// (the returned PubAck then has Duplicate set). It normalises and validates
// a copy of req first (the caller's value is left alone) and refuses to send
// an invalid request, or one whose JSON exceeds MaxRequestBytes, with a
// *ValidationError: a worker would only reject it.
func Publish(ctx context.Context, js Publisher, req DrainRequest) (*jetstream.PubAck, error) {
	msg, err := NewRequestMsg(req)
	if err != nil {
		return nil, err
	}
	ack, err := js.PublishMsg(ctx, msg)
	if err != nil {
		return nil, fmt.Errorf("publish drain request %q to %s: %w", req.RequestID, msg.Subject, err)
	}
	return ack, nil
}

// NewRequestMsg is the message Publish sends for req: validated and
// normalised (on a copy), on req.Subject(), with header Nats-Msg-Id. A
// caller that adds headers of its own (traceparent, say) publishes it
// itself. Errors are as Publish's.
func NewRequestMsg(req DrainRequest) (*nats.Msg, error) {
	req.BackendServers = slices.Clone(req.BackendServers)
	if err := req.Validate(); err != nil {
		return nil, fmt.Errorf("publish drain request %q: %w", req.RequestID, err)
	}
	data, err := req.MarshalJSON()
	if err != nil {
		return nil, fmt.Errorf("publish drain request %q: %w", req.RequestID, err)
	}
	if len(data) > MaxRequestBytes {
		err := &ValidationError{Violations: []Violation{{
			Field: "body",
			Rule:  "larger than " + strconv.Itoa(MaxRequestBytes) + " bytes, got " + strconv.Itoa(len(data)),
		}}}
		return nil, fmt.Errorf("publish drain request %q: %w", req.RequestID, err)
	}
	msg := nats.NewMsg(req.Subject())
	msg.Data = data
	msg.Header.Set(MsgIDHeader, req.RequestID)
	return msg, nil
}
