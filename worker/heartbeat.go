package worker

import (
	"context"
	"time"

	"go.uber.org/zap"
)

// heartbeat tells JetStream, well inside AckWait, that every message the
// worker holds (queued, in flight, backing off, being reported) is in
// progress, so waiting work is not redelivered. One ticker for all.
func (w *Worker) heartbeat(ctx context.Context) {
	t := time.NewTicker(w.cfg.HeartbeatInterval / 2)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			now := w.clock.Now()
			for _, msg := range w.ledger.due(now.Add(-w.cfg.HeartbeatInterval), now) {
				_ = msg.InProgress() // a lost one is repeated next round, well inside AckWait
			}
		}
	}
}

// pollConsumer keeps the consumer's backlog gauges current: what dashboards
// and alerts watch in a storm.
func (w *Worker) pollConsumer(ctx context.Context, r *run) {
	t := time.NewTicker(w.cfg.StatsInterval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		infoCtx, cancel := context.WithTimeout(ctx, w.cfg.StatsInterval)
		info, err := r.currentConsumer().Info(infoCtx)
		cancel()
		if err != nil {
			w.log.Debug("consumer info", zap.Error(err))
			continue
		}
		w.m.consumerPending.Set(float64(info.NumPending))
		w.m.consumerAckPending.Set(float64(info.NumAckPending))
		w.pin.observed(info, w.cfg.PriorityGroup)
		if w.Role() == RoleActive {
			w.m.activeReplica.Set(1)
		} else {
			w.m.activeReplica.Set(0)
		}
	}
}
