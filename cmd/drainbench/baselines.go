package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"sync"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"golang.org/x/time/rate"

	"github.com/slbdrain/slbdrain/messages"
	"github.com/slbdrain/slbdrain/retry"
	"github.com/slbdrain/slbdrain/worker"
)

// The two baselines slbdrain is measured against. Both use the worker's
// consumer settings (durable pull consumer, AckWait, MaxAckPending, pull
// expiry, heartbeat, priority group, PullMaxMessages), its contract (decode
// with messages.Decode, one event per request with Nats-Msg-Id, ack only
// after the event's publish is acknowledged) and its publisher settings, so
// that what differs is only what each does between decode and event.
//
//   - raw makes no API call: consume, publish the event, ack. It is the
//     broker's limit, the best any pipeline can do on this machine.
//   - naive makes one API call per request (⌈servers/20⌉ calls), no
//     coalescing across requests: what a function-per-message hook does. It
//     has slbdrain's concurrency (each goroutine with its own SDK client, the
//     same adapter), its retry policy (retry.Policy.Do, retry.Classify) and a
//     fixed rate limiter at slbdrain's qps ceiling.

type rawSystem struct {
	cfg      worker.Config
	inChild  bool
	profiles childProfiles // of the child, if profiling
}

func (s rawSystem) name() string { return sysRaw }

func (s rawSystem) start(ctx context.Context, natsURL, slbURL string) (*running, error) {
	if s.inChild {
		return startChild(ctx, childSpec{System: sysRaw, NatsURL: natsURL, SLBURL: slbURL, Config: s.cfg, Profiles: s.profiles})
	}
	return startRaw(ctx, natsURL, s.cfg)
}

func startRaw(ctx context.Context, natsURL string, cfg worker.Config) (*running, error) {
	p, err := newPipeline(ctx, natsURL, "drainbench-raw", cfg)
	if err != nil {
		return nil, err
	}
	handler := func(msg jetstream.Msg) {
		meta, req, ok := p.receive(msg)
		if !ok {
			return
		}
		p.report(msg, outcomeOf(req, meta, messages.StatusCompleted, nil), false)
	}
	if err := p.consume(handler); err != nil {
		return nil, errors.Join(err, p.close())
	}
	return &running{stop: p.close, ready: func() error { return nil }}, nil
}

type naiveSystem struct{ cfg worker.Config }

func (s naiveSystem) name() string { return sysNaive }

func (s naiveSystem) start(ctx context.Context, natsURL, slbURL string) (*running, error) {
	factory, err := removerFactory(slbURL)
	if err != nil {
		return nil, fmt.Errorf("naive: %w", err)
	}
	p, err := newPipeline(ctx, natsURL, "drainbench-naive", s.cfg)
	if err != nil {
		return nil, err
	}
	n := &naive{p: p, cfg: s.cfg, limiter: rate.NewLimiter(rate.Limit(s.cfg.SLBQPS), 1),
		work: make(chan jetstream.Msg, s.cfg.MaxAckPending)}
	for range s.cfg.Concurrency {
		api, err := factory()
		if err != nil {
			return nil, errors.Join(fmt.Errorf("naive: %w", err), p.close())
		}
		p.wg.Go(func() { n.serve(api) })
	}
	handler := func(msg jetstream.Msg) {
		select {
		case n.work <- msg:
		case <-p.ctx.Done():
		}
	}
	if err := p.consume(handler); err != nil {
		return nil, errors.Join(err, p.close())
	}
	return &running{stop: p.close, ready: func() error { return nil }}, nil
}

type naive struct {
	p       *pipeline
	cfg     worker.Config
	limiter *rate.Limiter
	work    chan jetstream.Msg
}

func (n *naive) serve(api worker.Remover) {
	ctx := n.p.ctx
	for {
		select {
		case <-ctx.Done():
			return
		case msg := <-n.work:
			n.drain(ctx, api, msg)
		}
	}
}

// drain takes one request's servers out, ⌈n/20⌉ calls, each retried on its own.
func (n *naive) drain(ctx context.Context, api worker.Remover, msg jetstream.Msg) {
	meta, req, ok := n.p.receive(msg)
	if !ok {
		return
	}
	deadline := meta.Timestamp.Add(n.cfg.MaxRetry)
	if req.Deadline != nil {
		deadline = *req.Deadline
	}
	var (
		apiIDs   []string
		attempts int
		removed  int
		failure  *messages.Error
	)
	for chunk := range slices.Chunk(req.BackendServers, n.cfg.MaxBatch) {
		err := n.cfg.Retry.Do(ctx, deadline, func() error {
			if err := n.limiter.Wait(ctx); err != nil {
				return retry.WithClass(err, retry.Permanent)
			}
			attempts++
			id, err := api.RemoveBackendServers(req.RegionID, req.VServerGroupID, chunk)
			if err != nil {
				id = retry.RequestID(err)
			}
			if id != "" {
				apiIDs = append(apiIDs, id)
			}
			return err
		}, nil)
		if ctx.Err() != nil {
			return // stopping: left unacked, JetStream redelivers it
		}
		if err != nil {
			code := retry.Code(err)
			if errors.Is(err, retry.ErrDeadline) {
				code = messages.CodeDeadlineExceeded
			}
			failure = &messages.Error{Code: code, Message: retry.Message(err)}
			break
		}
		removed += len(chunk)
	}
	status := messages.StatusCompleted
	if failure != nil {
		status = messages.StatusFailed
	}
	o := outcomeOf(req, meta, status, failure)
	o.APIRequestIDs, o.Attempts = apiIDs, attempts
	if failure != nil {
		o.Removed, o.NotRemoved = req.BackendServers[:removed], req.BackendServers[removed:]
	}
	n.p.report(msg, o, false)
}

// pipeline is what the baselines share with each other and, in substance,
// with the worker: the consumer, the held set with its InProgress heartbeat,
// and a reporter that acks each request once its event is acknowledged.
type pipeline struct {
	cfg    worker.Config
	nc     *nats.Conn
	js     jetstream.JetStream
	cons   jetstream.Consumer
	cc     jetstream.ConsumeContext
	acks   chan pendingAck
	held   heldSet
	ctx    context.Context
	cancel context.CancelFunc
	wg     sync.WaitGroup // the baseline's goroutines
	bg     sync.WaitGroup // acker and heartbeat, stopped last
	bgStop context.CancelFunc
}

type pendingAck struct {
	future jetstream.PubAckFuture
	msg    jetstream.Msg
	term   bool
}

func newPipeline(ctx context.Context, natsURL, name string, cfg worker.Config) (*pipeline, error) {
	nc, err := nats.Connect(natsURL, nats.Name(name))
	if err != nil {
		return nil, fmt.Errorf("%s: connect to %s: %w", name, natsURL, err)
	}
	js, err := jetstream.New(nc,
		jetstream.WithPublishAsyncMaxPending(4096),
		jetstream.WithPublishAsyncTimeout(10*time.Second))
	if err != nil {
		nc.Close()
		return nil, fmt.Errorf("%s: jetstream: %w", name, err)
	}
	cons, err := js.CreateOrUpdateConsumer(ctx, messages.RequestStream, consumerConfig(cfg, name))
	if err != nil {
		nc.Close()
		return nil, fmt.Errorf("%s: create consumer: %w", name, err)
	}
	p := &pipeline{cfg: cfg, nc: nc, js: js, cons: cons, acks: make(chan pendingAck, 8192),
		held: heldSet{m: make(map[jetstream.Msg]time.Time)}}
	p.ctx, p.cancel = context.WithCancel(context.WithoutCancel(ctx))
	bgCtx, bgStop := context.WithCancel(context.WithoutCancel(ctx))
	p.bgStop = bgStop
	p.bg.Go(func() { p.ackLoop(bgCtx) })
	p.bg.Go(func() { p.heartbeat(bgCtx) })
	return p, nil
}

// consumerConfig mirrors the worker's durable pull consumer.
func consumerConfig(cfg worker.Config, durable string) jetstream.ConsumerConfig {
	cc := jetstream.ConsumerConfig{
		Durable:       durable,
		FilterSubject: cfg.FilterSubject,
		AckPolicy:     jetstream.AckExplicitPolicy,
		AckWait:       cfg.AckWait,
		MaxAckPending: cfg.MaxAckPending,
		MaxDeliver:    -1,
		DeliverPolicy: jetstream.DeliverAllPolicy,
	}
	if cfg.PriorityGroup != "" {
		cc.PriorityGroups = []string{cfg.PriorityGroup}
		cc.PriorityPolicy = jetstream.PriorityPolicyPinned
		cc.PinnedTTL = cfg.PinnedTTL
	}
	return cc
}

func (p *pipeline) consume(handler jetstream.MessageHandler) error {
	opts := []jetstream.PullConsumeOpt{
		jetstream.PullExpiry(p.cfg.PullExpiry),
		jetstream.PullHeartbeat(p.cfg.PullHeartbeat),
		jetstream.PullMaxMessages(min(p.cfg.MaxAckPending, 1000)),
	}
	if p.cfg.PriorityGroup != "" {
		opts = append(opts, jetstream.PullPriorityGroup(p.cfg.PriorityGroup))
	}
	cc, err := p.cons.Consume(handler, opts...)
	if err != nil {
		return fmt.Errorf("consume %s: %w", messages.RequestStream, err)
	}
	p.cc = cc
	return nil
}

// receive holds a delivery and decodes it. An invalid request is reported
// as rejected at once, and receive returns false.
func (p *pipeline) receive(msg jetstream.Msg) (*jetstream.MsgMetadata, messages.DrainRequest, bool) {
	meta, err := msg.Metadata()
	if err != nil {
		return nil, messages.DrainRequest{}, false // not a JetStream delivery
	}
	p.held.add(msg)
	req, err := messages.Decode(msg.Subject(), msg.Data())
	if err != nil {
		region, group, _ := messages.ParseRequestSubject(msg.Subject())
		req.RegionID, req.VServerGroupID = region, group
		if req.BackendServers == nil {
			req.BackendServers = []messages.BackendServer{}
		}
		p.report(msg, outcomeOf(req, meta, messages.StatusRejected,
			&messages.Error{Code: messages.CodeInvalidRequest, Message: err.Error()}), true)
		return nil, req, false
	}
	return meta, req, true
}

func outcomeOf(req messages.DrainRequest, meta *jetstream.MsgMetadata, status messages.Status, e *messages.Error) *messages.Outcome {
	return &messages.Outcome{
		Version:        messages.Version,
		RequestID:      req.RequestID,
		Status:         status,
		RegionID:       req.RegionID,
		VServerGroupID: req.VServerGroupID,
		BackendServers: req.BackendServers,
		APIRequestIDs:  []string{},
		ReceivedAt:     meta.Timestamp,
		FinishedAt:     time.Now(),
		Error:          e,
		Source:         req.Source,
		Reason:         req.Reason,
		StreamSequence: meta.Sequence.Stream,
	}
}

// report publishes the event asynchronously; ackLoop acks once it is stored.
func (p *pipeline) report(msg jetstream.Msg, o *messages.Outcome, term bool) {
	data, err := json.Marshal(o)
	if err != nil {
		p.held.remove(msg)
		_ = msg.Nak()
		return
	}
	ev := &nats.Msg{Subject: o.Subject(), Data: data, Header: nats.Header{messages.MsgIDHeader: []string{o.MsgID()}}}
	for {
		f, err := p.js.PublishMsgAsync(ev)
		if errors.Is(err, jetstream.ErrTooManyStalledMsgs) {
			continue // the window is full and PublishMsgAsync already waited
		}
		if err != nil {
			p.held.remove(msg)
			_ = msg.NakWithDelay(time.Second)
			return
		}
		select {
		case p.acks <- pendingAck{future: f, msg: msg, term: term}:
		case <-p.ctx.Done():
		}
		return
	}
}

func (p *pipeline) ackLoop(ctx context.Context) {
	for {
		select {
		case <-ctx.Done():
			return
		case pa := <-p.acks:
			select {
			case <-pa.future.Ok():
				if pa.term {
					_ = pa.msg.Term()
				} else {
					_ = pa.msg.Ack()
				}
			case <-pa.future.Err():
				_ = pa.msg.NakWithDelay(time.Second)
			case <-ctx.Done():
				return
			}
			p.held.remove(pa.msg)
		}
	}
}

// heartbeat tells JetStream the held messages are in progress, well inside
// AckWait, as the worker does, so a slow baseline is not redelivered.
func (p *pipeline) heartbeat(ctx context.Context) {
	every := p.cfg.AckWait / 3
	t := time.NewTicker(every / 2)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			for _, msg := range p.held.due(time.Now().Add(-every)) {
				_ = msg.InProgress()
			}
		}
	}
}

// close stops consuming and the goroutines; what is still held is left to
// JetStream's redelivery.
func (p *pipeline) close() error {
	if p.cc != nil {
		p.cc.Stop()
	}
	p.cancel()
	p.wg.Wait()
	p.bgStop()
	p.bg.Wait()
	err := p.nc.FlushTimeout(5 * time.Second)
	p.nc.Close()
	if err != nil {
		return fmt.Errorf("flush acks: %w", err)
	}
	return nil
}

type heldSet struct {
	mu sync.Mutex
	m  map[jetstream.Msg]time.Time // delivery → last InProgress (or arrival)
}

func (h *heldSet) add(msg jetstream.Msg) {
	h.mu.Lock()
	h.m[msg] = time.Now()
	h.mu.Unlock()
}

func (h *heldSet) remove(msg jetstream.Msg) {
	h.mu.Lock()
	delete(h.m, msg)
	h.mu.Unlock()
}

func (h *heldSet) due(cutoff time.Time) []jetstream.Msg {
	h.mu.Lock()
	defer h.mu.Unlock()
	var out []jetstream.Msg
	now := time.Now()
	for msg, beat := range h.m {
		if beat.Before(cutoff) {
			h.m[msg] = now
			out = append(out, msg)
		}
	}
	return out
}
