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
// nothing and doubles nothing.
func TestClusterNodeLossMidBurst(t *testing.T) {
	c := natstest.RunCluster(t, 3)
	h := newHarnessAt(t, c.URLs(), slbsim.Config{Latency: 10 * time.Millisecond})
	cfg := clusterConfig()
	h.ensureStreamsWith(cfg)
	ids := h.publishSpread(t, "node", 10, 30)
	h.startWorker(cfg)
	h.events.waitCount(t, 30*time.Second, 30)

	leader := c.StreamLeader(t, messages.RequestStream)
	c.Stop(leader)
	t.Logf("stopped node %d, leader of %s, after %d events", leader, messages.RequestStream, h.events.len())

	outs := h.waitOutcomes(90*time.Second, ids...)
	assertAllCompleted(t, outs)
	assertOneEventEach(t, h, len(ids))
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
