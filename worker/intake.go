package worker

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync/atomic"

	"github.com/nats-io/nats.go/jetstream"
	"go.uber.org/zap"

	"github.com/slbdrain/slbdrain/messages"
)

// intake is the Consume handler: it decodes, holds and hands over, nothing
// more. No API call and no blocking publish or lookup happen on the consume
// goroutine.
func (w *Worker) intake(msg jetstream.Msg) {
	w.m.requestsReceived.Inc()
	now := w.clock.Now()
	meta, err := msg.Metadata()
	if err != nil {
		// Not a JetStream delivery: nothing to report on, nothing to ack.
		w.log.Error("message without JetStream metadata", zap.String("subject", msg.Subject()), zap.Error(err))
		return
	}
	if pin := msg.Headers().Get(pinIDHeader); pin != "" {
		w.pin.delivered(pin)
	}
	w.sched.backlog.Store(meta.NumPending > 0)
	if meta.NumDelivered > 1 {
		w.m.redeliveries.Inc()
		w.log.Info("redelivered request", zap.Uint64("stream_sequence", meta.Sequence.Stream),
			zap.Uint64("num_delivered", meta.NumDelivered), zap.String("subject", msg.Subject()))
	}
	if w.ledger.redelivered(meta.Sequence.Stream, delivery{nc: w.nc, reply: strings.Clone(msg.Reply())}) {
		return // a redelivery of a request already in hand
	}
	req, decodeErr := messages.Decode(msg.Subject(), msg.Data())
	r := newRequest(delivery{nc: w.nc, reply: strings.Clone(msg.Reply())}, meta, req, w.cfg.MaxRetry, w.cfg.DrainTimeout, now)
	r.redelivered = meta.NumDelivered > 1
	if decodeErr != nil {
		r.invalid = &invalidRequest{subject: msg.Subject(), err: decodeErr}
	}
	if tid, ok := messages.ParseTraceParent(msg.Headers().Get(messages.TraceParentHeader)); ok {
		r.traceID = tid
	}
	// Held from here: its heartbeat runs while the outcomes bucket is asked,
	// and while credentials fail; its deadline counts wherever it waits.
	w.ledger.hold(r)
	if !messages.ValidRequestID(req.RequestID) {
		w.admit(r) // an unreadable id cannot have been seen before
		return
	}
	if meta.NumDelivered == 1 && w.remembered.surelyUnknown(messages.OutcomeKey(req.RequestID)) {
		w.m.outcomeLookupsSkipped.Inc()
		w.admit(r) // the bucket certainly has no outcome for it
		return
	}
	w.recall.pending.Add(1)
	w.recall.queue <- r
}

// admit sends a request whose outcome is not known on its way: a rejected
// event at once for an invalid one, else the scheduler.
func (w *Worker) admit(r *request) {
	switch {
	case r.invalid != nil:
		w.reject(r, r.invalid.subject, r.invalid.err)
	case !r.req.InstanceScope() && !w.guard.allowed(r.req.VServerGroupID):
		w.failAtOnce(r, &messages.Error{Code: messages.CodeNotAllowed, Message: fmt.Sprintf(
			"group %s/%s is outside --allow-group %s", r.req.RegionID, r.req.VServerGroupID, w.cfg.AllowGroups)})
	case r.req.Version >= messages.Version2:
		w.admitV2(r)
	default:
		w.sched.add(r)
	}
}

// reject reports an invalid request. Its event names it by request_id when
// that could be read, and takes region and group from the subject's tokens
// where they are valid (messages.Outcome.Subject falls back to "unknown").
func (w *Worker) reject(r *request, subject string, err error) {
	region, group, _ := messages.ParseRequestSubject(subject)
	if !messages.ValidRegionID(region) {
		region = "unknown"
	}
	if !messages.ValidGroupToken(group) { // a group id, or "instances"
		group = "unknown"
	}
	r.req.RegionID, r.req.VServerGroupID = region, group
	if !r.decide() {
		return // its deadline came first
	}
	message := err.Error()
	// The event carries what its schema allows: an over-long reason or
	// source is cut, and the cut is said.
	for _, f := range []struct {
		name string
		v    *string
	}{{"reason", &r.req.Reason}, {"source", &r.req.Source}} {
		if cut, ok := truncateRunes(*f.v, messages.MaxTextChars); ok {
			*f.v = cut
			message += fmt.Sprintf("; %s truncated to %d characters in this event", f.name, messages.MaxTextChars)
		}
	}
	o := r.outcome(messages.StatusRejected, &messages.Error{Code: messages.CodeInvalidRequest, Message: message}, w.clock.Now())
	w.log.Warn("rejected request", zap.String("request_id", o.RequestID), zap.Uint64("stream_sequence", r.seq),
		zap.String("subject", subject), zap.Error(err))
	w.rep.publish([]report{{r: r, outcome: o, term: true}})
}

// truncateRunes cuts s to n characters; ok says whether it was longer.
func truncateRunes(s string, n int) (string, bool) {
	i := 0
	for pos := range s {
		if i == n {
			return s[:pos], true
		}
		i++
	}
	return s, false
}

// recall asks the outcomes bucket whether a request's id already has an
// outcome: a request re-published after the duplicate window, or
// redelivered after its event was stored, is acked with no API call and no
// second event. A pool of askers works the queue.
type recall struct {
	queue   chan *request
	pending atomic.Int64 // queued or being looked up
}

// recallAskers is how many lookups are in flight at once.
const recallAskers = 64

func newRecall(size int) *recall { return &recall{queue: make(chan *request, size)} }

// run answers lookups until ctx ends; what is still queued then stays held
// and is handed back by shutdown.
func (w *Worker) runRecall(ctx context.Context) {
	for {
		select {
		case <-ctx.Done():
			return
		case r := <-w.recall.queue:
			w.lookUp(ctx, r)
		}
	}
}

func (w *Worker) lookUp(ctx context.Context, r *request) {
	entry, err := w.outcomes.Get(ctx, messages.OutcomeKey(r.req.RequestID))
	// No longer on its way: a request is not its own company when it
	// reaches its group (a lone request must not linger for itself).
	w.recall.pending.Add(-1)
	switch {
	case err == nil:
		w.known(r, entry.Value())
	case errors.Is(err, jetstream.ErrKeyNotFound):
		w.admit(r)
	case ctx.Err() != nil:
		// Shutting down: the request stays held and is handed back.
	default:
		// The bucket does not answer: drain anyway. Removal is idempotent,
		// and the event's Msg-Id absorbs a repeat within the duplicate window.
		w.m.outcomeLookupFailures.Inc()
		w.log.Warn("outcomes bucket lookup failed; handling the request as new",
			zap.String("request_id", r.req.RequestID), zap.Uint64("stream_sequence", r.seq), zap.Error(err))
		w.admit(r)
	}
}

// known acks a request whose outcome is remembered: its event is stored.
func (w *Worker) known(r *request, stored []byte) {
	if !r.decide() {
		return
	}
	status := "unknown"
	if o, err := messages.DecodeOutcome(stored); err == nil {
		status = string(o.Status)
	}
	_ = w.ledger.forget(r).Ack()
	w.madeProgress()
	w.m.knownOutcomes.Inc()
	w.log.Info("request already has an outcome; acked with no call and no event",
		zap.String("request_id", r.req.RequestID), zap.Uint64("stream_sequence", r.seq), zap.String("status", status))
}
