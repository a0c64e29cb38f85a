package worker

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"go.uber.org/zap"

	"github.com/slbdrain/slbdrain/messages"
	"github.com/slbdrain/slbdrain/retry"
)

// reporter settles finished requests, each on its own: publish the event
// (Nats-Msg-Id event:<id>), then remember the outcome in the outcomes
// bucket, then ack the request. The order makes a remembered outcome proof
// that its event is stored. A publish that fails is tried again, promptly
// and with backoff, while the request keeps its heartbeat: a stream that
// loses its leader costs seconds, not a redelivery and a second drain. A
// pool of senders works the queue, so one slow acknowledgement holds back
// no other request.
type reporter struct {
	js          jetstream.JetStream
	ledger      *ledger
	log         *zap.Logger
	m           *metrics
	policy      retry.Policy  // between tries of a failed publish
	timeout     time.Duration // one try's wait for its acknowledgement
	queue       chan report
	settledHook func() // told of each request settled

	outcomes jetstream.KeyValue // set by start
	stop     context.CancelFunc
	senders  sync.WaitGroup
}

// reportSenders is how many requests are settled at once.
const reportSenders = 64

func newReporter(js jetstream.JetStream, l *ledger, log *zap.Logger, m *metrics, onSettled func()) *reporter {
	return &reporter{js: js, ledger: l, log: log, m: m, settledHook: onSettled,
		policy:  retry.Policy{Initial: 100 * time.Millisecond, Max: 2 * time.Second},
		timeout: 5 * time.Second,
		queue:   make(chan report, 8192)}
}

// publish queues finished requests for settling. It blocks only while the
// queue is full: back-pressure.
func (rp *reporter) publish(reps []report) {
	for _, rep := range reps {
		rp.queue <- rep
	}
}

// start runs the senders until stopAndHandBack.
func (rp *reporter) start(outcomes jetstream.KeyValue) {
	ctx, stop := context.WithCancel(context.Background())
	rp.outcomes, rp.stop = outcomes, stop
	for range reportSenders {
		rp.senders.Go(func() {
			for {
				select {
				case <-ctx.Done():
					return
				case rep := <-rp.queue:
					rp.settle(ctx, rep)
				}
			}
		})
	}
}

// stopAndHandBack ends the senders and hands back to JetStream every request
// whose event is not acknowledged: its redelivery repeats the (idempotent)
// work, or finds the outcome remembered.
func (rp *reporter) stopAndHandBack() int {
	if rp.stop == nil {
		return 0
	}
	rp.stop()
	rp.senders.Wait()
	n := 0
	for {
		select {
		case rep := <-rp.queue:
			_ = rp.ledger.forget(rep.r).Nak()
			n++
		default:
			return n
		}
	}
}

// settle publishes, remembers and acks one request, trying again until
// ctx ends, when the request is handed back.
func (rp *reporter) settle(ctx context.Context, rep report) {
	o := rep.outcome
	data, err := o.MarshalJSON()
	if err != nil { // an Outcome always encodes: a bug, and the request stays for redelivery
		rp.handBack(rep, fmt.Errorf("encode outcome of %s: %w", o.RequestID, err))
		return
	}
	event := &nats.Msg{Subject: o.Subject(), Data: data, Header: nats.Header{messages.MsgIDHeader: []string{o.MsgID()}}}
	if err := rp.try(ctx, rep, "publish event", func(ctx context.Context) error {
		_, err := rp.js.PublishMsg(ctx, event)
		return err
	}); err != nil {
		rp.handBack(rep, err)
		return
	}
	if messages.ValidRequestID(o.RequestID) { // a rejected request's id may be unreadable
		if err := rp.try(ctx, rep, "remember outcome", func(ctx context.Context) error {
			_, err := rp.outcomes.Put(ctx, messages.OutcomeKey(o.RequestID), data)
			return err
		}); err != nil {
			rp.handBack(rep, err)
			return
		}
	}
	rp.settled(rep)
}

// try runs op until it succeeds or ctx ends, each try bounded by the timeout.
func (rp *reporter) try(ctx context.Context, rep report, what string, op func(context.Context) error) error {
	b := rp.policy.NewBackOff(time.Time{}, nil)
	for {
		tryCtx, cancel := context.WithTimeout(ctx, rp.timeout)
		err := op(tryCtx)
		cancel()
		if err == nil {
			return nil
		}
		if ctx.Err() != nil {
			return fmt.Errorf("%s of %s: %w", what, rep.outcome.RequestID, errors.Join(err, ctx.Err()))
		}
		rp.m.publishFailures.Inc()
		wait := b.NextBackOff()
		rp.log.Warn(what+" failed; trying again, the request keeps its heartbeat",
			zap.String("request_id", rep.outcome.RequestID), zap.Uint64("stream_sequence", rep.outcome.StreamSequence),
			zap.Duration("retry_in", wait), zap.Error(err))
		t := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			t.Stop()
			return fmt.Errorf("%s of %s: %w", what, rep.outcome.RequestID, errors.Join(err, ctx.Err()))
		case <-t.C:
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
	rp.settledHook()
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
		// The event and the outcome are stored; a lost ack means a
		// redelivery that the outcomes bucket answers.
		fields = append(fields, zap.NamedError("ack_error", err))
	}
	rp.log.Info("outcome", fields...)
}

// handBack leaves a request whose outcome could not be settled for redelivery.
func (rp *reporter) handBack(rep report, err error) {
	rp.log.Warn("outcome not settled; request handed back for redelivery",
		zap.String("request_id", rep.outcome.RequestID), zap.Uint64("stream_sequence", rep.outcome.StreamSequence),
		zap.String("status", string(rep.outcome.Status)), zap.Error(err))
	_ = rp.ledger.forget(rep.r).Nak()
}
