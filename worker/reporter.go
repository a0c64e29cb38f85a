package worker

import (
	"context"
	"errors"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"go.uber.org/zap"

	"github.com/slbdrain/slbdrain/messages"
)

// reporter publishes outcome events asynchronously and acks each request
// only once JetStream has acknowledged its event. Acknowledgements are
// awaited in publication order by one goroutine: no goroutine per message.
type reporter struct {
	js      jetstream.JetStream
	ledger  *ledger
	log     *zap.Logger
	m       *metrics
	acks    chan pendingEvent
	stopped chan struct{} // closed when run returns
}

type pendingEvent struct {
	future jetstream.PubAckFuture
	rep    report
}

func newReporter(js jetstream.JetStream, l *ledger, log *zap.Logger, m *metrics) *reporter {
	return &reporter{js: js, ledger: l, log: log, m: m, acks: make(chan pendingEvent, 8192), stopped: make(chan struct{})}
}

// redeliverAfter is how soon a request whose event JetStream did not take
// comes back.
const redeliverAfter = time.Second

// publish sends the events of finished requests. It blocks only when
// JetStream's window of unacknowledged publishes is full: back-pressure.
func (rp *reporter) publish(reps []report) {
	for _, rep := range reps {
		data, err := rep.outcome.MarshalJSON() // direct: json.Marshal would re-validate the output
		if err != nil {                        // an Outcome always encodes; keep the request for redelivery if not
			rp.failed(rep, err)
			continue
		}
		msg := &nats.Msg{
			Subject: rep.outcome.Subject(),
			Data:    data,
			Header:  nats.Header{messages.MsgIDHeader: []string{rep.outcome.MsgID()}},
		}
		for {
			f, err := rp.js.PublishMsgAsync(msg)
			if errors.Is(err, jetstream.ErrTooManyStalledMsgs) {
				continue // the window is full; PublishMsgAsync waited already
			}
			if err != nil {
				rp.failed(rep, err)
				break
			}
			select {
			case rp.acks <- pendingEvent{future: f, rep: rep}:
			case <-rp.stopped:
				rp.failed(rep, errors.New("worker stopped before the event was acknowledged"))
			}
			break
		}
	}
}

// run acks requests as their events are acknowledged, until ctx is done.
func (rp *reporter) run(ctx context.Context) {
	defer close(rp.stopped)
	for {
		select {
		case <-ctx.Done():
			return
		case pe := <-rp.acks:
			select {
			case <-pe.future.Ok():
				rp.settled(pe.rep)
			case err := <-pe.future.Err():
				rp.failed(pe.rep, err)
			case <-ctx.Done():
				return
			}
		}
	}
}

func (rp *reporter) settled(rep report) {
	msg := rp.ledger.forget(rep.r)
	var err error
	if rep.term {
		err = msg.Term()
	} else {
		err = msg.Ack()
	}
	o := rep.outcome
	rp.m.outcomes.WithLabelValues(string(o.Status)).Inc()
	rp.m.requestLatency.Observe(o.FinishedAt.Sub(o.ReceivedAt).Seconds())
	fields := []zap.Field{zap.String("request_id", o.RequestID), zap.String("status", string(o.Status)),
		zap.String("region_id", o.RegionID), zap.String("vserver_group_id", o.VServerGroupID),
		zap.Int("servers", len(o.BackendServers)), zap.Int("attempts", o.Attempts),
		zap.Uint64("stream_sequence", o.StreamSequence), zap.Duration("latency", o.FinishedAt.Sub(o.ReceivedAt))}
	if o.Error != nil {
		fields = append(fields, zap.String("code", o.Error.Code), zap.String("message", o.Error.Message))
	}
	if err != nil {
		// The event is stored; a lost ack means a redelivery whose repeated
		// event the duplicate window absorbs.
		fields = append(fields, zap.NamedError("ack_error", err))
	}
	rp.log.Info("outcome", fields...)
}

// failed leaves a request whose event JetStream did not take for redelivery.
func (rp *reporter) failed(rep report, err error) {
	rp.m.publishFailures.Inc()
	rp.log.Error("outcome event not published; request left for redelivery",
		zap.String("request_id", rep.outcome.RequestID), zap.Uint64("stream_sequence", rep.outcome.StreamSequence),
		zap.String("status", string(rep.outcome.Status)), zap.Error(err))
	msg := rp.ledger.forget(rep.r)
	_ = msg.NakWithDelay(redeliverAfter)
}
