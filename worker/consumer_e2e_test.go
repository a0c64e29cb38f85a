package worker

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/slbdrain/slbdrain/internal/slbsim"
	"github.com/slbdrain/slbdrain/messages"
)

// A consumer deleted under a running worker: the worker says it is not
// ready and why, re-creates its consumer, and drains again.
func TestDeletedConsumerIsRecreated(t *testing.T) {
	h := newHarness(t, slbsim.Config{})
	servers := h.seedGroup("rsp-deleted", 2)
	cfg := testConfig()
	w, _, _ := h.startWorker(cfg)
	h.publish(req("before-delete", "rsp-deleted", servers[0]))
	h.waitOutcomes(10*time.Second, "before-delete")

	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := h.js.DeleteConsumer(ctx, messages.RequestStream, cfg.Consumer); err != nil {
		t.Fatal(err)
	}
	// The worker may be ready again before a poll sees it not ready: its
	// log tells both steps.
	waitUntil(t, 20*time.Second, "the consumer re-created", func() bool {
		logs := h.logs.String()
		return strings.Contains(logs, "consume loop ended unasked") && strings.Contains(logs, "consumer re-created")
	})
	waitUntil(t, 10*time.Second, "ready again", func() bool { return w.Ready() == nil })
	h.publish(req("after-delete", "rsp-deleted", servers[1]))
	if o := h.waitOutcomes(10*time.Second, "after-delete")["after-delete"]; o.Status != messages.StatusCompleted {
		t.Fatalf("after the consumer was re-created: %+v, want completed", o)
	}
}

func TestHealthyUnlessWedged(t *testing.T) {
	clock := newFakeClock()
	w := &Worker{cfg: Config{WedgeTimeout: time.Minute}, clock: clock}
	w.ledger = newLedger(clock, newMetrics(nil), func(*request) {})
	if err := w.Healthy(); err != nil {
		t.Fatalf("idle worker unhealthy: %v", err)
	}
	clock.Advance(time.Hour) // idle a long time: holding nothing is not wedged
	w.ledger.hold(testRequest(1, "rsp-a", clock.Now(), time.Hour, server(1)))
	if err := w.Healthy(); err != nil {
		t.Fatalf("unhealthy right after taking work: %v", err)
	}
	clock.Advance(50 * time.Second)
	w.madeProgress()
	clock.Advance(50 * time.Second)
	if err := w.Healthy(); err != nil {
		t.Fatalf("unhealthy 50s after progress: %v", err)
	}
	clock.Advance(11 * time.Second)
	if err := w.Healthy(); err == nil || !strings.Contains(err.Error(), "no progress") {
		t.Fatalf("healthy after 61s without progress on held work: %v", err)
	}
	w.creds.fail(errThrottled)
	if err := w.Healthy(); err != nil {
		t.Errorf("waiting for credentials counted as wedged: %v", err)
	}
}

func TestBrokerBusyTellsNoAnswerFromNo(t *testing.T) {
	for _, c := range []struct {
		err  error
		busy bool
	}{
		{context.DeadlineExceeded, true},
		{fmt.Errorf("create bucket: %w", context.DeadlineExceeded), true},
		{nats.ErrNoResponders, true},
		{&jetstream.APIError{Code: 503, ErrorCode: 10008, Description: "JetStream system temporarily unavailable"}, true},
		{&jetstream.APIError{Code: 400, ErrorCode: 10058, Description: "stream name already in use with a different configuration"}, false},
		{errors.New("bad config"), false},
	} {
		if got := brokerBusy(c.err); got != c.busy {
			t.Errorf("%v: busy %v, want %v", c.err, got, c.busy)
		}
	}
}
