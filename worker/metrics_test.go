package worker

import (
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/slbdrain/slbdrain/internal/slbsim"
	"github.com/slbdrain/slbdrain/messages"
)

// The metrics agree with what happened in an end-to-end run.
func TestMetricsCountWhatHappened(t *testing.T) {
	h := newHarness(t, slbsim.Config{})
	s := h.seedGroup("rsp-metrics", 45)
	h.sim.AddInstances(testRegion, "i-lost")
	reg := prometheus.NewRegistry()
	w, _, _ := h.startWorker(testConfig(), WithRegisterer(reg))

	h.publish(req("m-large", "rsp-metrics", s...))
	h.publish(req("m-unknown-group", "rsp-nosuchgroup", messages.BackendServer{ServerID: "i-lost", Port: 80}))
	h.publishRaw(messages.RequestSubject(testRegion, "rsp-metrics"), []byte(`{"version":1,"request_id":"m-invalid"}`), "")
	h.waitOutcomes(10*time.Second, "m-large", "m-unknown-group", "m-invalid")
	m := w.m
	waitUntil(t, 5*time.Second, "all outcomes counted", func() bool {
		return testutil.ToFloat64(m.outcomes.WithLabelValues("completed"))+
			testutil.ToFloat64(m.outcomes.WithLabelValues("failed"))+
			testutil.ToFloat64(m.outcomes.WithLabelValues("rejected")) == 3
	})

	for _, c := range []struct {
		name      string
		got, want float64
	}{
		{"requests received", testutil.ToFloat64(m.requestsReceived), 3},
		{"completed", testutil.ToFloat64(m.outcomes.WithLabelValues("completed")), 1},
		{"failed", testutil.ToFloat64(m.outcomes.WithLabelValues("failed")), 1},
		{"rejected", testutil.ToFloat64(m.outcomes.WithLabelValues("rejected")), 1},
		{"ok calls", testutil.ToFloat64(m.apiCalls.WithLabelValues("ok", testRegion, ActionRemove)), 3},
		{"permanent calls", testutil.ToFloat64(m.apiCalls.WithLabelValues("permanent", testRegion, ActionRemove)), 1},
		{"emulator's remove calls", float64(h.sim.Stats().RemoveCalls), 4},
		{"held requests", testutil.ToFloat64(m.heldRequests), 0},
		{"calls in flight", testutil.ToFloat64(m.callsInFlight), 0},
		{"rate limit", testutil.ToFloat64(m.rateLimit), testConfig().SLBQPS},
		{"redeliveries", testutil.ToFloat64(m.redeliveries), 0},
		{"publish failures", testutil.ToFloat64(m.publishFailures), 0},
	} {
		if c.got != c.want {
			t.Errorf("%s: %g, want %g", c.name, c.got, c.want)
		}
	}
	count, sum := histogram(t, reg, "slbdrain_servers_per_call")
	if count != 4 || sum != 46 {
		t.Errorf("servers per call: %d calls carrying %g servers, want 4 carrying 46 (20+20+5+1)", count, sum)
	}
	if count, _ := histogram(t, reg, "slbdrain_request_latency_seconds"); count != 3 {
		t.Errorf("request latency observed %d times, want 3", count)
	}
}

func histogram(t *testing.T, reg *prometheus.Registry, name string) (uint64, float64) {
	t.Helper()
	families, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range families {
		if f.GetName() == name {
			h := f.GetMetric()[0].GetHistogram()
			return h.GetSampleCount(), h.GetSampleSum()
		}
	}
	t.Fatalf("no metric family %s", name)
	return 0, 0
}

// A call slower than AckWait does not get its request redelivered: the
// heartbeat keeps it in progress.
func TestHeartbeatPreventsRedelivery(t *testing.T) {
	h := newHarness(t, slbsim.Config{Latency: 1500 * time.Millisecond})
	s := h.seedGroup("rsp-slow", 1)
	cfg := testConfig()
	cfg.AckWait = time.Second
	reg := prometheus.NewRegistry()
	w, _, _ := h.startWorker(cfg, WithRegisterer(reg))
	h.publish(req("slow-1", "rsp-slow", s[0]))
	o := h.waitOutcomes(10*time.Second, "slow-1")["slow-1"]
	if o.Status != messages.StatusCompleted || o.Attempts != 1 {
		t.Fatalf("%s after %d attempts", o.Status, o.Attempts)
	}
	if n := testutil.ToFloat64(w.m.redeliveries); n != 0 {
		t.Errorf("%g redeliveries of a request held past AckWait", n)
	}
	if n := h.sim.Stats().RemoveCalls; n != 1 {
		t.Errorf("%d calls, want 1", n)
	}
}
