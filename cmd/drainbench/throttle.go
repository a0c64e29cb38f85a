package main

import (
	"context"
	"fmt"
	"math"
	"slices"
	"time"

	"github.com/slbdrain/slbdrain/internal/slbsim"
	"github.com/slbdrain/slbdrain/messages"
)

// throttle: a bad day at the API. On top of a quota of 50 calls/s, 30% of
// the calls are answered Throttling and 5% ServiceUnavailable. Every request
// must still complete. Measured: API calls per successful call, calls the
// quota refused, and the adaptive rate (the worker's
// slbdrain_rate_limit_calls_per_second, sampled every 100ms): where it
// settles and how soon. The worker's ceiling is twice the quota, as when an
// operator does not know the account's quota exactly, so the adaptive rate
// has to find it.
//
// The naive worker (fixed rate at the same ceiling, same retry policy)
// drains a sample (-naive-sample) and is scaled up, as in quota.
func runThrottle(ctx context.Context, o options) ([]*result, error) {
	const (
		quota      = 50
		qps        = 2 * quota
		throttling = 0.30
		unavail    = 0.05
		latency    = 10 * time.Millisecond
		every      = 100 * time.Millisecond
	)
	start := time.Now()
	n, groups := o.scale(2000, 100)
	wl := uniformWorkload(n, groups, 6)
	msgs, err := encode(wl.reqs)
	if err != nil {
		return nil, err
	}
	m := o.naiveSampleOf(n, 0.025, 0.10)
	scale := float64(n) / float64(m)
	cfg := benchConfig()
	cfg.SLBQPS = qps
	r := newResult("throttle",
		fmt.Sprintf("%d single-server requests over %d groups, published at once; emulator quota %d calls/s, %.0f%% Throttling, %.0f%% ServiceUnavailable, %s; slb-qps %d",
			n, groups, quota, 100*throttling, 100*unavail, latency, qps),
		o, start, map[string]any{"requests": n, "groups": groups, "quota_qps": quota, "throttling": throttling,
			"service_unavailable": unavail, "latency_ms": latency.Milliseconds(), "slb_qps": qps, "naive_sample_requests": m})
	systems := []system{slbdrainSystem{cfg: cfg}, naiveSystem{cfg: cfg}}
	runs, err := alternate(ctx, o, systems, "throttle", func(ctx context.Context, run int, sys system) (figures, error) {
		t := trial{
			sim: slbsim.Config{QPS: quota, Latency: latency, Seed: int64(run + 1),
				Faults: slbsim.Faults{Throttling: throttling, ServiceUnavailable: unavail}},
			cfg: cfg, wl: wl, msgs: msgs, blockRate: o.blockRate, timeout: 3 * time.Minute,
		}
		if sys.name() == sysNaive {
			t.msgs = msgs[:m]
		} else {
			t.sample = func(r *running) (float64, error) { return gauge(r.gather, "slbdrain_rate_limit_calls_per_second") }
			t.sampleEvery = every
		}
		res, err := runTrial(ctx, sys, t)
		if err != nil {
			return nil, err
		}
		f := runFigures(res)
		f["calls_per_success"] = ratioOf(f["api_calls"], f["api_ok"])
		f["achieved_calls_per_s"] = ratioOf(f["api_calls"], f["drain_s"])
		quotaRefused, injected := 0, 0
		for _, c := range res.calls {
			switch {
			case c.Fault != "":
				injected++
			case c.Code == slbsim.CodeThrottlingUser:
				quotaRefused++
			}
		}
		f["quota_refused"] = float64(quotaRefused)
		f["faults_injected"] = float64(injected)
		if sys.name() == sysNaive {
			scaleUp(f, scale)
			f["quota_refused"] *= scale
			f["faults_injected"] *= scale
		}
		rateFigures(f, res.samples)
		return f, nil
	})
	if err != nil {
		return nil, err
	}
	r.finish([]string{sysSlbdrain, sysNaive}, runs, start)
	// The fewest calls, at the quota, when 35% of them fail whatever the pace.
	bound := float64(idealCalls(wl.reqs, messages.MaxBatch)) / (1 - throttling - unavail) / quota
	r.Params["fault_adjusted_bound_s"] = bound
	r.addRatio("drain_vs_fault_adjusted_bound", fmt.Sprintf("slbdrain drain / (ideal calls ÷ 65%% success ÷ quota = %.2fs)", bound),
		r.median(sysSlbdrain, "drain_s")/bound)
	r.addRatio("naive_calls_per_success_vs_slbdrain", "naive calls per success / slbdrain calls per success",
		ratioOf(r.median(sysNaive, "calls_per_success"), r.median(sysSlbdrain, "calls_per_success")))
	r.addRatio("naive_drain_vs_slbdrain", "naive drain time (scaled) / slbdrain drain time",
		ratioOf(r.median(sysNaive, "drain_s"), r.median(sysSlbdrain, "drain_s")))
	r.columns = []column{
		{"drain_s", "drain s", "%.2f"},
		{"api_calls", "API calls", "%.0f"},
		{"calls_per_success", "calls/success", "%.2f"},
		{"quota_refused", "quota refused", "%.0f"},
		{"achieved_calls_per_s", "calls/s", "%.1f"},
		{"rate_settled", "rate settled", "%.1f"},
		{"rate_settle_s", "settles at s", "%.2f"},
		{"rate_min", "rate min", "%.1f"},
		{"rate_max", "rate max", "%.1f"},
	}
	r.Notes = append(r.Notes,
		naiveNote(m, n),
		"rate: the worker's adaptive rate (calls/s) sampled every 100ms; it settles at the first sample after which every sample stays within ±25% of the median of the rest (rate settled)",
		"quota refused: Throttling.User answers (the quota); injected Throttling and 503 answers are faults_injected in -json")
	return []*result{r}, nil
}

// rateFigures summarises the adaptive rate's samples: its range, and when
// and where it settles.
func rateFigures(f figures, samples []sample) {
	if len(samples) == 0 {
		return
	}
	lo, hi := math.Inf(1), math.Inf(-1)
	for _, s := range samples {
		lo, hi = min(lo, s.v), max(hi, s.v)
	}
	f["rate_min"], f["rate_max"] = lo, hi
	for i := range samples {
		rest := make([]float64, 0, len(samples)-i)
		for _, s := range samples[i:] {
			rest = append(rest, s.v)
		}
		med := median(rest)
		if !slices.ContainsFunc(rest, func(v float64) bool { return math.Abs(v-med) > 0.25*med }) {
			f["rate_settle_s"] = samples[i].at.Seconds()
			f["rate_settled"] = med
			return
		}
	}
}
