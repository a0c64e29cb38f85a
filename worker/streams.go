package worker

import (
	"context"
	"errors"
	"fmt"

	"github.com/nats-io/nats.go/jetstream"
	"go.uber.org/zap"

	"github.com/slbdrain/slbdrain/messages"
)

// RequestStreamConfig is the contract's requests stream: a work queue.
func RequestStreamConfig(cfg Config) jetstream.StreamConfig {
	return jetstream.StreamConfig{
		Name:        messages.RequestStream,
		Description: "slbdrain drain requests (contract v1)",
		Subjects:    []string{messages.RequestSubjects},
		Retention:   jetstream.WorkQueuePolicy,
		Storage:     jetstream.FileStorage,
		Replicas:    cfg.StreamReplicas,
		Duplicates:  cfg.DuplicateWindow,
		MaxMsgSize:  messages.MaxRequestBytes,
	}
}

// EventStreamConfig is the contract's outcome events stream.
func EventStreamConfig(cfg Config) jetstream.StreamConfig {
	return jetstream.StreamConfig{
		Name:        messages.EventStream,
		Description: "slbdrain outcome events (contract v1)",
		Subjects:    []string{messages.EventSubjects},
		Retention:   jetstream.LimitsPolicy,
		Storage:     jetstream.FileStorage,
		Replicas:    cfg.StreamReplicas,
		Duplicates:  cfg.DuplicateWindow,
		MaxAge:      cfg.EventMaxAge,
	}
}

// ensureStreams creates the streams that are missing and leaves existing
// ones as their operators configured them.
func (w *Worker) ensureStreams(ctx context.Context) error {
	for _, sc := range []jetstream.StreamConfig{
		RequestStreamConfig(w.cfg),
		EventStreamConfig(w.cfg),
	} {
		_, err := w.js.Stream(ctx, sc.Name)
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
	cc := jetstream.ConsumerConfig{
		Durable:       w.cfg.Consumer,
		Description:   "slbdrain drainworker",
		FilterSubject: w.cfg.FilterSubject,
		AckPolicy:     jetstream.AckExplicitPolicy,
		AckWait:       w.cfg.AckWait,
		MaxAckPending: w.cfg.MaxAckPending,
		MaxDeliver:    -1, // nothing is ever dropped: a request ends only in its event
		DeliverPolicy: jetstream.DeliverAllPolicy,
	}
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
