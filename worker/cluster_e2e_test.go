package worker

import (
	"context"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/slbdrain/slbdrain/internal/natstest"
	"github.com/slbdrain/slbdrain/internal/slbsim"
	"github.com/slbdrain/slbdrain/messages"
)

func clusterConfig() Config {
	cfg := testConfig()
	cfg.StreamReplicas = 3
	cfg.SLBQPS = 100
	return cfg
}

// Losing the NATS node that leads the requests stream mid-burst loses
// nothing and doubles nothing. What counts is what the streams hold: a core
// NATS or consumer view can miss messages while a node is down.
func TestClusterNodeLossMidBurst(t *testing.T) {
	c := natstest.RunCluster(t, 3)
	h := newHarnessAt(t, c.URLs(), slbsim.Config{Latency: 10 * time.Millisecond})
	cfg := clusterConfig()
	h.createStreams(cfg)
	h.events = newEventLog() // not followed: see above
	ids := h.publishSpread(t, "node", 10, 30)
	h.startWorker(cfg)
	stored := func() uint64 {
		s, err := h.js.Stream(context.Background(), messages.EventStream)
		if err != nil {
			return 0
		}
		return s.CachedInfo().State.Msgs
	}
	waitUntil(t, 30*time.Second, "30 events stored", func() bool { return stored() >= 30 })

	leader := c.StreamLeader(t, messages.RequestStream)
	before := stored()
	c.Stop(leader)
	t.Logf("stopped node %d, leader of %s, with %d events stored", leader, messages.RequestStream, before)
	// The worker goes on with two nodes of three; then the node comes back.
	waitUntil(t, 60*time.Second, "progress without the node", func() bool { return stored() >= min(uint64(len(ids)), before+30) })
	c.Restart(leader)

	// A request is acked only after its event is stored: an empty work queue
	// means every event is in.
	waitUntil(t, 90*time.Second, "every request acked", func() bool {
		s, err := h.js.Stream(context.Background(), messages.RequestStream)
		return err == nil && s.CachedInfo().State.Msgs == 0
	})
	c.WaitStreamCurrent(t, messages.EventStream)
	events := scanEvents(t, h)
	for _, id := range ids {
		if e := events[id]; e.count != 1 || e.status != messages.StatusCompleted {
			t.Errorf("%s: %d events in the events stream, status %q; want exactly one, completed", id, e.count, e.status)
		}
	}
	if st := h.sim.Stats(); st.Overlaps != 0 {
		t.Errorf("%d overlapping calls on a group", st.Overlaps)
	}
}

// Two replicas on one consumer: one is pinned and works, the other waits;
// when the active one stops, the standby takes over and finishes.
func TestStandbyTakesOverFromActiveReplica(t *testing.T) {
	h := newHarness(t, slbsim.Config{Latency: 10 * time.Millisecond})
	ids := h.publishSpread(t, "standby", 8, 25)
	cfg := testConfig()
	cfg.SLBQPS = 40
	cfg.ShutdownTimeout = 200 * time.Millisecond // hand most work back
	regA, regB := prometheus.NewRegistry(), prometheus.NewRegistry()
	a, stopA, _ := h.startWorker(cfg, WithRegisterer(regA))
	b, stopB, _ := h.startWorker(cfg, WithRegisterer(regB))
	h.events.waitCount(t, 30*time.Second, 20)

	active, stopActive, standby := a, stopA, b
	if testutil.ToFloat64(b.m.requestsReceived) > 0 {
		active, stopActive, standby = b, stopB, a
	}
	if testutil.ToFloat64(standby.m.requestsReceived) != 0 {
		t.Fatal("both replicas received requests: the consumer does not pin one")
	}
	if err := stopActive(); err != nil {
		t.Fatal(err)
	}
	t.Logf("stopped the active replica after %g outcomes", testutil.ToFloat64(active.m.outcomes.WithLabelValues("completed")))
	outs := h.waitOutcomes(60*time.Second, ids...)
	assertAllCompleted(t, outs)
	if testutil.ToFloat64(standby.m.outcomes.WithLabelValues("completed")) == 0 {
		t.Error("the standby completed nothing")
	}
	assertOneEventEach(t, h, len(ids))
}

type storedEvents struct {
	count  int
	status messages.Status
}

// scanEvents reads the whole events stream afresh, up to its last sequence,
// and counts events per request.
func scanEvents(t *testing.T, h *harness) map[string]storedEvents {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	counts := map[string]storedEvents{}
	stream, err := h.js.Stream(ctx, messages.EventStream)
	if err != nil {
		t.Errorf("scan events stream: %v", err)
		return counts
	}
	st := stream.CachedInfo().State
	last := st.LastSeq
	t.Logf("events stream: %d messages, sequences %d..%d, %d deleted", st.Msgs, st.FirstSeq, st.LastSeq, st.NumDeleted)
	cons, err := stream.OrderedConsumer(ctx, jetstream.OrderedConsumerConfig{})
	if err != nil {
		t.Errorf("scan events stream: %v", err)
		return counts
	}
	var seen uint64
	for seen < last {
		batch, err := cons.Fetch(500, jetstream.FetchMaxWait(2*time.Second))
		if err != nil {
			t.Errorf("scan events stream: %v", err)
			return counts
		}
		for msg := range batch.Messages() {
			if meta, err := msg.Metadata(); err == nil {
				seen = meta.Sequence.Stream
			}
			if o, err := messages.DecodeOutcome(msg.Data()); err == nil {
				counts[o.RequestID] = storedEvents{count: counts[o.RequestID].count + 1, status: o.Status}
			}
		}
		if ctx.Err() != nil {
			t.Errorf("scan events stream: read up to %d of %d", seen, last)
			return counts
		}
	}
	return counts
}

func assertOneEventEach(t *testing.T, h *harness, n int) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	var stream jetstream.Stream
	var err error
	if stream, err = h.js.Stream(ctx, messages.EventStream); err != nil {
		t.Fatal(err)
	}
	info, err := stream.Info(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if info.State.Msgs != uint64(n) {
		t.Errorf("events stream holds %d events for %d requests", info.State.Msgs, n)
	}
	h.events.mu.Lock()
	defer h.events.mu.Unlock()
	for id, k := range h.events.count {
		if k != 1 {
			t.Errorf("%s: %d events", id, k)
		}
	}
}
