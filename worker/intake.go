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
	now := w.now()
	meta, err := msg.Metadata()
	if err != nil {
		// Not a JetStream delivery: nothing to report on, nothing to ack.
		w.log.Error("message without JetStream metadata", zap.String("subject", msg.Subject()), zap.Error(err))
		return
	}
	w.co.backlog.Store(meta.NumPending > 0)
	if meta.NumDelivered > 1 {
		w.m.redeliveries.Inc()
		w.log.Info("redelivered request", zap.Uint64("stream_sequence", meta.Sequence.Stream),
			zap.Uint64("num_delivered", meta.NumDelivered), zap.String("subject", msg.Subject()))
	}
	if w.credentialsFailing() {
		// Pulling stops on a credentials failure, but deliveries already on
		// their way still arrive: give them straight back.
		_ = msg.NakWithDelay(w.cfg.CredentialRetry)
		return
	}
	req, decodeErr := messages.Decode(msg.Subject(), msg.Data())
	r := newRequest(delivery{nc: w.nc, reply: strings.Clone(msg.Reply())}, meta, req, w.cfg.MaxRetry, now)
	if !w.co.hold(r) {
		return // a redelivery of a request already in hand
	}
	if decodeErr != nil {
		w.reject(r, msg.Subject(), decodeErr)
		return
	}
	w.co.add(r)
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
	r.req.RegionID, r.req.VServerGroupID = region, group
	r.removed, r.remaining = make([]bool, len(r.req.BackendServers)), 0
	r.done = true
	o := r.outcome(messages.StatusRejected, &messages.Error{Code: messages.CodeInvalidRequest, Message: err.Error()}, w.now())
	if o.BackendServers == nil {
		o.BackendServers = []messages.BackendServer{}
	}
	w.log.Warn("rejected request", zap.String("request_id", o.RequestID), zap.Uint64("stream_sequence", r.seq),
		zap.String("subject", subject), zap.Error(err))
	w.rep.publish([]report{{r: r, outcome: o, term: true}})
}
