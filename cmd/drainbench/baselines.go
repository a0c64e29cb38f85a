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
// consumer (worker.ConsumerConfig, under their own name), its pull settings
// (expiry, heartbeat, priority group, PullMaxMessages), its contract (decode with
// messages.Decode, one event per request with Nats-Msg-Id, ack only once the
// event is stored) and its publisher settings, so that what differs is only
// what each does between decode and event.
//
//   - raw makes no API call: consume, publish the event, ack. It is the
//     broker's limit, the best any pipeline can do on this machine.
//   - naive makes one API call per request (⌈servers/20⌉ calls), no
//     coalescing across requests: what a function-per-message hook does. It
//     has slbdrain's concurrency (each goroutine with its own SDK client, the
//     same adapter), its retry policy (retry.Policy.Do, retry.Classify) and a
//     fixed rate limiter at slbdrain's qps ceiling. An instance-scope
//     request (version 2, no group) it resolves as a hook would, with no
//     cache: for each instance DescribeLoadBalancers by ServerId,
//     DescribeVServerGroups of each load balancer, DescribeVServerGroupAttribute
//     of each group, then one remove call per (group, instance) that holds
//     it; every call, read or write, on the same limiter.
//
// They are kept minimal, not second workers: a request is acked from
// JetStream's own publish-ack callback (no ack loop), and a baseline's
// AckWait outlasts the trial (baselineConfig), so nothing it holds is
// redelivered and it needs no InProgress heartbeat.

// baselineConfig is cfg for a baseline whose trial lasts at most hold.
func baselineConfig(cfg worker.Config, hold time.Duration) worker.Config {
	cfg.AckWait = max(cfg.AckWait, hold)
	return cfg
}

func startRaw(ctx context.Context, natsURL string, cfg worker.Config) (*running, error) {
	b, err := newBaseline(ctx, natsURL, "drainbench-raw", cfg)
	if err != nil {
		return nil, err
	}
	return b.consume(func(msg jetstream.Msg) {
		if meta, req, ok := b.receive(msg); ok {
			b.report(msg, outcomeOf(req, meta, messages.StatusCompleted, nil), false)
		}
	})
}

func startNaive(ctx context.Context, natsURL, slbURL string, cfg worker.Config) (*running, error) {
	factory, err := removerFactory(slbURL)
	if err != nil {
		return nil, fmt.Errorf("naive: %w", err)
	}
	b, err := newBaseline(ctx, natsURL, "drainbench-naive", cfg)
	if err != nil {
		return nil, err
	}
	n := &naive{b: b, cfg: cfg, limiter: rate.NewLimiter(rate.Limit(cfg.SLBQPS), 1)}
	work := make(chan jetstream.Msg, cfg.MaxAckPending)
	for range cfg.Concurrency {
		api, err := factory()
		if err != nil {
			return nil, errors.Join(fmt.Errorf("naive: %w", err), b.close())
		}
		b.wg.Go(func() {
			for {
				select {
				case <-b.ctx.Done():
					return
				case msg := <-work:
					n.drain(b.ctx, api, msg)
				}
			}
		})
	}
	return b.consume(func(msg jetstream.Msg) {
		select {
		case work <- msg:
		case <-b.ctx.Done():
		}
	})
}

type naive struct {
	b       *baseline
	cfg     worker.Config
	limiter *rate.Limiter
}

// drain takes one request's servers out, ⌈n/20⌉ calls, each retried on its own.
func (n *naive) drain(ctx context.Context, api worker.Remover, msg jetstream.Msg) {
	meta, req, ok := n.b.receive(msg)
	if !ok {
		return
	}
	deadline := meta.Timestamp.Add(n.cfg.MaxRetry)
	if req.Deadline != nil {
		deadline = *req.Deadline
	}
	if req.InstanceScope() {
		n.drainInstances(ctx, api, msg, meta, req, deadline)
		return
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
			res, err := api.RemoveBackendServers(req.RegionID, req.VServerGroupID, chunk)
			id := res.RequestID // a hook trusts a success: it does not check what remains
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
	n.b.report(msg, o, false)
}

// drainInstances takes an instance-scope request's servers out of every
// group that holds them, as a hook that knows no better does: per
// instance, the load balancers that hold it, each one's groups, each
// group's members (no cache), then one remove call per (group, instance)
// naming the instance's ports there (or the one named). Each call is
// limited and retried on its own; the first that fails for good fails the
// request, and the event's groups say what was removed until then.
func (n *naive) drainInstances(ctx context.Context, api worker.Remover, msg jetstream.Msg, meta *jetstream.MsgMetadata,
	req messages.DrainRequest, deadline time.Time) {
	var (
		apiIDs   []string
		attempts int
		groups   = []messages.Group{}
	)
	call := func(f func() ([]string, error)) error {
		return n.cfg.Retry.Do(ctx, deadline, func() error {
			if err := n.limiter.Wait(ctx); err != nil {
				return retry.WithClass(err, retry.Permanent)
			}
			attempts++
			ids, err := f()
			if err != nil {
				ids = []string{retry.RequestID(err)}
			}
			for _, id := range ids {
				if id != "" {
					apiIDs = append(apiIDs, id)
				}
			}
			return err
		}, nil)
	}
	region := req.RegionID
	err := func() error {
		for _, s := range req.BackendServers {
			var lbs worker.IDList
			if err := call(func() ([]string, error) {
				var err error
				lbs, err = api.LoadBalancersOf(region, s.ServerID)
				return lbs.RequestIDs, err
			}); err != nil {
				return err
			}
			for _, lb := range lbs.IDs {
				var ids worker.IDList
				if err := call(func() ([]string, error) {
					var err error
					ids, err = api.GroupsOf(region, lb)
					return ids.RequestIDs, err
				}); err != nil {
					return err
				}
				for _, g := range ids.IDs {
					var info worker.GroupInfo
					if err := call(func() ([]string, error) {
						var err error
						info, err = api.DescribeGroup(region, g)
						return []string{info.RequestID}, err
					}); err != nil {
						return err
					}
					var mine, had []messages.BackendServer // had: with the weights, for the event
					for _, m := range info.Servers {
						if m.ServerID == s.ServerID && (s.Port == 0 || m.Port == s.Port) {
							mine = append(mine, m.BackendServer)
							b := m.BackendServer
							b.Weight = messages.WeightOf(m.Weight)
							had = append(had, b)
						}
					}
					if len(mine) == 0 {
						continue
					}
					if err := call(func() ([]string, error) {
						res, err := api.RemoveBackendServers(region, g, mine) // trusted: a hook does not check what remains
						return []string{res.RequestID}, err
					}); err != nil {
						return err
					}
					groups = append(groups, messages.Group{LoadBalancerID: lb, VServerGroupID: g, BackendServers: had, RemovedAt: time.Now()})
				}
			}
		}
		return nil
	}()
	if ctx.Err() != nil {
		return // stopping: left unacked, JetStream redelivers it
	}
	status, failure := messages.StatusCompleted, (*messages.Error)(nil)
	if err != nil {
		code := retry.Code(err)
		if errors.Is(err, retry.ErrDeadline) {
			code = messages.CodeDeadlineExceeded
		}
		status, failure = messages.StatusFailed, &messages.Error{Code: code, Message: retry.Message(err)}
	}
	o := outcomeOf(req, meta, status, failure)
	o.APIRequestIDs, o.Attempts, o.Groups = apiIDs, attempts, groups
	n.b.report(msg, o, false)
}

// baseline is what raw and naive share: the consumer, decoding, and a
// reporter that acks each request once its event is stored.
type baseline struct {
	cfg  worker.Config
	nc   *nats.Conn
	js   jetstream.JetStream
	cons jetstream.Consumer
	cc   jetstream.ConsumeContext
	// answers maps each event in flight to the delivery it answers.
	answers sync.Map // *nats.Msg → delivery
	ctx     context.Context
	cancel  context.CancelFunc
	wg      sync.WaitGroup // the baseline's own goroutines
}

// delivery is a request waiting for its event to be stored.
type delivery struct {
	msg  jetstream.Msg
	term bool // rejected: terminate it, never redeliver
}

func newBaseline(ctx context.Context, natsURL, name string, cfg worker.Config) (*baseline, error) {
	b := &baseline{cfg: cfg}
	nc, err := nats.Connect(natsURL, nats.Name(name))
	if err != nil {
		return nil, fmt.Errorf("%s: connect to %s: %w", name, natsURL, err)
	}
	js, err := jetstream.New(nc,
		jetstream.WithPublishAsyncMaxPending(4096),
		jetstream.WithPublishAsyncTimeout(10*time.Second),
		jetstream.WithPublishAsyncAckHandler(b.stored),
		jetstream.WithPublishAsyncErrHandler(b.lost))
	if err != nil {
		nc.Close()
		return nil, fmt.Errorf("%s: jetstream: %w", name, err)
	}
	cc := worker.ConsumerConfig(cfg) // the worker's own consumer, under the baseline's name
	cc.Durable, cc.Description = name, name
	cons, err := js.CreateOrUpdateConsumer(ctx, messages.RequestStream, cc)
	if err != nil {
		nc.Close()
		return nil, fmt.Errorf("%s: create consumer: %w", name, err)
	}
	b.nc, b.js, b.cons = nc, js, cons
	b.ctx, b.cancel = context.WithCancel(context.WithoutCancel(ctx))
	return b, nil
}

// consume starts delivering requests to handler; on failure the baseline
// is closed.
func (b *baseline) consume(handler jetstream.MessageHandler) (*running, error) {
	opts := []jetstream.PullConsumeOpt{
		jetstream.PullExpiry(b.cfg.PullExpiry),
		jetstream.PullHeartbeat(b.cfg.PullHeartbeat),
		jetstream.PullMaxMessages(min(b.cfg.MaxAckPending, 1000)),
	}
	if b.cfg.PriorityGroup != "" {
		opts = append(opts, jetstream.PullPriorityGroup(b.cfg.PriorityGroup))
	}
	cc, err := b.cons.Consume(handler, opts...)
	if err != nil {
		return nil, errors.Join(fmt.Errorf("consume %s: %w", messages.RequestStream, err), b.close())
	}
	b.cc = cc
	return &running{stop: b.close, ready: func() error { return nil }}, nil
}

// receive decodes a delivery. An invalid request is reported as rejected at
// once, and receive returns false.
func (b *baseline) receive(msg jetstream.Msg) (*jetstream.MsgMetadata, messages.DrainRequest, bool) {
	meta, err := msg.Metadata()
	if err != nil {
		return nil, messages.DrainRequest{}, false // not a JetStream delivery
	}
	req, err := messages.Decode(msg.Subject(), msg.Data())
	if err != nil {
		region, group, _ := messages.ParseRequestSubject(msg.Subject())
		req.RegionID, req.VServerGroupID = region, group
		if req.BackendServers == nil {
			req.BackendServers = []messages.BackendServer{}
		}
		b.report(msg, outcomeOf(req, meta, messages.StatusRejected,
			&messages.Error{Code: messages.CodeInvalidRequest, Message: err.Error()}), true)
		return nil, req, false
	}
	return meta, req, true
}

// outcomeOf is the event of req, of its version (version 1 for a request
// too broken to say).
func outcomeOf(req messages.DrainRequest, meta *jetstream.MsgMetadata, status messages.Status, e *messages.Error) *messages.Outcome {
	o := &messages.Outcome{
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
	if req.Version == messages.Version2 {
		o.Version, o.Action, o.Mode, o.DryRun = messages.Version2, req.ActionOrDefault(), req.ModeOrDefault(), req.DryRun
	}
	return o
}

// report publishes the request's event asynchronously; stored acks the
// request once JetStream has it.
func (b *baseline) report(msg jetstream.Msg, o *messages.Outcome, term bool) {
	data, err := json.Marshal(o)
	if err != nil {
		_ = msg.Nak()
		return
	}
	ev := &nats.Msg{Subject: o.Subject(), Data: data, Header: nats.Header{messages.MsgIDHeader: []string{o.MsgID()}}}
	b.answers.Store(ev, delivery{msg: msg, term: term}) // before publishing: the ack may come back first
	if _, err := publishAsync(b.ctx, b.js, ev); err != nil {
		b.answers.Delete(ev)
		_ = msg.NakWithDelay(time.Second)
	}
}

// stored is JetStream's callback for an event it stored: the request it
// answers is done. It runs on the client's ack goroutine, so it only
// publishes the ack, which does not block.
func (b *baseline) stored(_ jetstream.JetStream, ev *nats.Msg, _ *jetstream.PubAck) {
	if v, ok := b.answers.LoadAndDelete(ev); ok {
		d := v.(delivery)
		if d.term {
			_ = d.msg.Term()
		} else {
			_ = d.msg.Ack()
		}
	}
}

// lost is JetStream's callback for an event that was not stored (an error
// or no answer in time): the request is handed back for another try.
func (b *baseline) lost(_ jetstream.JetStream, ev *nats.Msg, _ error) {
	if v, ok := b.answers.LoadAndDelete(ev); ok {
		_ = v.(delivery).msg.NakWithDelay(time.Second)
	}
}

// close stops consuming and the goroutines; what is still held is left to
// JetStream's redelivery.
func (b *baseline) close() error {
	if b.cc != nil {
		b.cc.Stop()
	}
	b.cancel()
	b.wg.Wait()
	err := b.nc.FlushTimeout(5 * time.Second)
	b.nc.Close()
	if err != nil {
		return fmt.Errorf("flush acks: %w", err)
	}
	return nil
}
