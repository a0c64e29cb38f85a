package main

import (
	"context"
	"fmt"
	"time"

	"github.com/slbdrain/slbdrain/internal/slbsim"
)

// throughput: the broker is the limit. The API answers at once and has no
// quota, the worker's ceiling is out of the way (100,000 calls/s) and its
// concurrency is the default; the requests are published first and the
// system started on them, so what is timed is the system alone, start to
// last event. slbdrain is held to 70% of the raw pipeline, which does
// everything slbdrain does with the broker and nothing else.
func runThroughput(ctx context.Context, o options) ([]*result, error) {
	const qps = 100000
	start := time.Now()
	n, groups := o.scale(20000, 1000)
	wl := uniformWorkload(n, groups, 3)
	msgs, err := encode(wl.reqs)
	if err != nil {
		return nil, err
	}
	cfg := benchConfig()
	cfg.SLBQPS = qps
	r := newResult("throughput",
		fmt.Sprintf("%d single-server requests over %d groups, published before the system starts; emulator: no latency, no quota; slb-qps %d, concurrency %d",
			n, groups, qps, cfg.Concurrency),
		o, start, map[string]any{"requests": n, "groups": groups, "slb_qps": qps, "concurrency": cfg.Concurrency,
			"max_ack_pending": cfg.MaxAckPending})
	systems := []system{slbdrainSystem{cfg: cfg}, rawSystem{cfg: cfg}}
	runs, err := alternate(ctx, o, systems, "throughput", func(ctx context.Context, run int, sys system) (figures, error) {
		res, err := runTrial(ctx, sys, trial{
			sim: slbsim.Config{Seed: int64(run + 1)},
			cfg: cfg, wl: wl, msgs: msgs, blockRate: o.blockRate, prePublish: true, timeout: 3 * time.Minute,
		})
		if err != nil {
			return nil, err
		}
		return runFigures(res), nil
	})
	if err != nil {
		return nil, err
	}
	r.finish([]string{sysSlbdrain, sysRaw}, runs, start)
	r.addGoal(atLeast("msgs_per_s_vs_raw", "slbdrain req/s / raw pipeline req/s",
		r.median(sysSlbdrain, "msgs_per_s")/r.median(sysRaw, "msgs_per_s"), 0.70))
	r.columns = []column{
		{"drain_s", "drain s", "%.2f"},
		{"msgs_per_s", "req/s", "%.0f"},
		{"api_calls", "API calls", "%.0f"},
		{"servers_per_call", "servers/call", "%.1f"},
	}
	return []*result{r}, nil
}
