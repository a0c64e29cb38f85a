package main

import (
	"context"
	"fmt"
	"time"

	"github.com/slbdrain/slbdrain/internal/slbsim"
	"github.com/slbdrain/slbdrain/messages"
)

// quota: the account's API quota is the limit. The emulator allows 20 calls
// a second (burst 20) and answers in 20ms; the worker runs with its default
// ceiling of 20 calls/s. No system can drain faster than the fewest calls at
// the quota's pace, Σ⌈n/20⌉ / 20 s: that is the bound slbdrain is held to.
//
// The naive worker needs one call per request, about 100 s for the full
// set: it drains a random sample (-naive-sample, 2.5% by default) and its time
// and calls are scaled up to the full set, which is exact for a worker whose
// pace is one call per request at a fixed rate.
func runQuota(ctx context.Context, o options) ([]*result, error) {
	const (
		quota   = 20
		latency = 20 * time.Millisecond
	)
	start := time.Now()
	n, groups := o.scale(2000, 40)
	wl := uniformWorkload(n, groups, 2)
	msgs, err := encode(wl.reqs)
	if err != nil {
		return nil, err
	}
	ideal := float64(idealCalls(wl.reqs, messages.MaxBatch))
	bound := ideal / quota
	m := o.naiveSampleOf(n, 0.025, 0.10)
	scale := float64(n) / float64(m)

	cfg := benchConfig() // slb-qps 20: the default, and the quota
	r := newResult("quota",
		fmt.Sprintf("%d single-server requests over %d groups, published at once; emulator quota %d calls/s (burst %d), %s; slb-qps %.0f (default)",
			n, groups, quota, quota, latency, cfg.SLBQPS),
		o, start, map[string]any{"requests": n, "groups": groups, "quota_qps": quota, "quota_burst": quota,
			"latency_ms": latency.Milliseconds(), "slb_qps": cfg.SLBQPS, "ideal_calls": ideal, "bound_s": bound,
			"naive_sample_requests": m})
	systems := []system{slbdrainSystem{cfg: cfg}, naiveSystem{cfg: cfg}}
	runs, err := alternate(ctx, o, systems, "quota", func(ctx context.Context, run int, sys system) (figures, error) {
		t := trial{
			sim: slbsim.Config{QPS: quota, Burst: quota, Latency: latency, Seed: int64(run + 1)},
			cfg: cfg, wl: wl, msgs: msgs, blockRate: o.blockRate, timeout: 3 * time.Minute,
		}
		if sys.name() == sysNaive {
			t.msgs = msgs[:m]
		}
		res, err := runTrial(ctx, sys, t)
		if err != nil {
			return nil, err
		}
		f := runFigures(res)
		if sys.name() == sysNaive {
			scaleUp(f, scale)
		}
		f["drain_vs_bound"] = f["drain_s"] / bound
		return f, nil
	})
	if err != nil {
		return nil, err
	}
	r.finish([]string{sysSlbdrain, sysNaive}, runs, start)
	r.addGoal(atMost("drain_vs_quota_bound",
		fmt.Sprintf("slbdrain drain time / bound Σ⌈n/20⌉/%d = %.2fs", quota, bound), r.median(sysSlbdrain, "drain_s")/bound, 1.10))
	r.addRatio("naive_drain_vs_slbdrain", "naive drain time (scaled) / slbdrain drain time",
		ratioOf(r.median(sysNaive, "drain_s"), r.median(sysSlbdrain, "drain_s")))
	r.columns = []column{
		{"drain_s", "drain s", "%.2f"},
		{"drain_vs_bound", "÷ bound", "%.3f"},
		{"msgs_per_s", "req/s", "%.1f"},
		{"api_calls", "API calls", "%.0f"},
		{"servers_per_call", "servers/call", "%.1f"},
		{"throttled", "throttled", "%.0f"},
	}
	r.Notes = append(r.Notes, naiveNote(m, n))
	return []*result{r}, nil
}

func naiveNote(m, n int) string {
	if m == n {
		return "naive: measured on all the requests"
	}
	return fmt.Sprintf("naive: measured on %d of the %d requests, its drain time and counts scaled ×%.1f (measured: sample_* in -json)",
		m, n, float64(n)/float64(m))
}

// scaleUp turns a sample's figures into estimates for the full set, keeping
// the measured ones under sample_*.
func scaleUp(f figures, scale float64) {
	for _, k := range []string{"drain_s", "api_calls", "api_ok", "throttled", "requests"} {
		f["sample_"+k] = f[k]
		f[k] *= scale
	}
}
