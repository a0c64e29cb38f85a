package worker

import (
	"strings"

	"github.com/nats-io/nats.go/jetstream"
	"go.uber.org/zap"

	"github.com/slbdrain/slbdrain/messages"
)

// intake is the Consume handler: it decodes and hands over, nothing more.
// No API call and no blocking publish happen on the consume goroutine.
func (w *Worker) intake(msg jetstream.Msg) {
	w.m.requestsReceived.Inc()
	now := w.clock.Now()
	meta, err := msg.Metadata()
	if err != nil {
		// Not a JetStream delivery: nothing to report on, nothing to ack.
		w.log.Error("message without JetStream metadata", zap.String("subject", msg.Subject()), zap.Error(err))
		return
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
	r := newRequest(delivery{nc: w.nc, reply: strings.Clone(msg.Reply())}, meta, req, w.cfg.MaxRetry, now)
	if decodeErr != nil {
		w.reject(r, msg.Subject(), decodeErr) // at once, credentials or not
		return
	}
	if w.creds.Failing() && !r.expired(now) {
		// Pulling stops on a credentials failure, but deliveries already on
		// their way still arrive: give them back until the credentials work
		// or their deadline comes, when they fail (add below).
		_ = r.msg.NakWithDelay(min(w.cfg.CredentialRetry, r.deadline.Sub(now)))
		return
	}
	w.ledger.hold(r)
	w.sched.add(r)
}

// reject reports an invalid request. Its event names it by request_id when
// that could be read, and takes region and group from the subject's tokens
// where they are valid (messages.Outcome.Subject falls back to "unknown").
func (w *Worker) reject(r *request, subject string, err error) {
	region, group, _ := messages.ParseRequestSubject(subject)
	if !messages.ValidRegionID(region) {
		region = "unknown"
	}
	if !messages.ValidGroupID(group) {
		group = "unknown"
	}
	// Settled before it is held: from then on only the reporter touches it.
	r.req.RegionID, r.req.VServerGroupID = region, group
	r.decide()
	o := r.outcome(messages.StatusRejected, &messages.Error{Code: messages.CodeInvalidRequest, Message: err.Error()}, w.clock.Now())
	w.ledger.hold(r)
	w.log.Warn("rejected request", zap.String("request_id", o.RequestID), zap.Uint64("stream_sequence", r.seq),
		zap.String("subject", subject), zap.Error(err))
	w.rep.publish([]report{{r: r, outcome: o, term: true}})
}
