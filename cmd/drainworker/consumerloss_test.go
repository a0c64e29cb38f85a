package main

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/slbdrain/slbdrain/internal/natstest"
	"github.com/slbdrain/slbdrain/messages"
	"github.com/slbdrain/slbdrain/worker"
)

// The worker's durable consumer deleted under a running drainworker (an
// operator's mistake, a botched migration) on a nats-server process: the
// worker makes a new one and drains what is published after, each request
// exactly once. The time from the deletion to that drain is logged.
func TestConsumerDeletedUnderRunningWorker(t *testing.T) {
	srv := natstest.StartProcess(t, natstest.ProcessOptions{})
	_, js := natstest.Connect(t, srv.URL())
	sim, simURL := simWithGroups(t, 0, 1, 10)
	createStreams(t, js, worker.DefaultConfig(), nil)
	events := followOutcomes(t, js)
	metrics := freeAddr(t)
	w := startBinary(t, credsEnv(), procArgs(srv.URL(), simURL, metrics)...)
	waitReady(t, w, metrics)

	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	var ids []string
	drain := func(i int) string {
		t.Helper()
		id := fmt.Sprintf("consumer-loss-%d", i)
		if _, err := messages.Publish(ctx, js, oneServerRequest(id, 0, i)); err != nil {
			t.Fatal(err)
		}
		ids = append(ids, id)
		return id
	}
	events.waitIDs(t, 20*time.Second, drain(0))

	deleted := time.Now()
	if err := js.DeleteConsumer(ctx, messages.RequestStream, worker.DefaultConfig().Consumer); err != nil {
		t.Fatal(err)
	}
	id := drain(1)
	s := events.waitIDs(t, 30*time.Second, id)[id]
	t.Logf("FIGURE consumer deleted under the worker: the next drain completed %s later", s.at.Sub(deleted).Round(time.Millisecond))
	if _, err := js.Consumer(ctx, messages.RequestStream, worker.DefaultConfig().Consumer); err != nil {
		t.Errorf("the worker's consumer after it drained again: %v", err)
	}
	events.waitIDs(t, 20*time.Second, drain(2))
	waitStreamEmpty(t, js, 10*time.Second)
	assertOnceCompleted(t, js, ids)
	if st := sim.Stats(); st.Overlaps != 0 {
		t.Errorf("%d overlapping calls on a group", st.Overlaps)
	}
}
