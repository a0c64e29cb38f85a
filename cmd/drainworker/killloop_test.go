package main

import (
	"fmt"
	"math/rand/v2"
	"os"
	"strconv"
	"testing"
	"time"

	"github.com/slbdrain/slbdrain/internal/natstest"
	"github.com/slbdrain/slbdrain/messages"
	"github.com/slbdrain/slbdrain/worker"
)

// killLoopSeed seeds the kill moments; DRAIN_KILL_SEED replays another run.
const killLoopSeed = 20261127

// Ten SIGKILLs at random moments of a 10,000-request burst, drainworker on a
// separate nats-server process and restarted after each kill: every request
// ends in exactly one event, completed, and no two calls on a group ever
// overlap. A killed worker's held requests come back after AckWait, and its
// pin moves to the restarted worker after the pinned TTL.
func TestKillLoopOnNATSProcess(t *testing.T) {
	const (
		groups   = 50
		perGroup = 200 // one server per group stays: a guard may keep the last
		kills    = 10
	)
	seed := uint64(killLoopSeed)
	if s := os.Getenv("DRAIN_KILL_SEED"); s != "" {
		v, err := strconv.ParseUint(s, 10, 64)
		if err != nil {
			t.Fatalf("DRAIN_KILL_SEED=%q: %v", s, err)
		}
		seed = v
	}
	rng := rand.New(rand.NewPCG(seed, seed^0x51bd))
	t.Logf("kill loop seed %d (DRAIN_KILL_SEED replays one)", seed)
	begin := time.Now()

	srv := natstest.StartProcess(t, natstest.ProcessOptions{})
	nc, js := natstest.Connect(t, srv.URL())
	sim, simURL := simWithGroups(t, 10*time.Millisecond, groups, perGroup+1)
	createStreams(t, js, worker.DefaultConfig(), nil)
	events := followOutcomes(t, js)
	metrics := freeAddr(t)
	args := procArgs(srv.URL(), simURL, metrics)

	var reqs []messages.DrainRequest
	var ids []string
	for i := range perGroup {
		for g := range groups {
			id := fmt.Sprintf("kill-g%d-%03d", g, i)
			reqs = append(reqs, oneServerRequest(id, g, i))
			ids = append(ids, id)
		}
	}

	w := startBinary(t, credsEnv(), args...)
	waitReady(t, w, metrics)
	published := make(chan error, 1)
	go func() { published <- publishAll(nc, reqs) }()

	type killed struct {
		at     time.Time
		events int // events received when it was killed
	}
	var killsDone []killed
	for k := range kills {
		// A random moment of this incarnation's work: after it has added a
		// random number of events (it holds requests and has calls out).
		from := events.count()
		more := 1 + rng.IntN(900)
		events.wait(t, 60*time.Second, fmt.Sprintf("%d more events before kill %d", more, k+1), func(_ map[string][]seenEvent, n int) bool {
			return n >= min(from+more, len(ids))
		})
		sigkill(t, w)
		killsDone = append(killsDone, killed{at: time.Now(), events: events.count()})
		w = startBinary(t, credsEnv(), args...)
	}
	if err := <-published; err != nil {
		t.Fatal(err)
	}
	t.Logf("%d kills done after %s; waiting for the rest", kills, time.Since(begin).Round(time.Millisecond))
	events.waitIDs(t, 90*time.Second, ids...)
	waitStreamEmpty(t, js, 30*time.Second)
	assertOnceCompleted(t, js, ids)

	st := sim.Stats()
	if st.Overlaps != 0 {
		t.Errorf("%d calls on a group started while another one on it was in flight", st.Overlaps)
	}
	if st.ServersRemoved != int64(len(ids)) {
		t.Errorf("the emulator removed %d servers, want %d", st.ServersRemoved, len(ids))
	}
	for g := range groups {
		if left, _ := sim.Backends(region, fmt.Sprintf("rsp-g%d", g)); len(left) != 1 {
			t.Errorf("rsp-g%d keeps %d servers, want 1", g, len(left))
		}
	}
	if st.MaxBatch > 20 {
		t.Errorf("a remove call carried %d servers", st.MaxBatch)
	}

	// What each kill cost: from the kill to the first event a later
	// incarnation finished.
	all := events.all()
	for i, k := range killsDone {
		stall := time.Duration(-1)
		for _, s := range all {
			if s.o.FinishedAt.After(k.at) {
				stall = s.at.Sub(k.at)
				break
			}
		}
		t.Logf("kill %2d at %6d events: next completion %s later", i+1, k.events, stall.Round(time.Millisecond))
	}
	t.Logf("10,000 requests, %d kills: %s in all; %d remove calls (%d at least), %d servers removed, largest batch %d",
		kills, time.Since(begin).Round(time.Millisecond), st.RemoveCalls, len(ids)/20, st.ServersRemoved, st.MaxBatch)
}
