package main

import (
	"cmp"
	"math"
	"slices"
	"strings"
	"time"

	"github.com/slbdrain/slbdrain/internal/slbsim"
	"github.com/slbdrain/slbdrain/messages"
	"github.com/slbdrain/slbdrain/worker"
)

// runFigures are the figures every trial yields.
func runFigures(res *trialResult) figures {
	f := figures{
		"requests":           float64(res.n),
		"completed_fraction": 0,
		"drain_s":            res.elapsed.Seconds(),
		"publish_s":          res.publish.Seconds(),
		"msgs_per_s":         ratioOf(float64(res.n), res.elapsed.Seconds()),
		"api_calls":          float64(res.stats.RemoveCalls),
		"api_ok":             float64(res.stats.Succeeded),
		"throttled":          float64(res.stats.Throttled),
		"overlaps":           float64(res.stats.Overlaps),
		"dup_events":         float64(res.events.dups),
		"failed":             float64(res.events.failed),
		"rejected":           float64(res.events.rejected),
	}
	if res.n > 0 {
		f["completed_fraction"] = float64(res.asExpected()) / float64(res.n)
		if !res.complete() {
			// Counts what was fully done: completed, stored and acked.
			f["completed_fraction"] = min(f["completed_fraction"], float64(res.eventsStored)/float64(res.n),
				1-float64(res.requestsLeft)/float64(res.n))
		}
	}
	servers, removes := 0, 0
	var took []float64
	for _, c := range res.calls {
		if c.Action == worker.ActionRemove {
			servers += c.Servers
			removes++
			took = append(took, float64(c.End.Sub(c.Start))/float64(time.Millisecond))
		}
	}
	if removes > 0 {
		f["servers_per_call"] = float64(servers) / float64(removes)
		slices.Sort(took)
		f["api_p50_ms"] = percentile(took, 50)
	}
	if res.peakRSS > 0 {
		f["peak_rss_mib"] = float64(res.peakRSS) / (1 << 20)
	}
	if res.peakHeap > 0 {
		f["peak_heap_mib"] = float64(res.peakHeap) / (1 << 20)
	}
	if res.cpu > 0 {
		f["cpu_s"] = res.cpu.Seconds()
		f["cpu_us_per_req"] = res.cpu.Seconds() * 1e6 / float64(res.n)
	}
	for name, ms := range res.marks {
		// A driver's repetitions: their median, and the worst.
		f[name] = median(ms)
		f[name+"_max"] = slices.Max(ms)
	}
	return f
}

// isQuotaRefusal says whether an answer's code is the quota's refusal
// (Throttling.User), not an injected Throttling fault.
func isQuotaRefusal(code string) bool { return code == slbsim.CodeThrottlingUser }

// removeCounts counts the remove calls of calls: all of them, those
// throttled (by the quota or a fault), those that succeeded.
func removeCounts(calls []slbsim.Call) (all, throttled, ok int) {
	for _, c := range calls {
		if c.Action != worker.ActionRemove {
			continue
		}
		all++
		switch c.Code {
		case "":
			ok++
		case slbsim.CodeThrottlingUser, slbsim.CodeThrottling:
			throttled++
		}
	}
	return all, throttled, ok
}

// windowsUsed is how many windows of the given length a drain's remove
// calls spanned, from the window of the first call to that of the last
// successful one, both counted, as the emulator numbers windows.
func windowsUsed(calls []slbsim.Call, window time.Duration) float64 {
	var first, last time.Time
	for _, c := range calls {
		if c.Action != worker.ActionRemove {
			continue
		}
		if first.IsZero() || c.Start.Before(first) {
			first = c.Start
		}
		if c.Code == "" && c.Start.After(last) {
			last = c.Start
		}
	}
	if first.IsZero() || last.IsZero() {
		return 0
	}
	d := int64(window)
	return float64(last.UnixNano()/d - first.UnixNano()/d + 1)
}

// windowFigures: a drain under a windowed quota against its bound (the
// windows it needs), how full its calls were, and how many were throttled.
func windowFigures(p *plan, _ string, res *trialResult, f figures) {
	all, throttled, ok := removeCounts(res.calls)
	f["drain_vs_bound"] = f["drain_s"] / windowBound(p)
	f["windows_used"] = windowsUsed(res.calls, removeQuota(p.sim).Window)
	f["throttled_share"] = ratioOf(float64(throttled), float64(all))
	f["calls_vs_ideal"] = float64(all) / p.ideal
	f["ok_calls_vs_ideal"] = float64(ok) / p.ideal
}

// twoRegionFigures: the calls made in each region. drain_s is the healthy
// region's drain (the drivers time that alone).
func twoRegionFigures(_ *plan, _ string, res *trialResult, f figures) {
	var healthy, throttled float64
	for _, c := range res.calls {
		if c.Action != worker.ActionRemove {
			continue
		}
		if c.RegionID == benchRegion {
			healthy++
		} else {
			throttled++
		}
	}
	f["healthy_calls"], f["throttled_region_calls"] = healthy, throttled
	f["msgs_per_s"] = ratioOf(float64(res.n-res.wantFailed), f["drain_s"])
}

// takeoverFigures: a restart or a failover is its marks; a drain time
// means nothing there.
func takeoverFigures(_ *plan, _ string, _ *trialResult, f figures) {
	delete(f, "drain_s")
	delete(f, "msgs_per_s")
}

// burstFigures: calls against the ideal and, for slbdrain, where the extra
// calls went.
func burstFigures(p *plan, sys string, res *trialResult, f figures) {
	f["calls_vs_ideal"] = f["api_calls"] / p.ideal
	reads := 0
	for _, c := range res.calls {
		if c.Action == worker.ActionDescribe {
			reads++ // the guard's, and the checks of re-sent servers (riders)
		}
	}
	f["reads"] = float64(reads) * p.scale(sys)
	if sys == sysSlbdrain {
		perGroup, hot := idealPerGroup(p.wl, 10)
		f["excess_calls_hot"], f["excess_calls_rest"] = excessCalls(res.calls, perGroup, hot)
	}
}

// hottestShare is the fraction of requests that go to the busiest group.
func hottestShare(wl *workload) float64 {
	per := map[string]int{}
	top := 0
	for _, r := range wl.reqs {
		per[r.VServerGroupID]++
		top = max(top, per[r.VServerGroupID])
	}
	return float64(top) / float64(max(1, len(wl.reqs)))
}

// idealPerGroup is the ideal number of calls of each group, and the top
// hottest groups by requests.
func idealPerGroup(wl *workload, top int) (map[string]int, map[string]bool) {
	byGroup := map[string][]messages.DrainRequest{}
	for _, r := range wl.reqs {
		byGroup[r.VServerGroupID] = append(byGroup[r.VServerGroupID], r)
	}
	ideal := make(map[string]int, len(byGroup))
	var groups []string
	for g, reqs := range byGroup {
		ideal[g] = idealCalls(reqs, messages.MaxBatch)
		groups = append(groups, g)
	}
	slices.SortFunc(groups, func(a, b string) int { return cmp.Or(len(byGroup[b])-len(byGroup[a]), strings.Compare(a, b)) })
	hot := map[string]bool{}
	for _, g := range groups[:min(top, len(groups))] {
		hot[g] = true
	}
	return ideal, hot
}

// excessCalls counts the calls made beyond each group's ideal, in the hot
// groups and in the others: where coalescing fell short.
func excessCalls(calls []slbsim.Call, ideal map[string]int, hot map[string]bool) (inHot, inRest float64) {
	made := map[string]int{}
	for _, c := range calls {
		if c.Action == worker.ActionRemove {
			made[c.GroupID]++
		}
	}
	for g, n := range made {
		extra := float64(max(0, n-ideal[g]))
		if hot[g] {
			inHot += extra
		} else {
			inRest += extra
		}
	}
	return inHot, inRest
}

// latencyFigures replace a drain's time and rate, which mean nothing one
// request at a time, by the percentiles of each request's latency, and the
// API's p50 by that of the timed requests' calls.
func latencyFigures(p *plan, _ string, res *trialResult, f figures) {
	delete(f, "drain_s")
	delete(f, "msgs_per_s")
	lat := slices.Sorted(slices.Values(res.latencies))
	for name, pc := range map[string]float64{"p50_ms": 50, "p90_ms": 90, "p99_ms": 99, "max_ms": 100} {
		f[name] = percentile(lat, pc)
	}
	var api []float64
	for _, c := range res.calls[min(p.warmup, len(res.calls)):] {
		if c.Action == worker.ActionRemove {
			api = append(api, float64(c.End.Sub(c.Start))/float64(time.Millisecond))
		}
	}
	slices.Sort(api)
	f["api_p50_ms"] = percentile(api, 50)
	f["p50_over_api_ms"] = f["p50_ms"] - f["api_p50_ms"]
}

// stormFigures: what a fault storm costs in calls, which refusals were the
// quota's, and how the adaptive rate moved.
func stormFigures(p *plan, sys string, res *trialResult, f figures) {
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
	scale := p.scale(sys)
	f["quota_refused"] = float64(quotaRefused) * scale
	f["faults_injected"] = float64(injected) * scale
	rateFigures(f, res.samples)
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

// instanceReadColumns are the read figures of the instances row: the calls
// of each read action (every answer, throttled ones too).
var instanceReadColumns = []struct{ key, action string }{
	{"reads_lbs", worker.ActionDescribeLBs},
	{"reads_groups", worker.ActionListGroups},
	{"reads_group_attr", worker.ActionDescribe},
}

// instanceFigures: an instance-scope drain's reads per action and in all,
// its writes against the ideal, its drain against the quotas' bound. A
// sampled baseline's reads are scaled up as its writes are.
func instanceFigures(p *plan, sys string, res *trialResult, f figures) {
	byAction := map[string]float64{}
	for _, c := range res.calls {
		byAction[c.Action]++
	}
	scale, reads := p.scale(sys), 0.0
	for _, c := range instanceReadColumns {
		f[c.key] = byAction[c.action] * scale
		reads += f[c.key]
	}
	ideal := instanceIdeal(p)
	f["reads"] = reads
	if p.sampledBy(sys) {
		f["sample_reads"] = reads / scale
	}
	f["reads_vs_ideal"] = ratioOf(reads, ideal[worker.ActionDescribeLBs]+ideal[worker.ActionListGroups]+ideal[worker.ActionDescribe])
	f["writes_vs_ideal"] = f["api_calls"] / p.ideal
	bound, _ := instanceBound(p)
	f["drain_vs_bound"] = f["drain_s"] / bound
}
