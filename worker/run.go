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
)

// run owns what one call of Worker.Run starts: the consume loop, the
// goroutines that call the API, beat and poll, and the reporter, so that
// shutdown is one ordered sequence.
type run struct {
	w *Worker
	// work lives until shutdown stops it (after Run's ctx is done, calls and
	// reports go on): dispatchers, heartbeat, poller, outcome lookups,
	// credential probe. The reporter has its own stop.
	work     context.Context
	stopWork context.CancelFunc
	workers  sync.WaitGroup

	mu        sync.Mutex
	consumer  jetstream.Consumer
	consuming jetstream.ConsumeContext
	lost      error // why the consume loop ended without being told to, while it is re-made
	stopping  bool
}

func newRun(ctx context.Context, w *Worker, cons jetstream.Consumer) *run {
	r := &run{w: w, consumer: cons}
	r.work, r.stopWork = context.WithCancel(context.WithoutCancel(ctx))
	return r
}

// start launches the run's goroutines.
func (r *run) start() {
	w := r.w
	for range w.cfg.Concurrency {
		r.workers.Go(func() { w.dispatch(r.work) })
	}
	r.workers.Go(func() { w.heartbeat(r.work) })
	r.workers.Go(func() { w.pollConsumer(r.work, r) })
	for range recallAskers {
		r.workers.Go(func() { w.runRecall(r.work) })
	}
	r.workers.Go(func() { w.followOutcomes(r.work) })
	for range guardReaders {
		r.workers.Go(func() { w.runGuard(r.work) })
	}
	w.rep.start()
}

// goWork runs f as one of the run's workers (the credential probe).
func (r *run) goWork(f func(ctx context.Context)) { r.workers.Go(func() { f(r.work) }) }

// consume starts pulling, unless the run is stopping or credentials fail.
func (r *run) consume() error {
	w := r.w
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.consuming != nil || r.stopping {
		return nil
	}
	opts := []jetstream.PullConsumeOpt{
		jetstream.PullExpiry(w.cfg.PullExpiry),
		jetstream.PullHeartbeat(w.cfg.PullHeartbeat),
		jetstream.PullMaxMessages(min(w.cfg.MaxAckPending, 1000)),
		jetstream.ConsumeErrHandler(func(cc jetstream.ConsumeContext, err error) {
			if errors.Is(err, nats.ErrConnectionClosed) {
				return
			}
			w.log.Warn("consume", zap.Error(err))
			if errors.Is(err, jetstream.ErrConsumerDeleted) || errors.Is(err, jetstream.ErrConsumerNotFound) {
				cc.Stop() // the watcher re-creates the consumer
			}
		}),
	}
	if w.cfg.PriorityGroup != "" {
		opts = append(opts, jetstream.PullPriorityGroup(w.cfg.PriorityGroup))
	}
	cc, err := r.consumer.Consume(w.intake, opts...)
	if err != nil {
		return fmt.Errorf("consume %s on %s: %w", w.cfg.Consumer, w.cfg.FilterSubject, err)
	}
	r.consuming, r.lost = cc, nil
	r.workers.Go(func() { r.watch(cc) })
	return nil
}

// watch re-makes the consumer and its consume loop when the loop ends
// without being told to (the consumer was deleted, or the loop gave up):
// meanwhile the worker is not ready and says why.
func (r *run) watch(cc jetstream.ConsumeContext) {
	select {
	case <-r.work.Done():
		return
	case <-cc.Closed():
	}
	r.mu.Lock()
	if r.consuming != cc || r.stopping {
		r.mu.Unlock()
		return // stopped on purpose
	}
	r.consuming, r.lost = nil, errors.New("consume loop ended; re-creating the consumer")
	r.mu.Unlock()
	w := r.w
	w.log.Error("consume loop ended unasked: not ready, re-creating the consumer", zap.String("consumer", w.cfg.Consumer))
	b := w.cfg.Retry.NewBackOff(time.Time{}, nil)
	for {
		ctx, cancel := context.WithTimeout(r.work, 10*time.Second)
		cons, err := w.ensureConsumer(ctx)
		cancel()
		if err == nil {
			r.mu.Lock()
			r.consumer = cons
			r.mu.Unlock()
			if err = r.consume(); err == nil {
				w.log.Info("consumer re-created; consuming again", zap.String("consumer", w.cfg.Consumer))
				return
			}
		}
		r.mu.Lock()
		r.lost = err
		r.mu.Unlock()
		w.log.Warn("re-create consumer", zap.Error(err))
		if !sleep(r.work, b.NextBackOff()) {
			return
		}
	}
}

// currentConsumer is the consumer now in use.
func (r *run) currentConsumer() jetstream.Consumer {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.consumer
}

// lostErr says why there is no consume loop now, if it ended unasked.
func (r *run) lostErr() error {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.lost
}

// pause stops pulling (credentials failing, or shutdown).
func (r *run) pause() {
	r.mu.Lock()
	cc := r.consuming
	r.consuming = nil
	r.mu.Unlock()
	if cc != nil {
		cc.Stop()
	}
}

func (r *run) isStopping() bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.stopping
}

func (r *run) isConsuming() bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.consuming != nil
}

// shutdown, in order: stop pulling and give up the pin; send what lingers;
// wait until nothing is held or the timeout (less a reserve) passes; stop
// calling; hand back what is undecided; stop reporting and hand back what
// has no acknowledged event.
func (r *run) shutdown() {
	w := r.w
	start := time.Now()
	r.mu.Lock()
	r.stopping = true
	r.mu.Unlock()
	r.pause()
	r.unpin()
	w.sched.startFlush()
	w.log.Info("shutting down", zap.Int("held_requests", w.ledger.len()), zap.Duration("timeout", w.cfg.ShutdownTimeout))

	// Finish within the timeout, keeping a little of it for what follows:
	// handing back the rest and flushing the connection.
	reserve := min(w.cfg.ShutdownTimeout/10, 2*time.Second)
	finish := time.NewTimer(w.cfg.ShutdownTimeout - reserve)
	defer finish.Stop()
	select {
	case <-w.ledger.idleCh():
	case <-finish.C:
	}

	// A call still out is not waited for past the timeout: its requests are
	// handed back below, and its result finds them gone.
	r.stopWork()
	stopped := make(chan struct{})
	go func() { r.workers.Wait(); close(stopped) }()
	select {
	case <-stopped:
	case <-time.After(reserve / 2):
	}

	left := w.ledger.release()
	w.sched.release()
	for _, d := range left {
		_ = d.Nak()
	}
	unsettled := w.rep.stopAndHandBack()
	w.ledger.stop()
	w.log.Info("stopped", zap.Int("handed_back", len(left)+unsettled), zap.Duration("took", time.Since(start)))
}

// unpin gives up the consumer's pin, if this replica holds it, so that a
// standby (or this worker's own restart) takes over at once instead of after
// the pinned TTL.
func (r *run) unpin() {
	w := r.w
	if w.cfg.PriorityGroup == "" {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), min(time.Second, w.cfg.ShutdownTimeout/10))
	defer cancel()
	info, err := r.currentConsumer().Info(ctx)
	if err != nil {
		w.log.Warn("consumer info before unpinning", zap.Error(err))
		return
	}
	w.pin.observed(info, w.cfg.PriorityGroup)
	if !w.pin.holdsPin() {
		return
	}
	stream, err := w.js.Stream(ctx, messages.RequestStream)
	if err == nil {
		err = stream.UnpinConsumer(ctx, w.cfg.Consumer, w.cfg.PriorityGroup)
	}
	if err != nil {
		w.log.Warn("unpin on shutdown", zap.Error(err))
		return
	}
	w.log.Info("unpinned: a standby takes over now", zap.String("priority_group", w.cfg.PriorityGroup))
}
