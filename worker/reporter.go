package worker

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/cenkalti/backoff/v4"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"go.uber.org/zap"

	"github.com/slbdrain/slbdrain/messages"
	"github.com/slbdrain/slbdrain/retry"
)

// reporter settles finished requests, each on its own: publish the event
// (Nats-Msg-Id event:<id>), then remember the outcome in the outcomes
// bucket, then ack the request. The order makes a remembered outcome proof
// that its event is stored. Publishes are asynchronous and pipelined; each
// acknowledgement is handled when it comes, so one slow or lost
// acknowledgement holds back no other request. A publish that fails is
// tried again, promptly and with backoff, while the request keeps its
// heartbeat: a stream that loses its leader costs seconds, not a
// redelivery and a second drain.
type reporter struct {
	js          jetstream.JetStream // its own context: its ack handlers are the reporter's
	ledger      *ledger
	log         *zap.Logger
	m           *metrics
	clock       Clock
	policy      retry.Policy // between tries of a failed publish
	settledHook func()       // told of each request settled
	answers     chan answer  // acknowledgements, from the ack-processing goroutine to the settlers
	wg          sync.WaitGroup

	mu       sync.Mutex
	inflight map[*nats.Msg]*settling
	byID     map[string]*messages.Outcome // outcomes decided, not yet remembered in the bucket
	stopped  bool
	stop     context.CancelFunc
}

// settling is one request on its way: which publish it waits for.
type settling struct {
	rep      report
	data     []byte
	stored   bool // the event is acknowledged; now the outcome record
	backoff  backoff.BackOff
	retrying Timer
}

type answer struct {
	msg *nats.Msg
	err error
}

// reportSettlers handle acknowledgements; they never wait on the network.
const reportSettlers = 4

func newReporter(nc *nats.Conn, l *ledger, clock Clock, log *zap.Logger, m *metrics, onSettled func()) (*reporter, error) {
	rp := &reporter{ledger: l, log: log, m: m, clock: clock, settledHook: onSettled,
		policy:   retry.Policy{Initial: 100 * time.Millisecond, Max: time.Second}, // a stream back from an election is written to within a second
		answers:  make(chan answer, 16384),
		inflight: make(map[*nats.Msg]*settling),
		byID:     make(map[string]*messages.Outcome)}
	js, err := jetstream.New(nc,
		jetstream.WithPublishAsyncMaxPending(4096),
		jetstream.WithPublishAsyncTimeout(5*time.Second),
		// Called on the ack-processing goroutine: hand over, never block it.
		jetstream.WithPublishAsyncAckHandler(func(_ jetstream.JetStream, msg *nats.Msg, _ *jetstream.PubAck) {
			rp.answers <- answer{msg: msg}
		}),
		jetstream.WithPublishAsyncErrHandler(func(_ jetstream.JetStream, msg *nats.Msg, err error) {
			rp.answers <- answer{msg: msg, err: err}
		}))
	if err != nil {
		return nil, fmt.Errorf("jetstream context of the reporter: %w", err)
	}
	rp.js = js
	return rp, nil
}

// start runs the settlers until stopAndHandBack.
func (rp *reporter) start() {
	ctx, stop := context.WithCancel(context.Background())
	rp.mu.Lock()
	rp.stop, rp.stopped = stop, false
	rp.mu.Unlock()
	for range reportSettlers {
		rp.wg.Go(func() {
			for {
				select {
				case <-ctx.Done():
					return
				case a := <-rp.answers:
					rp.answered(a)
				}
			}
		})
	}
}

// publish starts settling finished requests. It blocks only while
// JetStream's window of unacknowledged publishes is full: back-pressure.
func (rp *reporter) publish(reps []report) {
	for _, rep := range reps {
		data, err := rep.outcome.MarshalJSON()
		if err != nil { // an Outcome always encodes: a bug; the request stays for redelivery
			rp.handBack(rep, fmt.Errorf("encode outcome of %s: %w", rep.outcome.RequestID, err))
			continue
		}
		rp.mu.Lock()
		rp.byID[rep.outcome.RequestID] = rep.outcome
		rp.mu.Unlock()
		rp.send(&settling{rep: rep, data: data})
	}
}

// send publishes the settling request's next message: its event, or, once
// that is stored, its outcome record.
func (rp *reporter) send(st *settling) {
	o := st.rep.outcome
	msg := &nats.Msg{Subject: o.Subject(), Data: st.data, Header: nats.Header{messages.MsgIDHeader: []string{o.MsgID()}}}
	if o.TraceID != "" {
		// The event continues the request's trace, as a span of its own.
		msg.Header.Set(messages.TraceParentHeader, "00-"+o.TraceID+"-"+newSpanID()+"-01")
	}
	if st.stored {
		msg = &nats.Msg{Subject: outcomeSubject(o.RequestID), Data: st.data}
	}
	rp.mu.Lock()
	if rp.stopped {
		rp.mu.Unlock()
		rp.handBack(st.rep, errors.New("worker stopping"))
		return
	}
	rp.inflight[msg] = st
	rp.mu.Unlock()
	for {
		_, err := rp.js.PublishMsgAsync(msg)
		if errors.Is(err, jetstream.ErrTooManyStalledMsgs) {
			continue // the window is full; PublishMsgAsync waited already
		}
		if err != nil {
			rp.answers <- answer{msg: msg, err: err}
		}
		return
	}
}

// decided is the outcome of a request this worker has decided and not yet
// remembered in the outcomes bucket: a restore that names it finds its
// weights in the moment between its event and its record.
func (rp *reporter) decided(requestID string) *messages.Outcome {
	rp.mu.Lock()
	defer rp.mu.Unlock()
	return rp.byID[requestID]
}

func (rp *reporter) forgetDecided(requestID string) {
	rp.mu.Lock()
	delete(rp.byID, requestID)
	rp.mu.Unlock()
}

// outcomeSubject is the key-value put subject of a request's outcome record.
func outcomeSubject(requestID string) string {
	return "$KV." + messages.OutcomeBucket + "." + messages.OutcomeKey(requestID)
}

// answered moves a request on when one of its publishes is acknowledged or fails.
func (rp *reporter) answered(a answer) {
	rp.mu.Lock()
	st := rp.inflight[a.msg]
	delete(rp.inflight, a.msg)
	stopped := rp.stopped
	rp.mu.Unlock()
	if st == nil {
		return // handed back at shutdown already
	}
	if a.err != nil {
		if stopped {
			rp.handBack(st.rep, a.err)
			return
		}
		rp.retryLater(st, a.err)
		return
	}
	st.backoff = nil
	if !st.stored && messages.ValidRequestID(st.rep.outcome.RequestID) { // a rejected request's id may be unreadable
		st.stored = true
		rp.send(st)
		return
	}
	rp.settled(st.rep)
}

// retryLater publishes again after a backoff; the request keeps its heartbeat.
func (rp *reporter) retryLater(st *settling, err error) {
	rp.m.publishFailures.Inc()
	if st.backoff == nil {
		st.backoff = rp.policy.NewBackOff(time.Time{}, nil)
	}
	wait := st.backoff.NextBackOff()
	what := "publish event"
	if st.stored {
		what = "remember outcome"
	}
	rp.log.Warn(what+" failed; trying again, the request keeps its heartbeat",
		zap.String("request_id", st.rep.outcome.RequestID), zap.Uint64("stream_sequence", st.rep.outcome.StreamSequence),
		zap.Duration("retry_in", wait), zap.Error(err))
	key := &nats.Msg{} // a placeholder in inflight, so shutdown finds the request while it waits
	rp.mu.Lock()
	if rp.stopped {
		rp.mu.Unlock()
		rp.handBack(st.rep, err)
		return
	}
	rp.inflight[key] = st
	st.retrying = rp.clock.AfterFunc(wait, func() {
		rp.mu.Lock()
		_, waiting := rp.inflight[key]
		delete(rp.inflight, key)
		rp.mu.Unlock()
		if waiting {
			rp.send(st)
		}
	})
	rp.mu.Unlock()
}

// stopAndHandBack ends the settlers and hands back to JetStream every request
// whose outcome is not settled: its redelivery finds the outcome remembered,
// or repeats the (idempotent) work.
func (rp *reporter) stopAndHandBack() int {
	rp.mu.Lock()
	if rp.stop == nil || rp.stopped {
		rp.mu.Unlock()
		return 0
	}
	rp.stopped = true
	left := rp.inflight
	rp.inflight = make(map[*nats.Msg]*settling)
	clear(rp.byID)
	rp.mu.Unlock()
	rp.stop()
	rp.wg.Wait()
	for _, st := range left {
		if st.retrying != nil {
			st.retrying.Stop()
		}
		_ = rp.ledger.forget(st.rep.r).Nak()
	}
	return len(left)
}

func (rp *reporter) settled(rep report) {
	rp.forgetDecided(rep.outcome.RequestID)
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
	if o.TraceID != "" {
		fields = append(fields, zap.String("trace_id", o.TraceID))
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
	rp.forgetDecided(rep.outcome.RequestID)
	_ = rp.ledger.forget(rep.r).Nak()
}

// newSpanID is a random W3C span id: 16 hex digits, not all zero.
func newSpanID() string {
	var b [8]byte
	for b == ([8]byte{}) {
		_, _ = rand.Read(b[:])
	}
	return hex.EncodeToString(b[:])
}
