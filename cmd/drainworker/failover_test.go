package main

import (
	"context"
	"fmt"
	"syscall"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/slbdrain/slbdrain/internal/natstest"
	"github.com/slbdrain/slbdrain/messages"
	"github.com/slbdrain/slbdrain/worker"
)

// A graceful restart and a standby failover, measured (logged, not
// asserted: a benchmark, not a timed test): two drainworker processes on the
// same consumer (the default pinned priority group), then one alone, on a
// nats-server process and on a 3-node cluster of them (R3 streams). Each
// drain must complete, exactly once, with no overlapping calls.
func TestRestartAndFailoverTimes(t *testing.T) {
	t.Run("single", func(t *testing.T) {
		srv := natstest.StartProcess(t, natstest.ProcessOptions{})
		restartAndFailover(t, srv.URL(), 1)
	})
	t.Run("cluster3", func(t *testing.T) {
		c := natstest.StartProcessCluster(t, 3)
		restartAndFailover(t, c.URLs(), 3)
	})
}

func restartAndFailover(t *testing.T, natsURL string, replicas int) {
	_, js := natstest.Connect(t, natsURL)
	sim, simURL := simWithGroups(t, 5*time.Millisecond, 1, 20)
	cfg := worker.DefaultConfig()
	cfg.StreamReplicas = replicas
	createStreams(t, js, cfg, nil)
	events := followOutcomes(t, js)
	args := func(metrics string) []string {
		return procArgs(natsURL, simURL, metrics, "--stream-replicas", fmt.Sprint(replicas))
	}

	var ids []string
	next := 0
	drain := func() string {
		t.Helper()
		id := fmt.Sprintf("failover-%d", next)
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if _, err := messages.Publish(ctx, js, oneServerRequest(id, 0, next)); err != nil {
			t.Fatal(err)
		}
		next++
		ids = append(ids, id)
		return id
	}
	// completedAfter waits for the event of id and says how long after t0 the
	// test received it.
	completedAfter := func(id string, t0 time.Time) time.Duration {
		t.Helper()
		s := events.waitIDs(t, 60*time.Second, id)[id]
		if s.o.Status != messages.StatusCompleted {
			t.Errorf("%s: %s %+v, want completed", id, s.o.Status, s.o.Error)
		}
		return s.at.Sub(t0)
	}

	type replica struct {
		p       *process
		metrics string
	}
	start := func(metrics string) replica {
		return replica{startBinary(t, credsEnv(), args(metrics)...), metrics}
	}
	a, b := start(freeAddr(t)), start(freeAddr(t))
	waitReady(t, a.p, a.metrics)
	waitReady(t, b.p, b.metrics)
	warm := drain()
	completedAfter(warm, time.Now())
	received := func(r replica) float64 { return scrapeMetric(r.metrics, "slbdrain_requests_received_total") }
	active, standby := a, b
	if received(b) > 0 {
		active, standby = b, a
	}
	if received(active) <= 0 || received(standby) != 0 {
		t.Fatalf("requests received: %g and %g; want one replica active (pinned), the other idle",
			received(active), received(standby))
	}

	// 1. Graceful stop of the active replica, the standby there.
	waitPulling(t, js, 2)
	t0 := time.Now()
	if err := active.p.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	exited := exitTime(active.p)
	took := completedAfter(drain(), t0)
	if err := waitExit(t, active.p, 20*time.Second); err != nil {
		t.Errorf("active replica exited with %v after SIGTERM, want 0", err)
	}
	t.Logf("FIGURE replicas=%d: SIGTERM of the active replica, standby present -> next drain completed %s later (the replica exited after %s)",
		replicas, took.Round(time.Millisecond), (<-exited).Sub(t0).Round(time.Millisecond))
	active, standby = standby, start(active.metrics) // the rolling restart brings it back as the standby
	waitReady(t, standby.p, standby.metrics)
	completedAfter(drain(), time.Now())
	if received(standby) != 0 {
		t.Errorf("the restarted replica received %g requests while the other holds the pin", received(standby))
	}

	// 2. Crash of the active replica: the pin moves after the pinned TTL.
	waitPulling(t, js, 2)
	t0 = time.Now()
	sigkill(t, active.p)
	took = completedAfter(drain(), t0)
	t.Logf("FIGURE replicas=%d: SIGKILL of the active replica, standby present -> next drain completed %s later",
		replicas, took.Round(time.Millisecond))
	active = standby

	// 3. Restart without a standby: stop, start again, publish at once.
	waitPulling(t, js, 1)
	t0 = time.Now()
	if err := active.p.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	if err := waitExit(t, active.p, 20*time.Second); err != nil {
		t.Errorf("replica exited with %v after SIGTERM, want 0", err)
	}
	relaunch := time.Now()
	active = start(active.metrics)
	took = completedAfter(drain(), relaunch)
	t.Logf("FIGURE replicas=%d: restart without a standby -> drain published at relaunch completed %s after it (%s after SIGTERM; the old process took %s to exit)",
		replicas, took.Round(time.Millisecond), (took + relaunch.Sub(t0)).Round(time.Millisecond), relaunch.Sub(t0).Round(time.Millisecond))

	waitStreamEmpty(t, js, 30*time.Second)
	assertOnceCompleted(t, js, ids)
	if st := sim.Stats(); st.Overlaps != 0 {
		t.Errorf("%d overlapping calls on a group", st.Overlaps)
	}
}

// waitPulling waits until the worker's consumer has at least n pull
// requests waiting: that many replicas pull, the standbys too. A replica
// is ready before its first pull is in place (on a cluster, a pull sent
// right after the consumer is created can go unanswered until the pull's
// heartbeat times out), and a failover measured then would measure that.
func waitPulling(t *testing.T, js jetstream.JetStream, n int) {
	t.Helper()
	pollUntil(t, 30*time.Second, fmt.Sprintf("%d pull requests waiting on the consumer", n), func() bool {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer cancel()
		c, err := js.Consumer(ctx, messages.RequestStream, worker.DefaultConfig().Consumer)
		if err != nil {
			return false
		}
		info, err := c.Info(ctx)
		return err == nil && info.NumWaiting >= n
	})
}

// exitTime tells when p exits (leaving its exit error for waitExit).
func exitTime(p *process) <-chan time.Time {
	ch := make(chan time.Time, 1)
	go func() {
		err := <-p.done
		ch <- time.Now()
		p.done <- err
	}()
	return ch
}
