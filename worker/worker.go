// Package worker is drainworker's pipeline: intake (JetStream pull consumer),
// ledger (held requests, heartbeats, deadlines), scheduler (one state machine
// per VServer group, group commit), dispatcher (rate limit, calls, backoff)
// and reporter (outcome events, then acks), owned by one Worker.
package worker

import (
	"context"
	"errors"
	"fmt"
	"regexp"
	"sync/atomic"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/prometheus/client_golang/prometheus"
	"go.uber.org/zap"
	"golang.org/x/time/rate"
)

// Worker drains backend servers as requested on JetStream.
type Worker struct {
	cfg        Config
	nc         *nats.Conn
	js         jetstream.JetStream
	newRemover RemoverFactory
	log        *zap.Logger
	clock      Clock
	m          *metrics

	ledger     *ledger
	sched      *scheduler
	rep        *reporter
	ceiling    *rate.Limiter // --slb-qps over all regions, on top of each region's quota
	creds      credentialsGate
	recall     *recall
	remembered *remembered
	guard      *guard
	reads      *readBudgets // the read calls' quotas, per region
	pin        pinTracker

	outcomes jetstream.KeyValue // the outcomes bucket, bound by Run
	progress atomic.Int64       // unix nanoseconds of the last call answered or request settled

	current atomic.Pointer[run] // the Run in progress, if any
}

// Option configures a Worker.
type Option func(*Worker)

// WithLogger sets the logger (default: none).
func WithLogger(l *zap.Logger) Option { return func(w *Worker) { w.log = l } }

// WithRegisterer registers the worker's metrics (default: not registered).
func WithRegisterer(reg prometheus.Registerer) Option {
	return func(w *Worker) { w.m = newMetrics(reg) }
}

// WithClock sets the source of time and timers (default: the system's).
func WithClock(c Clock) Option { return func(w *Worker) { w.clock = c } }

// New builds a worker on a NATS connection. newRemover builds the SLB API
// client of each dispatcher goroutine.
func New(cfg Config, nc *nats.Conn, newRemover RemoverFactory, opts ...Option) (*Worker, error) {
	cfg = cfg.withDefaults()
	if err := cfg.Validate(); err != nil {
		return nil, fmt.Errorf("worker config: %w", err)
	}
	w := &Worker{cfg: cfg, nc: nc, newRemover: newRemover, log: zap.NewNop(), clock: systemClock{}}
	for _, o := range opts {
		o(w)
	}
	if w.m == nil {
		w.m = newMetrics(nil)
	}
	js, err := jetstream.New(nc)
	if err != nil {
		return nil, fmt.Errorf("jetstream context: %w", err)
	}
	w.js = js
	// Built bottom up: the ledger knows nobody, the reporter settles with
	// the ledger, the scheduler emits to the reporter.
	w.recall = newRecall(cfg.MaxAckPending)
	w.remembered = newRemembered()
	allow := make([]*regexp.Regexp, len(cfg.AllowGroups))
	for i, p := range cfg.AllowGroups {
		allow[i] = regexp.MustCompile(p) // Validate compiled it already
	}
	w.guard = newGuard(allow, cfg.MinRemaining, cfg.MaxAckPending)
	w.ledger = newLedger(w.clock, w.m, func(r *request) { w.sched.expire(r) })
	if w.rep, err = newReporter(nc, w.ledger, w.clock, w.log, w.m, w.madeProgress); err != nil {
		return nil, err
	}
	w.sched = newScheduler(schedulerConfig{
		maxBatch:  cfg.MaxBatch,
		linger:    cfg.Linger,
		maxLinger: cfg.MaxLinger,
		holdLimit: cfg.MaxAckPending * 9 / 10,
		policy:    cfg.Retry,
		quotas:    cfg.Quotas,
	}, w.clock, w.ledger.len, func() bool { return w.recall.pending.Load()+w.guard.pending.Load() > 0 }, w.rep.publish, w.m)
	w.reads = w.sched.reads
	// Burst 1: calls leave evenly spaced under the ceiling.
	w.ceiling = rate.NewLimiter(rate.Limit(cfg.SLBQPS), 1)
	w.m.rateLimit.Set(cfg.SLBQPS)
	return w, nil
}

// Run serves until ctx is done, then shuts down gracefully: it stops pulling,
// sends what is queued, finishes the calls in flight, publishes their events
// and acks, within Config.ShutdownTimeout. What it could not finish it hands
// back to JetStream (Nak), so nothing is lost.
func (w *Worker) Run(ctx context.Context) error {
	cons, err := w.setUp(ctx)
	if err != nil {
		return err
	}
	r := newRun(ctx, w, cons)
	if !w.current.CompareAndSwap(nil, r) {
		return errors.New("worker is already running")
	}
	defer w.current.Store(nil)
	r.start()
	// Without usable credentials nothing can be drained: start not ready
	// rather than take requests only to hand them back.
	if _, cerr := w.newRemover(); cerr != nil {
		w.credentialsFailed(groupKey{}, cerr)
	}
	if err = r.consume(); err == nil {
		w.log.Info("drainworker running", zap.String("consumer", w.cfg.Consumer),
			zap.String("filter_subject", w.cfg.FilterSubject), zap.Int("concurrency", w.cfg.Concurrency),
			zap.Float64("slb_qps", w.cfg.SLBQPS), zap.Int("max_batch", w.cfg.MaxBatch),
			zap.Strings("slb_quota", FormatQuotas(w.cfg.Quotas)))
		<-ctx.Done()
	}
	r.shutdown()
	return err
}

// Role says whether this replica is the active one of its priority group.
func (w *Worker) Role() Role {
	if w.cfg.PriorityGroup == "" {
		return RoleActive // no pinning: every replica drains
	}
	return w.pin.role()
}

// madeProgress records that held work moved: a call was answered, or a
// request settled.
func (w *Worker) madeProgress() { w.progress.Store(w.clock.Now().UnixNano()) }

// Healthy returns nil unless the worker is wedged: it holds requests and
// has made no progress on them (no call answered, no request settled) for
// Config.WedgeTimeout. Waiting for fixed credentials is not wedged: the
// worker is not ready then, and its requests fail at their deadlines.
func (w *Worker) Healthy() error {
	since := w.ledger.heldSince()
	if since.IsZero() || w.creds.Failing() {
		return nil
	}
	if last := time.Unix(0, w.progress.Load()); last.After(since) {
		since = last
	}
	if stalled := w.clock.Now().Sub(since); stalled > w.cfg.WedgeTimeout {
		return fmt.Errorf("wedged: %d requests held and no progress for %s (--wedge-timeout %s)",
			w.ledger.len(), stalled.Round(time.Second), w.cfg.WedgeTimeout)
	}
	return nil
}

// Ready returns nil when the worker takes work, else why not.
func (w *Worker) Ready() error {
	r := w.current.Load()
	if r == nil {
		return errors.New("not running")
	}
	switch err := w.creds.Err(); {
	case r.isStopping():
		return errors.New("shutting down")
	case err != nil:
		return fmt.Errorf("slb credentials failing: %w", err)
	case !w.nc.IsConnected():
		return fmt.Errorf("nats %s: %s", w.nc.ConnectedUrlRedacted(), w.nc.Status())
	case !r.isConsuming():
		if lost := r.lostErr(); lost != nil {
			return fmt.Errorf("consumer %s: %w", w.cfg.Consumer, lost)
		}
		return errors.New("consumer not bound")
	}
	return nil
}
