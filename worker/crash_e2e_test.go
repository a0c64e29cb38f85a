package worker

import (
	"context"
	"testing"
	"time"

	"github.com/slbdrain/slbdrain/internal/slbsim"
	"github.com/slbdrain/slbdrain/messages"
)

// A worker that dies mid-burst without acking (its connection closed
// abruptly) loses nothing: a restarted worker finishes the rest, and every
// request ends in exactly one event in SLB_DRAIN_EVENTS.
func TestCrashMidBurstThenRestart(t *testing.T) {
	h := newHarness(t, slbsim.Config{Latency: 20 * time.Millisecond})
	ids := h.publishSpread(t, "crash", 10, 20)
	cfg := testConfig()
	cfg.SLBQPS = 50
	cfg.ShutdownTimeout = time.Second

	_, stop, nc := h.startWorker(cfg)
	h.events.waitCount(t, 20*time.Second, 20)
	nc.Close() // the crash: no more acks, no more events from this worker
	_ = stop()

	h.startWorker(cfg)
	outs := h.waitOutcomes(60*time.Second, ids...)
	assertAllCompleted(t, outs)

	// Count what the stream holds, not what a subscriber saw.
	stream, err := h.js.Stream(context.Background(), messages.EventStream)
	if err != nil {
		t.Fatal(err)
	}
	info, err := stream.Info(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if info.State.Msgs != uint64(len(ids)) {
		t.Errorf("events stream holds %d events for %d requests", info.State.Msgs, len(ids))
	}
	h.events.mu.Lock()
	defer h.events.mu.Unlock()
	for id, n := range h.events.count {
		if n != 1 {
			t.Errorf("%s has %d events", id, n)
		}
	}
	reqStream, err := h.js.Stream(context.Background(), messages.RequestStream)
	if err != nil {
		t.Fatal(err)
	}
	waitUntil(t, 10*time.Second, "requests stream empty (all acked)", func() bool {
		info, err := reqStream.Info(context.Background())
		return err == nil && info.State.Msgs == 0
	})
}
