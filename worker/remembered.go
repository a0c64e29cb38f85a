package worker

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"
	"time"

	"github.com/bits-and-blooms/bloom/v3"
	"github.com/nats-io/nats.go/jetstream"
	"go.uber.org/zap"
)

// remembered is a Bloom filter of the outcomes bucket's keys, fed by a
// watcher of the bucket (keys only). Once the watcher has replayed the
// bucket, "not in the filter" means the bucket holds no outcome for the id,
// and a new request goes on without asking the bucket: the lookup, a round
// trip per request, is left for the few the filter may hold. The watcher
// trails a put by milliseconds; within the streams' two-minute duplicate
// window a repeat is absorbed by JetStream anyway, and redeliveries are
// always looked up.
type remembered struct {
	mu     sync.RWMutex
	filter *bloom.BloomFilter
	caught atomic.Bool // the watcher has replayed the bucket and is following it
}

// rememberedCapacity and rememberedFalsePositives size the filter: about
// 1.8 MB for a million remembered requests at one lookup in a thousand
// wasted. Past that many keys a lookup is needed more often, never less.
const (
	rememberedCapacity       = 1_000_000
	rememberedFalsePositives = 0.001
)

func newRemembered() *remembered {
	return &remembered{filter: bloom.NewWithEstimates(rememberedCapacity, rememberedFalsePositives)}
}

func (m *remembered) add(key string) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.filter.AddString(key)
}

// surelyUnknown says whether the bucket certainly holds no outcome for key.
func (m *remembered) surelyUnknown(key string) bool {
	if !m.caught.Load() {
		return false
	}
	m.mu.RLock()
	defer m.mu.RUnlock()
	return !m.filter.TestString(key)
}

// follow feeds the filter from the bucket until ctx ends, watching again
// after a failure (the filter is only trusted while the watcher is caught up).
func (w *Worker) followOutcomes(ctx context.Context) {
	b := w.cfg.Retry.NewBackOff(time.Time{}, nil)
	for ctx.Err() == nil {
		err := w.watchOutcomes(ctx)
		w.remembered.caught.Store(false)
		if ctx.Err() != nil {
			return
		}
		wait := b.NextBackOff()
		w.log.Warn("outcomes bucket watcher stopped; every request is looked up until it follows again",
			zap.Duration("retry_in", wait), zap.Error(err))
		if !sleep(ctx, wait) {
			return
		}
	}
}

func (w *Worker) watchOutcomes(ctx context.Context) error {
	kw, err := w.outcomes.WatchAll(ctx, jetstream.MetaOnly(), jetstream.IgnoreDeletes())
	if err != nil {
		return err
	}
	defer func() { _ = kw.Stop() }()
	for {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case e, ok := <-kw.Updates():
			if !ok {
				return errWatcherClosed
			}
			if e == nil {
				w.remembered.caught.Store(true) // the replay is done: the filter holds every key
				continue
			}
			w.remembered.add(e.Key())
		}
	}
}

var errWatcherClosed = errors.New("outcomes watcher closed")
