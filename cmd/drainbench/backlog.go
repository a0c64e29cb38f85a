package main

import (
	"context"
	"fmt"
	"time"

	"github.com/slbdrain/slbdrain/internal/slbsim"
)

// backlog: requests pile up while no worker runs (an outage, a deploy), then
// the worker starts on them. What is measured is the time to drain and the
// worker's peak memory, which MaxAckPending (default 20,000 held requests)
// is meant to bound: the goal is 100 MiB. The systems run in child processes
// so their resident set is theirs alone. The raw pipeline, also in a child,
// shows what the broker client costs on its own.
//
// The API answers in 2ms with no quota and the worker's ceiling is out of
// the way (100,000 calls/s): at 20 calls/s a 100,000-request backlog over
// 1,000 groups takes minutes and measures the quota, which the quota
// scenario does. With -full, the backlog is a 10k/50k/100k scale curve and
// a last result checks that the cost per request stays flat.
func runBacklog(ctx context.Context, o options) ([]*result, error) {
	sizes := []int{20000}
	if o.full {
		sizes = []int{10000, 50000, 100000}
	}
	if o.requests > 0 {
		sizes = []int{o.requests}
	}
	var out []*result
	for _, n := range sizes {
		r, err := backlogAt(ctx, o, n)
		if err != nil {
			return out, err
		}
		out = append(out, r)
	}
	if len(out) > 1 {
		out = append(out, backlogScale(o, out))
	}
	return out, nil
}

func backlogAt(ctx context.Context, o options, n int) (*result, error) {
	const (
		qps     = 100000
		latency = 2 * time.Millisecond
		rssGoal = 100 // MiB
	)
	start := time.Now()
	groups := min(1000, max(1, n/10)) // the same 1,000 groups at every size of the scale curve
	wl := uniformWorkload(n, groups, 5)
	msgs, err := encode(wl.reqs)
	if err != nil {
		return nil, err
	}
	cfg := benchConfig()
	cfg.SLBQPS = qps
	r := newResult("backlog",
		fmt.Sprintf("%d single-server requests over %d groups published first, then the system started in a child process; emulator %s, no quota; slb-qps %d, max-ack-pending %d",
			n, groups, latency, qps, cfg.MaxAckPending),
		o, start, map[string]any{"requests": n, "groups": groups, "latency_ms": latency.Milliseconds(), "slb_qps": qps,
			"max_ack_pending": cfg.MaxAckPending})
	systems := []system{slbdrainSystem{cfg: cfg, inChild: true, profiles: o.childProfiles}, rawSystem{cfg: cfg, inChild: true, profiles: o.childProfiles}}
	name := fmt.Sprintf("backlog %d", n)
	runs, err := alternate(ctx, o, systems, name, func(ctx context.Context, run int, sys system) (figures, error) {
		res, err := runTrial(ctx, sys, trial{
			sim: slbsim.Config{Latency: latency, Seed: int64(run + 1)},
			cfg: cfg, wl: wl, msgs: msgs, blockRate: o.blockRate, prePublish: true, timeout: max(3*time.Minute, time.Duration(n)*2*time.Millisecond),
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
	r.addGoal(atMost("peak_rss_mib", "slbdrain worker peak RSS (VmHWM), MiB",
		r.median(sysSlbdrain, "peak_rss_mib"), rssGoal))
	r.addRatio("drain_vs_raw", "slbdrain drain time / raw drain time",
		ratioOf(r.median(sysSlbdrain, "drain_s"), r.median(sysRaw, "drain_s")))
	r.columns = []column{
		{"drain_s", "drain s", "%.2f"},
		{"msgs_per_s", "req/s", "%.0f"},
		{"peak_rss_mib", "peak RSS MiB", "%.1f"},
		{"peak_heap_mib", "live heap MiB", "%.1f"},
		{"cpu_s", "CPU s", "%.2f"},
		{"cpu_us_per_req", "CPU µs/req", "%.0f"},
		{"api_calls", "API calls", "%.0f"},
		{"servers_per_call", "servers/call", "%.1f"},
	}
	r.Notes = append(r.Notes, "drain time runs from the child's start (process start included) to the last event",
		"live heap: the child's largest live Go heap after a GC cycle (/gc/heap/live:bytes); RSS adds the GC's headroom, stacks and the runtime")
	return r, nil
}

// backlogScale checks that the cost of a backlog grows linearly: the
// worker's CPU time per request at the largest size against the smallest.
func backlogScale(o options, sizes []*result) *result {
	first, last := sizes[0], sizes[len(sizes)-1]
	r := newResult("backlog-scale",
		fmt.Sprintf("cost per request from %v to %v requests", first.Params["requests"], last.Params["requests"]),
		o, first.Time, map[string]any{"sizes": len(sizes)})
	for _, s := range sizes {
		for _, sys := range s.Systems {
			sf := systemFigures{System: fmt.Sprintf("%s@%v", sys.System, s.Params["requests"]), Median: sys.Median, Runs: sys.Runs}
			r.Systems = append(r.Systems, sf)
		}
	}
	r.Complete = true
	for _, s := range sizes {
		r.Complete = r.Complete && s.Complete
	}
	r.addGoal(atMost("cpu_per_request_growth", "slbdrain CPU µs/request, largest ÷ smallest backlog",
		ratioOf(last.median(sysSlbdrain, "cpu_us_per_req"), first.median(sysSlbdrain, "cpu_us_per_req")), 1.25))
	r.addRatio("drain_per_request_growth", "slbdrain drain time per request, largest ÷ smallest",
		ratioOf(last.median(sysSlbdrain, "drain_s")/last.median(sysSlbdrain, "requests"),
			first.median(sysSlbdrain, "drain_s")/first.median(sysSlbdrain, "requests")))
	r.addRatio("rss_growth", "slbdrain peak RSS, largest ÷ smallest",
		ratioOf(last.median(sysSlbdrain, "peak_rss_mib"), first.median(sysSlbdrain, "peak_rss_mib")))
	r.columns = sizes[0].columns
	r.WallSeconds = time.Since(first.Time).Seconds()
	return r
}
