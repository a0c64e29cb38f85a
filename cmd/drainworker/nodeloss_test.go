package main

import (
	"context"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/slbdrain/slbdrain/internal/natstest"
	"github.com/slbdrain/slbdrain/messages"
	"github.com/slbdrain/slbdrain/worker"
)

// A 3-node cluster of nats-server processes with R3 streams loses, by
// SIGKILL mid-burst, the node that leads the events stream, or the one that
// leads the worker's consumer; the node comes back later. Nothing is lost
// and nothing doubled: every request ends in exactly one completed event,
// and no calls on a group overlap. The stall (longest wait for the next
// event after the kill) and the remove calls made after every event was
// stored are measured and logged.
func TestNodeLossOnProcessCluster(t *testing.T) {
	for _, tc := range []struct {
		name   string
		leader func(*testing.T, *natstest.ProcessCluster) int
	}{
		{"events-stream-leader", func(t *testing.T, c *natstest.ProcessCluster) int {
			return c.StreamLeader(t, messages.EventStream)
		}},
		{"consumer-leader", func(t *testing.T, c *natstest.ProcessCluster) int {
			return c.ConsumerLeader(t, messages.RequestStream, worker.DefaultConfig().Consumer)
		}},
	} {
		t.Run(tc.name, func(t *testing.T) { nodeLoss(t, tc.leader) })
	}
}

func nodeLoss(t *testing.T, leaderOf func(*testing.T, *natstest.ProcessCluster) int) {
	const (
		groups   = 20
		perGroup = 100
	)
	c := natstest.StartProcessCluster(t, 3)
	nc, js := natstest.Connect(t, c.URLs())
	sim, simURL := simWithGroups(t, 10*time.Millisecond, groups, perGroup+1)
	cfg := worker.DefaultConfig()
	cfg.StreamReplicas = 3
	createStreams(t, js, cfg, nil)
	metrics := freeAddr(t)
	w := startBinary(t, credsEnv(), procArgs(c.URLs(), simURL, metrics, "--stream-replicas", "3", "--slb-qps", "50")...)
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("drainworker's log (last 16 KiB):\n%s", tailOf(w.stderr.String(), 16<<10))
		}
	})
	waitReady(t, w, metrics)
	// Progress is what the events stream stores: a follower's consumer has
	// its own outage when its node goes.
	storedCount := func() int {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer cancel()
		s, err := js.Stream(ctx, messages.EventStream)
		if err != nil {
			return -1
		}
		return int(s.CachedInfo().State.Msgs)
	}

	var reqs []messages.DrainRequest
	var ids []string
	for i := range perGroup {
		for g := range groups {
			id := fmt.Sprintf("nodeloss-g%d-%03d", g, i)
			reqs, ids = append(reqs, oneServerRequest(id, g, i)), append(ids, id)
		}
	}
	published := make(chan error, 1)
	go func() { published <- publishAll(nc, reqs) }()
	pollUntil(t, 60*time.Second, "300 events stored", func() bool { return storedCount() >= 300 })

	node := leaderOf(t, c)
	killAt, atKill := time.Now(), storedCount()
	c.Node(node).Kill()
	t.Logf("killed node %d (%s) at %d events", node, c.Node(node).Name(), atKill)
	pollUntil(t, 60*time.Second, "progress without the node", func() bool { return storedCount() >= min(atKill+300, len(ids)) })
	c.Node(node).Restart()
	if err := <-published; err != nil {
		t.Fatal(err)
	}
	pollUntil(t, 90*time.Second, "every event stored", func() bool { return storedCount() >= len(ids) })
	allIn := time.Now()
	callsAllIn := sim.Stats().RemoveCalls
	waitStreamEmpty(t, js, 60*time.Second)
	c.WaitStreamCurrent(t, messages.EventStream)
	assertOnceCompleted(t, js, ids)
	st := sim.Stats()
	if st.Overlaps != 0 {
		t.Errorf("%d overlapping calls on a group", st.Overlaps)
	}

	// The stall: the longest the events stream went without storing an
	// event, from the kill on (the stream's own timestamps: a follower's
	// consumer has its own stall when its node goes).
	var stored []time.Time
	for _, evs := range scanEvents(t, js) {
		for _, e := range evs {
			stored = append(stored, e.stored)
		}
	}
	slices.SortFunc(stored, time.Time.Compare)
	prev, stall := killAt, time.Duration(0)
	for _, at := range stored {
		if at.Before(killAt) {
			continue
		}
		stall = max(stall, at.Sub(prev))
		prev = at
	}
	t.Logf("FIGURE node loss (%s): longest gap between stored events after the kill %s; all %d events stored %s after the kill; "+
		"%d remove calls (%d at least), %d made after every event was in (all acked %s later)",
		c.Node(node).Name(), stall.Round(time.Millisecond), len(ids), prev.Sub(killAt).Round(time.Millisecond),
		st.RemoveCalls, len(ids)/20, st.RemoveCalls-callsAllIn, time.Since(allIn).Round(time.Millisecond))
}

func tailOf(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return "..." + s[len(s)-n:]
}
