package main

import (
	"fmt"
	"math"
	"time"

	"github.com/slbdrain/slbdrain/internal/slbsim"
	"github.com/slbdrain/slbdrain/worker"
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

// removeQuota is the emulator's quota on remove calls in benchRegion.
func removeQuota(sim slbsim.Config) slbsim.Quota { return actionQuota(sim, worker.ActionRemove) }

// actionQuota is the emulator's quota on action in benchRegion.
func actionQuota(sim slbsim.Config, action string) slbsim.Quota {
	if q, ok := sim.RegionQuotas[benchRegion][action]; ok {
		return q
	}
	return sim.Quotas[action]
}

// windowsNeeded is the fewest windows of the remove quota that can drain
// the plan: the ideal calls (Σ⌈unique servers per group / 20⌉) at the calls
// a window leaves the worker, q.Available() (the quota less the share a
// foreign consumer spends first).
func windowsNeeded(p *plan) float64 {
	return math.Ceil(p.ideal / float64(removeQuota(p.sim).Available()))
}

// windowBound is the time a windowed quota allows a drain, in seconds:
// the windows it needs × the window, counted from the start of the window
// it starts in (atWindowStart publishes just after one opens). A drain that
// spends every window it needs in full ends inside the last of them: by
// the bound.
func windowBound(p *plan) float64 {
	return windowsNeeded(p) * removeQuota(p.sim).Window.Seconds()
}

// judgeWindow holds a windowed drain to drainGoal × windowBound and, if
// throttledGoal > 0, its throttled answers to that share of its calls.
func judgeWindow(drainGoal, throttledGoal float64) func(p *plan, r *result) {
	return func(p *plan, r *result) {
		q, bound := removeQuota(p.sim), windowBound(p)
		r.Params["windows_needed"], r.Params["bound_s"] = windowsNeeded(p), bound
		r.addGoal(atMost("drain_vs_window_bound",
			fmt.Sprintf("slbdrain drain / bound ⌈%.0f ideal calls ÷ %d a window⌉ × %s = %.0fs", p.ideal, q.Available(), q.Window, bound),
			r.median(sysSlbdrain, "drain_s")/bound, drainGoal))
		throttled := r.median(sysSlbdrain, "throttled_share")
		if throttledGoal > 0 {
			r.addGoal(atMost("throttled_share", "slbdrain throttled answers / remove calls", throttled, throttledGoal))
		} else {
			r.addRatio("throttled_share", "slbdrain throttled answers / remove calls", throttled)
		}
		r.addRatio("calls_vs_ideal", fmt.Sprintf("slbdrain remove calls / ideal %.0f", p.ideal), r.median(sysSlbdrain, "calls_vs_ideal"))
		r.addRatio("windows_used_vs_needed", fmt.Sprintf("slbdrain windows with calls / %.0f needed", windowsNeeded(p)),
			r.median(sysSlbdrain, "windows_used")/windowsNeeded(p))
	}
}

// judgeTwoRegions: the bound of the healthy region's drain is the same
// drain alone (sysAlone, in the same run): throttling in another region
// must not slow it. The throttled region's requests, meanwhile, fail at
// their deadline, late by at most lateGoal.
func judgeTwoRegions(_ *plan, r *result) {
	const goal = 1.05  // × the drain alone
	const lateGoal = 1 // s after the deadline, the latest of them (issue 10: deadlines everywhere)
	r.addGoal(atMost("healthy_drain_vs_alone",
		fmt.Sprintf("slbdrain %s drain while %s is throttled / the same drain alone", benchRegion, throttledRegion),
		ratioOf(r.median(sysSlbdrain, "drain_s"), r.median(sysAlone, "drain_s")), goal))
	r.addGoal(atMost("deadline_lateness_s", fmt.Sprintf("%s requests: latest event after the deadline, s", throttledRegion),
		r.median(sysSlbdrain, "deadline_late_ms_max")/1000, lateGoal))
}

// judgeRestart: the bound is issue 10's: a graceful restart costs the next
// drain at most a second, from the old worker's end to the completed event.
func judgeRestart(_ *plan, r *result) {
	const goal = 1000 // ms
	r.addGoal(atMost("restart_to_first_completion_ms",
		"slbdrain graceful stop's end → the next request's completed event, ms (median of repetitions)",
		r.median(sysSlbdrain, "restart_ms"), goal))
	r.addRatio("restart_worst_ms", "slbdrain restart → completed, worst repetition of all runs, ms", r.worst(sysSlbdrain, "restart_ms_max"))
}

// judgeFailover: the bound is issue 10's: a crash of the active worker
// costs the next drain at most 5 s, from the SIGKILL to the completed event
// of a request published at once, served by the standby.
func judgeFailover(p *plan, r *result) {
	const goal = 5000 // ms
	r.addGoal(atMost("crash_failover_ms",
		fmt.Sprintf("SIGKILL of the active worker → the next request's completed event, ms (median of repetitions; pinned TTL %s, pull expiry %s)",
			p.cfg.PinnedTTL, p.cfg.PullExpiry),
		r.median(sysSlbdrain, "failover_ms"), goal))
	r.addRatio("failover_worst_ms", "failover, worst repetition of all runs, ms", r.worst(sysSlbdrain, "failover_ms_max"))
}

// instanceActions are the calls an instance-scope drain makes: its one
// write, then its three reads.
var instanceActions = []string{worker.ActionRemove, worker.ActionDescribeLBs, worker.ActionListGroups, worker.ActionDescribe}

// instanceIdeal is the fewest calls of each action that can drain the
// plan: Σ⌈unique servers per group / 20⌉ remove calls (the plan's ideal,
// instance scope resolved) and the ideal reads (workload.idealReads).
func instanceIdeal(p *plan) map[string]float64 {
	out := map[string]float64{worker.ActionRemove: p.ideal}
	for a, n := range p.wl.idealReads() {
		out[a] = float64(n)
	}
	return out
}

// instanceBound is the time the emulator's quotas allow an instance-scope
// drain, in seconds, and the action that decides it: for each action, the
// windows its ideal calls need (⌈ideal ÷ calls a window⌉) × its window,
// from the window the drain starts in (atWindowStart); the largest of them.
// That one action alone needs that long, whatever the others do; the
// bound does not add the reads that must come before the writes (a drain
// can overlap them), so it is a bound no system can beat.
func instanceBound(p *plan) (float64, string) {
	bound, binding := 0.0, ""
	ideal := instanceIdeal(p)
	for _, a := range instanceActions {
		q := actionQuota(p.sim, a)
		if !q.Limited() || q.Available() == 0 {
			continue
		}
		if b := math.Ceil(ideal[a]/float64(q.Available())) * q.Window.Seconds(); b > bound {
			bound, binding = b, a
		}
	}
	return bound, binding
}

// judgeInstances: the writes against the ideal Σ⌈n/20⌉ per group (full
// batches in every group the instances are in), the drain against the
// quotas' bound (instanceBound); the reads against their ideal and the
// naive hook's calls and time, tracked.
func judgeInstances(p *plan, r *result) {
	const writesGoal = 1.05 // × the ideal remove calls
	const drainGoal = 1.10  // × the bound
	bound, binding := instanceBound(p)
	ideal := instanceIdeal(p)
	q := actionQuota(p.sim, binding)
	r.Params["bound_s"], r.Params["bound_action"] = bound, binding
	r.addGoal(atMost("writes_vs_ideal",
		fmt.Sprintf("slbdrain remove calls / ideal Σ⌈instances/20⌉ over %d groups = %.0f", p.groups, p.ideal),
		r.median(sysSlbdrain, "api_calls")/p.ideal, writesGoal))
	r.addGoal(atMost("drain_vs_quota_bound",
		fmt.Sprintf("slbdrain drain / bound ⌈%.0f %s calls ÷ %d a window⌉ × %s = %.0fs", ideal[binding], binding, q.Available(), q.Window, bound),
		r.median(sysSlbdrain, "drain_s")/bound, drainGoal))
	idealReads := ideal[worker.ActionDescribeLBs] + ideal[worker.ActionListGroups] + ideal[worker.ActionDescribe]
	r.addRatio("reads_vs_ideal",
		fmt.Sprintf("slbdrain read calls / ideal %.0f (%.0f DescribeLoadBalancers + %.0f DescribeVServerGroups + %.0f DescribeVServerGroupAttribute)",
			idealReads, ideal[worker.ActionDescribeLBs], ideal[worker.ActionListGroups], ideal[worker.ActionDescribe]),
		r.median(sysSlbdrain, "reads_vs_ideal"))
	for _, c := range instanceReadColumns {
		r.addRatio(c.key+"_vs_ideal", fmt.Sprintf("slbdrain %s calls / ideal %.0f", c.action, ideal[c.action]),
			ratioOf(r.median(sysSlbdrain, c.key), ideal[c.action]))
	}
	r.addRatio("naive_writes_vs_slbdrain", "naive remove calls (scaled) / slbdrain remove calls",
		ratioOf(r.median(sysNaive, "api_calls"), r.median(sysSlbdrain, "api_calls")))
	r.addRatio("naive_reads_vs_slbdrain", "naive read calls (scaled) / slbdrain read calls",
		ratioOf(r.median(sysNaive, "reads"), r.median(sysSlbdrain, "reads")))
	r.addRatio("naive_drain_vs_slbdrain", "naive drain time (scaled) / slbdrain drain time",
		ratioOf(r.median(sysNaive, "drain_s"), r.median(sysSlbdrain, "drain_s")))
}
