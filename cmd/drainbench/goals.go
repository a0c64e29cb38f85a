package main

import (
	"fmt"
	"time"

	"github.com/slbdrain/slbdrain/internal/slbsim"
)

// Each scenario's goals, and the bound each is held to, defined here where
// it is computed. The goals are tracked, not enforced: a run reports them
// met or not.

// judgeBurst: coalescing. The bound is the ideal, Σ⌈unique servers per group
// / 20⌉ (idealCalls): the fewest calls that can take the servers out.
func judgeBurst(p *plan, r *result) {
	const goal = 1.02 // × the ideal, while publishing
	r.addGoal(atMost("api_calls_vs_ideal", fmt.Sprintf("slbdrain API calls / ideal Σ⌈unique/20⌉ = %.0f", p.ideal),
		r.median(sysSlbdrain, "api_calls")/p.ideal, goal))
	r.addRatio("naive_calls_vs_slbdrain", "naive API calls / slbdrain API calls",
		ratioOf(r.median(sysNaive, "api_calls"), r.median(sysSlbdrain, "api_calls")))
	r.addRatio("naive_drain_vs_slbdrain", "naive drain time / slbdrain drain time",
		ratioOf(r.median(sysNaive, "drain_s"), r.median(sysSlbdrain, "drain_s")))
}

// quotaBound is the least time the quota allows, in seconds: the fewest
// calls (the ideal, Σ⌈n/20⌉ per group) at the quota's pace. No system can
// drain faster.
func quotaBound(p *plan) float64 { return p.ideal / p.sim.QPS }

func judgeQuota(p *plan, r *result) {
	const goal = 1.10 // × the bound
	bound := quotaBound(p)
	r.addGoal(atMost("drain_vs_quota_bound",
		fmt.Sprintf("slbdrain drain time / bound Σ⌈n/20⌉/%.0f = %.2fs", p.sim.QPS, bound), r.median(sysSlbdrain, "drain_s")/bound, goal))
	r.addRatio("naive_drain_vs_slbdrain", "naive drain time (scaled) / slbdrain drain time",
		ratioOf(r.median(sysNaive, "drain_s"), r.median(sysSlbdrain, "drain_s")))
}

// judgeThroughput: the bound is the raw pipeline's rate, which does
// everything slbdrain does with the broker and nothing else.
func judgeThroughput(_ *plan, r *result) {
	const goal = 0.70 // × raw's req/s
	r.addGoal(atLeast("msgs_per_s_vs_raw", "slbdrain req/s / raw pipeline req/s",
		ratioOf(r.median(sysSlbdrain, "msgs_per_s"), r.median(sysRaw, "msgs_per_s")), goal))
}

// idleOverhead is what an idle request may cost beyond its one API round
// trip, in ms: the broker both ways, the SDK and HTTP, the event. The
// round trip is the emulator's own time per call (api_p50_ms: its latency
// and its work), measured in the same run; so the bound is API p50 + 2ms.
const idleOverhead = 2.0

func judgeIdle(p *plan, r *result) {
	r.addGoal(atMost("p50_over_api_ms",
		fmt.Sprintf("slbdrain p50 publish → event − API p50 (emulator latency %dms), ms", p.sim.Latency.Milliseconds()),
		r.median(sysSlbdrain, "p50_over_api_ms"), idleOverhead))
	r.addRatio("p50_over_naive_ms", "slbdrain p50 - naive p50, ms",
		r.median(sysSlbdrain, "p50_ms")-r.median(sysNaive, "p50_ms"))
}

// judgeBacklog: the bound is a memory budget. MaxAckPending (20,000 held
// requests) bounds what the worker holds; 100 MiB is what that may cost.
func judgeBacklog(_ *plan, r *result) {
	const rssGoal = 100 // MiB
	r.addGoal(atMost("peak_rss_mib", "slbdrain worker peak RSS (VmHWM), MiB",
		r.median(sysSlbdrain, "peak_rss_mib"), rssGoal))
	r.addRatio("drain_vs_raw", "slbdrain drain time / raw drain time",
		ratioOf(r.median(sysSlbdrain, "drain_s"), r.median(sysRaw, "drain_s")))
}

// backlogCurve checks that the cost of a backlog grows linearly: the
// worker's CPU time per request at the largest size against the smallest.
func backlogCurve(o options, sizes []*result) *result {
	const goal = 1.25 // largest ÷ smallest
	first, last := sizes[0], sizes[len(sizes)-1]
	r := newResult("backlog-scale",
		fmt.Sprintf("cost per request from %v to %v requests", first.Params["requests"], last.Params["requests"]),
		o, first.Time, map[string]any{"sizes": len(sizes)})
	r.Complete = true
	for _, s := range sizes {
		for _, sys := range s.Systems {
			r.Systems = append(r.Systems, systemFigures{System: fmt.Sprintf("%s@%v", sys.System, s.Params["requests"]), Median: sys.Median, Runs: sys.Runs})
		}
		r.Complete = r.Complete && s.Complete
	}
	r.addGoal(atMost("cpu_per_request_growth", "slbdrain CPU µs/request, largest ÷ smallest backlog",
		ratioOf(last.median(sysSlbdrain, "cpu_us_per_req"), first.median(sysSlbdrain, "cpu_us_per_req")), goal))
	r.addRatio("drain_per_request_growth", "slbdrain drain time per request, largest ÷ smallest",
		ratioOf(last.median(sysSlbdrain, "drain_s")/last.median(sysSlbdrain, "requests"),
			first.median(sysSlbdrain, "drain_s")/first.median(sysSlbdrain, "requests")))
	r.addRatio("rss_growth", "slbdrain peak RSS, largest ÷ smallest",
		ratioOf(last.median(sysSlbdrain, "peak_rss_mib"), first.median(sysSlbdrain, "peak_rss_mib")))
	r.columns = first.columns
	r.WallSeconds = time.Since(first.Time).Seconds()
	return r
}

// faultAdjustedBound is the least time a fault storm allows, in seconds:
// the fewest calls, of which only the spared share succeeds whatever the
// pace, at the quota's pace.
func faultAdjustedBound(p *plan) float64 { return p.ideal / spared(p.sim.Faults) / p.sim.QPS }

// spared is the share of calls the injected faults let through.
func spared(f slbsim.Faults) float64 { return 1 - f.Throttling - f.ServiceUnavailable }

func judgeThrottle(p *plan, r *result) {
	// The faults are drawn after the quota admitted a call: a faulted call
	// spends the quota as any other, and the rate the storm leaves a worker
	// is the quota's whole rate.
	const rateGoal = 0.90 // × the quota's calls/s
	bound, success := faultAdjustedBound(p), spared(p.sim.Faults)
	r.Params["fault_adjusted_bound_s"] = bound
	r.addGoal(atLeast("calls_per_s_vs_quota", fmt.Sprintf("slbdrain calls/s during the drain / quota %.0f calls/s", p.sim.QPS),
		r.median(sysSlbdrain, "achieved_calls_per_s")/p.sim.QPS, rateGoal))
	r.addRatio("drain_vs_fault_adjusted_bound",
		fmt.Sprintf("slbdrain drain / (ideal calls ÷ %.0f%% success ÷ quota = %.2fs)", 100*success, bound),
		r.median(sysSlbdrain, "drain_s")/bound)
	r.addRatio("naive_calls_per_success_vs_slbdrain", "naive calls per success / slbdrain calls per success",
		ratioOf(r.median(sysNaive, "calls_per_success"), r.median(sysSlbdrain, "calls_per_success")))
	r.addRatio("naive_drain_vs_slbdrain", "naive drain time (scaled) / slbdrain drain time",
		ratioOf(r.median(sysNaive, "drain_s"), r.median(sysSlbdrain, "drain_s")))
}
