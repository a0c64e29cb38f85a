// Package worker is drainworker's pipeline: intake (JetStream pull consumer),
// coalescer (per-group queues, group commit), dispatcher (rate limit, calls,
// backoff), reporter (outcome events, then acks) and heartbeat, owned by one
// Worker.
package worker

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/prometheus/client_golang/prometheus"
	"go.uber.org/zap"

	"github.com/slbdrain/slbdrain/retry"
)

// Worker drains backend servers as requested on JetStream.
type Worker struct {
	cfg        Config
	nc         *nats.Conn
	js         jetstream.JetStream
	newRemover RemoverFactory
	log        *zap.Logger
	now        func() time.Time
	m          *metrics
	co         *coalescer
	rep        *reporter
	limiter    *adaptiveLimiter

	// credsFailing mirrors credsErr != nil for the hot path; credsGen counts
	// credential failures, so dispatchers rebuild clients made before one.
	credsFailing atomic.Bool
	credsGen     atomic.Uint64

	mu           sync.Mutex
	consumer     jetstream.Consumer
	consuming    jetstream.ConsumeContext
	credsErr     error // non-nil while the API rejects our credentials
	shuttingDown bool
	runCtx       context.Context
}

// Option configures a Worker.
type Option func(*Worker)

// WithLogger sets the logger (default: none).
func WithLogger(l *zap.Logger) Option { return func(w *Worker) { w.log = l } }

// WithRegisterer registers the worker's metrics (default: not registered).
func WithRegisterer(reg prometheus.Registerer) Option {
	return func(w *Worker) { w.m = newMetrics(reg) }
}

// New builds a worker on a NATS connection. newRemover builds the SLB API
// client of each dispatcher goroutine.
func New(cfg Config, nc *nats.Conn, newRemover RemoverFactory, opts ...Option) (*Worker, error) {
	cfg = cfg.withDefaults()
	if err := cfg.Validate(); err != nil {
		return nil, fmt.Errorf("worker config: %w", err)
	}
	w := &Worker{cfg: cfg, nc: nc, newRemover: newRemover, log: zap.NewNop(), now: time.Now}
	for _, o := range opts {
		o(w)
	}
	if w.m == nil {
		w.m = newMetrics(nil)
	}
	js, err := jetstream.New(nc,
		jetstream.WithPublishAsyncMaxPending(4096),
		jetstream.WithPublishAsyncTimeout(10*time.Second))
	if err != nil {
		return nil, fmt.Errorf("jetstream context: %w", err)
	}
	w.js = js
	w.limiter = newAdaptiveLimiter(cfg.SLBQPS, w.now, w.m.rateLimit.Set)
	w.co = newCoalescer(cfg.MaxBatch, cfg.Linger, cfg.MaxLinger, cfg.MaxAckPending*9/10, cfg.Retry, w.now, w.m)
	w.rep = newReporter(js, w.co, w.log, w.m)
	w.co.emit = w.rep.publish
	return w, nil
}

// Run serves until ctx is done, then shuts down gracefully: it stops pulling,
// sends what is queued, finishes the calls in flight, publishes their events
// and acks, within Config.ShutdownTimeout. What it could not finish it hands
// back to JetStream (Nak), so nothing is lost.
func (w *Worker) Run(ctx context.Context) error {
	if err := w.ensureStreams(ctx); err != nil {
		return err
	}
	cons, err := w.ensureConsumer(ctx)
	if err != nil {
		return err
	}
	w.mu.Lock()
	w.consumer, w.runCtx = cons, ctx
	w.mu.Unlock()

	// Calls and reports go on after ctx is done, until shutdown says stop.
	dispatchCtx, stopDispatch := context.WithCancel(context.WithoutCancel(ctx))
	reportCtx, stopReport := context.WithCancel(context.WithoutCancel(ctx))
	var wg sync.WaitGroup
	for range w.cfg.Concurrency {
		wg.Go(func() { w.dispatch(dispatchCtx) })
	}
	wg.Go(func() { w.heartbeat(dispatchCtx) })
	wg.Go(func() { w.pollConsumer(dispatchCtx) })
	var reportWG sync.WaitGroup
	reportWG.Go(func() { w.rep.run(reportCtx) })

	// Without usable credentials nothing can be drained: start not ready
	// rather than take requests only to hand them back.
	if _, cerr := w.newRemover(); cerr != nil {
		w.credentialsFailed(groupKey{}, cerr)
	}
	err = w.startConsuming()
	if err == nil {
		w.log.Info("drainworker running", zap.String("consumer", w.cfg.Consumer),
			zap.String("filter_subject", w.cfg.FilterSubject), zap.Int("concurrency", w.cfg.Concurrency),
			zap.Float64("slb_qps", w.cfg.SLBQPS), zap.Int("max_batch", w.cfg.MaxBatch))
		<-ctx.Done()
	}
	w.shutdown(stopDispatch, &wg, stopReport, &reportWG)
	return err
}

func (w *Worker) shutdown(stopDispatch context.CancelFunc, wg *sync.WaitGroup, stopReport context.CancelFunc, reportWG *sync.WaitGroup) {
	start := time.Now()
	w.mu.Lock()
	w.shuttingDown = true
	w.mu.Unlock()
	w.stopConsuming()
	w.co.startFlush()
	w.log.Info("shutting down", zap.Int("held_requests", w.co.heldCount()), zap.Duration("timeout", w.cfg.ShutdownTimeout))

	// Finish within the timeout, keeping a little of it for what follows:
	// handing back the rest and flushing the connection.
	reserve := min(w.cfg.ShutdownTimeout/10, 2*time.Second)
	finish := time.NewTimer(w.cfg.ShutdownTimeout - reserve)
	defer finish.Stop()
	select {
	case <-w.co.idleCh():
	case <-finish.C:
	}
	stopDispatch()
	// A call still out is not waited for past the timeout: its requests are
	// handed back below, and its result finds them gone.
	dispatched := make(chan struct{})
	go func() { wg.Wait(); close(dispatched) }()
	select {
	case <-dispatched:
	case <-time.After(reserve / 2):
	}
	left := w.co.release()
	for _, d := range left {
		_ = d.Nak()
	}
	stopReport()
	reportWG.Wait()
	w.log.Info("stopped", zap.Int("handed_back", len(left)), zap.Duration("took", time.Since(start)))
}

func (w *Worker) startConsuming() error {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.consuming != nil || w.shuttingDown || w.credsErr != nil {
		return nil
	}
	opts := []jetstream.PullConsumeOpt{
		jetstream.PullExpiry(w.cfg.PullExpiry),
		jetstream.PullHeartbeat(w.cfg.PullHeartbeat),
		jetstream.PullMaxMessages(min(w.cfg.MaxAckPending, 1000)),
		jetstream.ConsumeErrHandler(func(_ jetstream.ConsumeContext, err error) {
			if !errors.Is(err, nats.ErrConnectionClosed) {
				w.log.Warn("consume", zap.Error(err))
			}
		}),
	}
	if w.cfg.PriorityGroup != "" {
		opts = append(opts, jetstream.PullPriorityGroup(w.cfg.PriorityGroup))
	}
	cc, err := w.consumer.Consume(w.intake, opts...)
	if err != nil {
		return fmt.Errorf("consume %s on %s: %w", w.cfg.Consumer, w.cfg.FilterSubject, err)
	}
	w.consuming = cc
	return nil
}

func (w *Worker) stopConsuming() {
	w.mu.Lock()
	cc := w.consuming
	w.consuming = nil
	w.mu.Unlock()
	if cc != nil {
		cc.Stop()
	}
}

// Ready returns nil when the worker takes work, else why not.
func (w *Worker) Ready() error {
	w.mu.Lock()
	defer w.mu.Unlock()
	switch {
	case w.shuttingDown:
		return errors.New("shutting down")
	case w.credsErr != nil:
		return fmt.Errorf("slb credentials failing: %w", w.credsErr)
	case !w.nc.IsConnected():
		return fmt.Errorf("nats %s: %s", w.nc.ConnectedUrlRedacted(), w.nc.Status())
	case w.consuming == nil:
		return errors.New("consumer not bound")
	}
	return nil
}

// credentialsFailed handles an API answer saying the worker's identity is
// broken: not the requests' fault, so they are handed back to JetStream to
// wait (their deadlines still count from their arrival), pulling stops, and a
// probe checks the credentials until they work again. Every such answer hands
// back what is held, not only the first: requests may have been taken in
// between.
func (w *Worker) credentialsFailed(key groupKey, err error) {
	w.credsGen.Add(1)
	w.mu.Lock()
	first := w.credsErr == nil
	if first {
		w.credsErr = err
		w.credsFailing.Store(true)
	}
	ctx := w.runCtx
	w.mu.Unlock()
	if first {
		w.m.credentialsFailing.Set(1)
		w.log.Error("SLB credentials failing: not ready, requests handed back until fixed",
			zap.String("region_id", key.region), zap.String("vserver_group_id", key.id), zap.Error(err),
			zap.Duration("probe_every", w.cfg.CredentialRetry))
		w.stopConsuming()
		go w.probeCredentials(ctx, key)
	}
	for _, d := range w.co.release() {
		_ = d.NakWithDelay(w.cfg.CredentialRetry)
	}
}

func (w *Worker) probeCredentials(ctx context.Context, key groupKey) {
	t := time.NewTicker(w.cfg.CredentialRetry)
	defer t.Stop()
	var api Remover
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		var err error
		if api, err = w.probe(api, key); err != nil {
			w.log.Debug("credentials still failing", zap.Error(err))
			continue
		}
		w.mu.Lock()
		w.credsErr = nil
		w.credsFailing.Store(false)
		w.mu.Unlock()
		w.m.credentialsFailing.Set(0)
		w.log.Info("SLB credentials work again; resuming")
		if err := w.startConsuming(); err != nil {
			w.log.Error("resume consuming", zap.Error(err))
		}
		return
	}
}

// probe returns nil once the API takes the credentials again. An answer
// that says nothing about them (a timeout, a 5xx, throttling) keeps probing;
// any other answer, even an error about the group, means they work.
func (w *Worker) probe(api Remover, key groupKey) (Remover, error) {
	if api == nil {
		var err error
		if api, err = w.newRemover(); err != nil { // fresh credentials from the chain
			return nil, err
		}
	}
	if key == (groupKey{}) {
		return api, nil // the credentials resolve; no call has been refused yet
	}
	err := api.Probe(key.region, key.id)
	if err == nil {
		return api, nil
	}
	switch retry.Classify(err) {
	case retry.Credentials:
		return nil, err // rebuild: the chain may find new credentials
	case retry.Throttled, retry.Transient:
		return api, err
	}
	return api, nil
}
