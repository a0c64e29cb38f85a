package main

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/slbdrain/slbdrain/internal/slbsim"
	"github.com/slbdrain/slbdrain/messages"
	"github.com/slbdrain/slbdrain/worker"
)

// idle: one request at a time, each published only once the previous one's
// event arrived, with the API answering in 20ms. An idle worker should
// answer in one API round trip plus little: p50 within RTT + 10ms, RTT
// being the emulator's latency. The first requests warm the connections up
// and are not counted. The worker's ceiling is raised to 1,000 calls/s so
// that its limiter (one call per 50ms at the default 20/s) does not pace a
// loop that sends a request every ~25ms: idle means the quota is unused.
func runIdle(ctx context.Context, o options) ([]*result, error) {
	const (
		rtt    = 20 * time.Millisecond
		groups = 20
		qps    = 1000
	)
	start := time.Now()
	n := 200
	if o.requests > 0 {
		n = o.requests
	}
	warm := min(20, max(1, n/10))
	wl := uniformWorkload(warm+n, groups, 4)
	msgs, err := encode(wl.reqs)
	if err != nil {
		return nil, err
	}
	cfg := benchConfig()
	cfg.SLBQPS = qps
	r := newResult("idle",
		fmt.Sprintf("%d requests one at a time (after %d warm-up), each published once the previous event arrived; emulator latency %s; slb-qps %d, linger %s",
			n, warm, rtt, qps, cfg.Linger),
		o, start, map[string]any{"requests": n, "warmup": warm, "groups": groups, "rtt_ms": rtt.Milliseconds(),
			"slb_qps": qps, "linger_ms": float64(cfg.Linger) / float64(time.Millisecond)})
	systems := []system{slbdrainSystem{cfg: cfg}, naiveSystem{cfg: cfg}}
	runs, err := alternate(ctx, o, systems, "idle", func(ctx context.Context, run int, sys system) (figures, error) {
		return idleTrial(ctx, sys, slbsim.Config{Latency: rtt, Seed: int64(run + 1)}, cfg, wl, msgs, warm, o.blockRate)
	})
	if err != nil {
		return nil, err
	}
	r.finish([]string{sysSlbdrain, sysNaive}, runs, start)
	limit := float64(rtt.Milliseconds()) + 10
	r.addGoal(atMost("p50_latency_ms",
		fmt.Sprintf("slbdrain p50 publish → event, ms (RTT %dms + 10ms)", rtt.Milliseconds()), r.median(sysSlbdrain, "p50_ms"), limit))
	r.addRatio("p50_over_naive_ms", "slbdrain p50 - naive p50, ms",
		r.median(sysSlbdrain, "p50_ms")-r.median(sysNaive, "p50_ms"))
	r.columns = []column{
		{"p50_ms", "p50 ms", "%.1f"},
		{"p90_ms", "p90 ms", "%.1f"},
		{"p99_ms", "p99 ms", "%.1f"},
		{"max_ms", "max ms", "%.1f"},
		{"api_p50_ms", "API p50 ms", "%.1f"},
		{"api_calls", "API calls", "%.0f"},
	}
	r.Notes = append(r.Notes, "API p50: the emulator's own time per call (its latency included), as it logged them")
	return []*result{r}, nil
}

func idleTrial(ctx context.Context, sys system, simCfg slbsim.Config, cfg worker.Config, wl *workload, msgs []*nats.Msg, warm, blockRate int) (f figures, err error) {
	e, err := newEnv(ctx, simCfg, cfg, blockRate)
	if err != nil {
		return nil, err
	}
	defer func() { err = errors.Join(err, e.close()) }()
	e.seed(wl)
	e.events.expect(len(msgs))
	r, err := sys.start(ctx, e.natsURL(), e.simSrv.URL)
	if err != nil {
		return nil, err
	}
	stopped := false
	defer func() {
		if !stopped {
			err = errors.Join(err, r.stop())
		}
	}()
	if err := waitReady(ctx, r, 30*time.Second); err != nil {
		return nil, err
	}
	res := &trialResult{n: len(msgs)}
	var lat []float64
	for i, m := range msgs {
		got := e.events.await(m.Header.Get(messages.MsgIDHeader))
		t0 := time.Now()
		if err := e.publishSync(ctx, m); err != nil {
			return nil, err
		}
		select {
		case t1 := <-got:
			if i >= warm {
				lat = append(lat, float64(t1.Sub(t0))/float64(time.Millisecond))
			}
			continue
		case <-time.After(30 * time.Second):
			res.timedOut = true
		case <-ctx.Done():
			return nil, ctx.Err()
		}
		break
	}
	res.events = e.events.counts()
	if res.requestsLeft, res.eventsStored, err = e.waitSettled(ctx, 10*time.Second); err != nil {
		return nil, err
	}
	res.stats = e.sim.Stats()
	res.calls = e.sim.Calls()
	stopped = true
	if err := r.stop(); err != nil {
		return nil, err
	}
	f = runFigures(res)
	delete(f, "drain_s")
	delete(f, "msgs_per_s")
	slices.Sort(lat)
	for name, p := range map[string]float64{"p50_ms": 50, "p90_ms": 90, "p99_ms": 99, "max_ms": 100} {
		f[name] = percentile(lat, p)
	}
	var api []float64
	for _, c := range res.calls[min(warm, len(res.calls)):] {
		if c.Action == removeAction {
			api = append(api, float64(c.End.Sub(c.Start))/float64(time.Millisecond))
		}
	}
	slices.Sort(api)
	f["api_p50_ms"] = percentile(api, 50)
	return f, nil
}
