package worker

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/nats-io/nats.go/jetstream"
	"go.uber.org/zap"

	"github.com/slbdrain/slbdrain/messages"
)

// The stream and consumer definitions live here, in one place, built from
// Config; deployments/nats/*.json are the same definitions for operators
// (`nats stream add --config`), checked against these by a test.

// maxRequestMsgSize is the contract's 64 KiB request body plus room for the
// headers, which JetStream counts too (a 128-character Nats-Msg-Id among them).
const maxRequestMsgSize = 68 << 10

// RequestStreamConfig is the contract's requests stream: a work queue on
// file storage, with the replicas and duplicate window of cfg.
func RequestStreamConfig(cfg Config) jetstream.StreamConfig {
	cfg = cfg.withDefaults()
	return jetstream.StreamConfig{
		Name:              messages.RequestStream,
		Description:       "slbdrain drain requests (contract v1)",
		Subjects:          []string{messages.RequestSubjects},
		Retention:         jetstream.WorkQueuePolicy,
		MaxConsumers:      -1,
		MaxMsgs:           -1,
		MaxBytes:          -1,
		MaxMsgsPerSubject: -1,
		MaxMsgSize:        maxRequestMsgSize,
		Discard:           jetstream.DiscardOld,
		Storage:           jetstream.FileStorage,
		Replicas:          cfg.StreamReplicas,
		Duplicates:        cfg.DuplicateWindow,
	}
}

// EventStreamConfig is the contract's outcome events stream: limits
// retention on file storage, with the replicas, duplicate window and
// retention of cfg.
func EventStreamConfig(cfg Config) jetstream.StreamConfig {
	cfg = cfg.withDefaults()
	return jetstream.StreamConfig{
		Name:              messages.EventStream,
		Description:       "slbdrain outcome events (contract v1)",
		Subjects:          []string{messages.EventSubjects},
		Retention:         jetstream.LimitsPolicy,
		MaxConsumers:      -1,
		MaxMsgs:           -1,
		MaxBytes:          -1,
		MaxAge:            cfg.EventMaxAge,
		MaxMsgsPerSubject: -1,
		Discard:           jetstream.DiscardOld,
		Storage:           jetstream.FileStorage,
		Replicas:          cfg.StreamReplicas,
		Duplicates:        cfg.DuplicateWindow,
	}
}

// OutcomeBucketConfig is the contract's outcomes bucket: the terminal
// outcome of every request by messages.OutcomeKey, kept OutcomeTTL, with
// the streams' replicas.
func OutcomeBucketConfig(cfg Config) jetstream.KeyValueConfig {
	cfg = cfg.withDefaults()
	return jetstream.KeyValueConfig{
		Bucket:      messages.OutcomeBucket,
		Description: "slbdrain terminal outcomes by request id",
		History:     1,
		TTL:         cfg.OutcomeTTL,
		Storage:     jetstream.FileStorage,
		Replicas:    cfg.StreamReplicas,
	}
}

// ConsumerConfig is the worker's durable pull consumer of the requests
// stream: explicit acks, MaxDeliver -1 (a request ends only in its event),
// deliver all; with a priority group, one pinned client (one active replica).
func ConsumerConfig(cfg Config) jetstream.ConsumerConfig {
	cfg = cfg.withDefaults()
	cc := jetstream.ConsumerConfig{
		Durable:       cfg.Consumer,
		Description:   "slbdrain drainworker",
		FilterSubject: cfg.FilterSubject,
		DeliverPolicy: jetstream.DeliverAllPolicy,
		AckPolicy:     jetstream.AckExplicitPolicy,
		AckWait:       cfg.AckWait,
		MaxDeliver:    -1,
		MaxAckPending: cfg.MaxAckPending,
		ReplayPolicy:  jetstream.ReplayInstantPolicy,
	}
	if cfg.PriorityGroup != "" {
		cc.PriorityGroups = []string{cfg.PriorityGroup}
		cc.PriorityPolicy = jetstream.PriorityPolicyPinned
		cc.PinnedTTL = cfg.PinnedTTL
	}
	return cc
}

// setUp binds (or creates) the streams, the outcomes bucket and the
// consumer. A broker that does not answer in time (a cluster still forming,
// a leader election) is asked again until ctx ends: a worker must not exit,
// and crash-loop, for a lost answer. Any other error ends Run.
func (w *Worker) setUp(ctx context.Context) (jetstream.Consumer, error) {
	b := w.cfg.Retry.NewBackOff(time.Time{}, nil)
	for {
		err := w.ensureStreams(ctx)
		if err == nil {
			var cons jetstream.Consumer
			if cons, err = w.ensureConsumer(ctx); err == nil {
				return cons, nil
			}
		}
		if !brokerBusy(err) || ctx.Err() != nil {
			return nil, err
		}
		wait := b.NextBackOff()
		w.log.Warn("JetStream set-up did not answer; trying again", zap.Duration("retry_in", wait), zap.Error(err))
		if !sleep(ctx, wait) {
			return nil, err
		}
	}
}

// brokerBusy says whether a JetStream API error means "no answer now"
// rather than "no".
func brokerBusy(err error) bool {
	var apiErr *jetstream.APIError
	switch {
	case errors.Is(err, context.DeadlineExceeded), errors.Is(err, nats.ErrTimeout), errors.Is(err, nats.ErrNoResponders),
		errors.Is(err, jetstream.ErrJetStreamNotEnabled):
		return true
	case errors.As(err, &apiErr):
		return apiErr.Code == 503 // cluster not available, no leader yet
	}
	return false
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
	return w.ensureOutcomeBucket(ctx)
}

// ensureOutcomeBucket binds the outcomes bucket, creating it when missing
// (and updating it only when told to, like the streams).
func (w *Worker) ensureOutcomeBucket(ctx context.Context) error {
	kc := OutcomeBucketConfig(w.cfg)
	kv, err := w.js.KeyValue(ctx, kc.Bucket)
	switch {
	case err == nil && w.cfg.UpdateStreams:
		if kv, err = w.js.UpdateKeyValue(ctx, kc); err != nil {
			return fmt.Errorf("update bucket %s: %w", kc.Bucket, err)
		}
		w.log.Info("updated bucket", zap.String("bucket", kc.Bucket), zap.Int("replicas", kc.Replicas))
	case errors.Is(err, jetstream.ErrBucketNotFound):
		if kv, err = w.js.CreateKeyValue(ctx, kc); errors.Is(err, jetstream.ErrBucketExists) {
			kv, err = w.js.KeyValue(ctx, kc.Bucket) // a replica won the race
		}
		if err != nil {
			return fmt.Errorf("create bucket %s: %w", kc.Bucket, err)
		}
		w.log.Info("created bucket", zap.String("bucket", kc.Bucket), zap.Int("replicas", kc.Replicas), zap.Duration("ttl", kc.TTL))
	case err != nil:
		return fmt.Errorf("look up bucket %s: %w", kc.Bucket, err)
	}
	w.outcomes = kv
	return nil
}

func (w *Worker) ensureConsumer(ctx context.Context) (jetstream.Consumer, error) {
	cons, err := w.js.CreateOrUpdateConsumer(ctx, messages.RequestStream, ConsumerConfig(w.cfg))
	if err != nil {
		return nil, fmt.Errorf("create consumer %s on %s: %w", w.cfg.Consumer, messages.RequestStream, err)
	}
	return cons, nil
}
