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

// The events stream unavailable for a while, then back: on a nats-server
// process, SLB_DRAIN_EVENTS stops listening on its subjects (its events
// kept), so every event publish fails with no responders, for twice the
// AckWait. Nothing is lost: every request ends in exactly one event once the
// stream is back; nothing twice: no request is drained again (its heartbeat
// held it while its publish was retried).
func TestEventsStreamOutage(t *testing.T) {
	const (
		groups = 10
		before = 10 // requests per group before the outage
		during = 20 // requests per group published during it
		// ackWait is procArgs' --ack-wait.
		ackWait = 3 * time.Second
	)
	srv := natstest.StartProcess(t, natstest.ProcessOptions{})
	nc, js := natstest.Connect(t, srv.URL())
	sim, simURL := simWithGroups(t, 5*time.Millisecond, groups, before+during+1)
	createStreams(t, js, worker.DefaultConfig(), nil)
	events := followOutcomes(t, js)
	metrics := freeAddr(t)
	w := startBinary(t, credsEnv(), procArgs(srv.URL(), simURL, metrics)...)
	waitReady(t, w, metrics)

	batch := func(from, to int) ([]messages.DrainRequest, []string) {
		var reqs []messages.DrainRequest
		var ids []string
		for i := from; i < to; i++ {
			for g := range groups {
				id := fmt.Sprintf("outage-g%d-%03d", g, i)
				reqs, ids = append(reqs, oneServerRequest(id, g, i)), append(ids, id)
			}
		}
		return reqs, ids
	}
	reqs1, ids1 := batch(0, before)
	if err := publishAll(nc, reqs1); err != nil {
		t.Fatal(err)
	}
	events.waitIDs(t, 30*time.Second, ids1...)

	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	eventsCfg := worker.EventStreamConfig(worker.DefaultConfig())
	parked := eventsCfg
	parked.Subjects = []string{"slb.drain.parked.>"}
	if _, err := js.UpdateStream(ctx, parked); err != nil {
		t.Fatal(err)
	}
	down := time.Now()
	reqs2, ids2 := batch(before, before+during)
	if err := publishAll(nc, reqs2); err != nil {
		t.Fatal(err)
	}
	// The worker drained them and failed to publish their events; the
	// outage lasts on past twice the AckWait, so only heartbeats keep the
	// requests from being redelivered.
	pollUntil(t, 60*time.Second, "every server of the outage removed, event publishes failing, 2 AckWaits passed", func() bool {
		for g := range groups {
			if left, _ := sim.Backends(region, fmt.Sprintf("rsp-g%d", g)); len(left) != 1 {
				return false
			}
		}
		return scrapeMetric(metrics, "slbdrain_event_publish_failures_total") > 0 && time.Since(down) > 2*ackWait
	})
	callsDown := sim.Stats().RemoveCalls
	failures := scrapeMetric(metrics, "slbdrain_event_publish_failures_total")
	if _, err := js.UpdateStream(ctx, eventsCfg); err != nil {
		t.Fatal(err)
	}
	up := time.Now()
	got := events.waitIDs(t, 60*time.Second, ids2...)
	var last time.Time
	for _, s := range got {
		if s.at.After(last) {
			last = s.at
		}
	}
	t.Logf("FIGURE events stream away for %s (%g failed publishes): back -> all %d held events stored %s later",
		up.Sub(down).Round(time.Millisecond), failures, len(ids2), last.Sub(up).Round(time.Millisecond))

	waitStreamEmpty(t, js, 30*time.Second)
	assertOnceCompleted(t, js, append(ids1, ids2...))
	st := sim.Stats()
	if st.RemoveCalls != callsDown {
		t.Errorf("%d remove calls after the events stream came back, every server already removed: requests drained twice",
			st.RemoveCalls-callsDown)
	}
	if st.Overlaps != 0 {
		t.Errorf("%d overlapping calls on a group", st.Overlaps)
	}
	if n := scrapeMetric(metrics, "slbdrain_redeliveries_total"); n != 0 {
		t.Errorf("%g redeliveries: the heartbeat did not hold the requests while their events waited", n)
	}
}
