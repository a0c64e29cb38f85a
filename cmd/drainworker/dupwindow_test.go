package main

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/slbdrain/slbdrain/internal/natstest"
	"github.com/slbdrain/slbdrain/internal/slbsim"
	"github.com/slbdrain/slbdrain/messages"
	"github.com/slbdrain/slbdrain/worker"
)

// Requests re-published after the streams' duplicate window, which
// JetStream therefore stores again, get no second event and no second
// remove call: the worker remembers their outcomes. Both streams are
// created by the test with a 1s window (the worker requires 2m of the
// streams it creates, and leaves existing ones alone), so neither stream's
// deduplication can hide a repeat.
func TestRepublishAfterDuplicateWindow(t *testing.T) {
	const (
		groups   = 4
		perGroup = 5
		window   = time.Second
	)
	srv := natstest.StartProcess(t, natstest.ProcessOptions{})
	_, js := natstest.Connect(t, srv.URL())
	sim, simURL := simWithGroups(t, 0, groups, perGroup+1)
	createStreams(t, js, worker.DefaultConfig(), func(sc *jetstream.StreamConfig) { sc.Duplicates = window })
	events := followOutcomes(t, js)
	metrics := freeAddr(t)
	w := startBinary(t, credsEnv(), procArgs(srv.URL(), simURL, metrics)...)
	waitReady(t, w, metrics)

	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	var reqs []messages.DrainRequest
	var ids []string
	first := map[string]uint64{}
	for g := range groups {
		for i := range perGroup {
			req := oneServerRequest(fmt.Sprintf("dupwin-g%d-%d", g, i), g, i)
			ack, err := messages.Publish(ctx, js, req)
			if err != nil {
				t.Fatal(err)
			}
			reqs, ids, first[req.RequestID] = append(reqs, req), append(ids, req.RequestID), ack.Sequence
		}
	}
	events.waitIDs(t, 30*time.Second, ids...)
	waitStreamEmpty(t, js, 30*time.Second)
	before := removeCallsByGroup(sim)
	for g := range groups {
		if group := fmt.Sprintf("rsp-g%d", g); before[group] == 0 {
			t.Fatalf("no remove call on %s for its first requests", group)
		}
	}

	// Re-publish each request once the window has passed for it: until
	// then JetStream answers that it is a duplicate and stores nothing.
	var last uint64
	republish := time.Now()
	for _, req := range reqs {
		pollUntil(t, 10*window, "the duplicate window of "+req.RequestID+" to pass", func() bool {
			ack, err := messages.Publish(ctx, js, req)
			if err != nil {
				t.Fatal(err)
			}
			if ack.Duplicate {
				return false
			}
			if ack.Sequence <= first[req.RequestID] {
				t.Fatalf("re-publication of %s stored as sequence %d, first as %d", req.RequestID, ack.Sequence, first[req.RequestID])
			}
			last = max(last, ack.Sequence)
			return true
		})
	}
	t.Logf("re-published %d requests %s after their outcomes, once their duplicate window of %s had passed",
		len(reqs), time.Since(republish).Round(time.Millisecond), window)
	// The worker has taken them all once the consumer's ack floor passed the
	// last one and nothing is pending or unacked.
	pollUntil(t, 30*time.Second, fmt.Sprintf("the consumer's ack floor at sequence %d", last), func() bool {
		c, err := js.Consumer(ctx, messages.RequestStream, worker.DefaultConfig().Consumer)
		if err != nil {
			return false
		}
		info, err := c.Info(ctx)
		return err == nil && info.AckFloor.Stream >= last && info.NumAckPending == 0 && info.NumPending == 0
	})
	waitStreamEmpty(t, js, 10*time.Second)

	assertOnceCompleted(t, js, ids)
	after := removeCallsByGroup(sim)
	for group, n := range after {
		if n != before[group] {
			t.Errorf("%s: %d remove calls after the re-publications, %d before", group, n, before[group])
		}
	}
	if n := scrapeMetric(metrics, "slbdrain_known_outcomes_total"); n != float64(len(ids)) {
		t.Errorf("slbdrain_known_outcomes_total %g, want %d (every re-publication answered from the outcomes bucket)", n, len(ids))
	}
}

// removeCallsByGroup counts the emulator's remove calls per VServer group.
func removeCallsByGroup(sim *slbsim.Sim) map[string]int {
	out := map[string]int{}
	for _, c := range sim.Calls() {
		if c.Action == worker.ActionRemove {
			out[c.GroupID]++
		}
	}
	return out
}
