package worker

import (
	"context"
	"errors"
	"fmt"

	"github.com/nats-io/nats.go/jetstream"
	"go.uber.org/zap"

	"github.com/slbdrain/slbdrain/deployments"
	"github.com/slbdrain/slbdrain/messages"
)

// RequestStreamConfig is the contract's requests stream, from the same
// definition operators apply (deployments/nats/requests-stream.json), with
// the replicas and duplicate window of cfg.
func RequestStreamConfig(cfg Config) jetstream.StreamConfig {
	sc := mustDefinition(deployments.RequestStream())
	sc.Replicas, sc.Duplicates = cfg.StreamReplicas, cfg.DuplicateWindow
	return sc
}

// EventStreamConfig is the contract's outcome events stream
// (deployments/nats/events-stream.json), with the replicas, duplicate window
// and retention of cfg.
func EventStreamConfig(cfg Config) jetstream.StreamConfig {
	sc := mustDefinition(deployments.EventStream())
	sc.Replicas, sc.Duplicates, sc.MaxAge = cfg.StreamReplicas, cfg.DuplicateWindow, cfg.EventMaxAge
	return sc
}

// mustDefinition unwraps a definition embedded at build time: one that does
// not decode is a broken build, which the deployments tests catch first.
func mustDefinition[T any](v T, err error) T {
	if err != nil {
		panic(fmt.Sprintf("embedded JetStream definition: %v", err))
	}
	return v
}

// ensureStreams creates the streams that are missing and leaves existing
// ones as their operators configured them, unless told to update them.
func (w *Worker) ensureStreams(ctx context.Context) error {
	for _, sc := range []jetstream.StreamConfig{
		RequestStreamConfig(w.cfg),
		EventStreamConfig(w.cfg),
	} {
		_, err := w.js.Stream(ctx, sc.Name)
		if err == nil && w.cfg.UpdateStreams {
			if _, err := w.js.UpdateStream(ctx, sc); err != nil {
				return fmt.Errorf("update stream %s: %w", sc.Name, err)
			}
			w.log.Info("updated stream", zap.String("stream", sc.Name), zap.Int("replicas", sc.Replicas))
			continue
		}
		if err == nil {
			continue // exists, possibly configured otherwise by its operators: theirs wins
		}
		if !errors.Is(err, jetstream.ErrStreamNotFound) {
			return fmt.Errorf("look up stream %s: %w", sc.Name, err)
		}
		_, err = w.js.CreateStream(ctx, sc)
		if err != nil && !errors.Is(err, jetstream.ErrStreamNameAlreadyInUse) { // a replica may have won the race
			return fmt.Errorf("create stream %s: %w", sc.Name, err)
		}
		w.log.Info("created stream", zap.String("stream", sc.Name), zap.Int("replicas", sc.Replicas))
	}
	return nil
}

// consumerConfig is the durable pull consumer of the requests stream.
func (w *Worker) consumerConfig() jetstream.ConsumerConfig {
	// deployments/nats/consumer.json: explicit acks, MaxDeliver -1 (a request
	// ends only in its event), deliver all; the rest comes from the flags.
	cc := mustDefinition(deployments.Consumer())
	cc.Durable, cc.FilterSubject = w.cfg.Consumer, w.cfg.FilterSubject
	cc.AckWait, cc.MaxAckPending = w.cfg.AckWait, w.cfg.MaxAckPending
	cc.PriorityGroups, cc.PriorityPolicy, cc.PinnedTTL = nil, jetstream.PriorityPolicyNone, 0
	if w.cfg.PriorityGroup != "" {
		cc.PriorityGroups = []string{w.cfg.PriorityGroup}
		cc.PriorityPolicy = jetstream.PriorityPolicyPinned
		cc.PinnedTTL = w.cfg.PinnedTTL
	}
	return cc
}

func (w *Worker) ensureConsumer(ctx context.Context) (jetstream.Consumer, error) {
	cons, err := w.js.CreateOrUpdateConsumer(ctx, messages.RequestStream, w.consumerConfig())
	if err != nil {
		return nil, fmt.Errorf("create consumer %s on %s: %w", w.cfg.Consumer, messages.RequestStream, err)
	}
	return cons, nil
}
