package main

import (
	"cmp"
	"context"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/slbdrain/slbdrain/internal/slbsim"
	"github.com/slbdrain/slbdrain/messages"
)

// burst: a storm of small requests over many groups, hot groups first, all
// published at once while the system runs. What is measured is coalescing:
// API calls against the fewest that can do the job, Σ⌈unique servers per
// group / 20⌉.
//
// The emulator has no quota and answers in 2ms. The worker's ceiling is
// raised from its default 20 calls/s to 2,000: at 20/s the limiter, not the
// coalescer, would decide the batches (calls wait for tokens while their
// groups fill) and the run would take a minute; at 2,000/s every group's
// call may leave as soon as it is cut, which is the hard case for group
// commit.
//
// The naive worker's pace here is the CPU's (one SDK call per request): it
// drains a random sample (20%; all with -full) and is scaled up.
func runBurst(ctx context.Context, o options) ([]*result, error) {
	const (
		minServers, maxServers = 1, 3
		pool                   = 2000 // servers per group the requests draw from
		zipfS                  = 1.1
		qps                    = 2000
		latency                = 2 * time.Millisecond
	)
	start := time.Now()
	n, groups := o.scale(10000, 500)
	wl := zipfWorkload(n, groups, minServers, maxServers, pool, zipfS, 1)
	msgs, err := encode(wl.reqs)
	if err != nil {
		return nil, err
	}
	ideal := float64(idealCalls(wl.reqs, messages.MaxBatch))
	oneEach := float64(naiveCalls(wl.reqs, messages.MaxBatch))
	hot := hottestShare(wl)
	m := o.naiveSampleOf(n, 0.20, 1)
	perGroup, hotGroups := idealPerGroup(wl, 10)

	cfg := benchConfig()
	cfg.SLBQPS = qps
	r := newResult("burst",
		fmt.Sprintf("%d requests of %d-%d servers, Zipf(s=%.1f) over %d groups (hottest %.0f%% of requests), published at once while running; emulator %s, no quota; slb-qps %d",
			n, minServers, maxServers, zipfS, groups, 100*hot, latency, qps),
		o, start, map[string]any{"requests": n, "groups": groups, "groups_used": len(wl.groups), "min_servers": minServers,
			"max_servers": maxServers, "server_pool_per_group": pool, "zipf_s": zipfS, "latency_ms": latency.Milliseconds(),
			"slb_qps": qps, "ideal_calls": ideal, "one_call_per_request_calls": oneEach, "naive_sample_requests": m})
	systems := []system{slbdrainSystem{cfg: cfg}, naiveSystem{cfg: cfg}}
	runs, err := alternate(ctx, o, systems, "burst", func(ctx context.Context, run int, sys system) (figures, error) {
		t := trial{
			sim: slbsim.Config{Latency: latency, Seed: int64(run + 1)},
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
			scaleUp(f, float64(n)/float64(m))
		}
		f["calls_vs_ideal"] = f["api_calls"] / ideal
		if sys.name() == sysSlbdrain {
			f["excess_calls_hot"], f["excess_calls_rest"] = excessCalls(res.calls, perGroup, hotGroups)
		}
		return f, nil
	})
	if err != nil {
		return nil, err
	}
	r.finish([]string{sysSlbdrain, sysNaive}, runs, start)
	r.addGoal(atMost("api_calls_vs_ideal",
		fmt.Sprintf("slbdrain API calls / ideal Σ⌈unique/20⌉ = %.0f", ideal), r.median(sysSlbdrain, "api_calls")/ideal, 1.02))
	r.addRatio("naive_calls_vs_slbdrain", "naive API calls / slbdrain API calls",
		ratioOf(r.median(sysNaive, "api_calls"), r.median(sysSlbdrain, "api_calls")))
	r.addRatio("naive_drain_vs_slbdrain", "naive drain time / slbdrain drain time",
		ratioOf(r.median(sysNaive, "drain_s"), r.median(sysSlbdrain, "drain_s")))
	r.columns = []column{
		{"publish_s", "publish s", "%.2f"},
		{"drain_s", "drain s", "%.2f"},
		{"msgs_per_s", "req/s", "%.0f"},
		{"api_calls", "API calls", "%.0f"},
		{"calls_vs_ideal", "÷ ideal", "%.3f"},
		{"servers_per_call", "servers/call", "%.1f"},
		{"overlaps", "overlaps", "%.0f"},
		{"dup_events", "dup events", "%.0f"},
	}
	r.Notes = append(r.Notes, naiveNote(m, n),
		"extra calls over the ideal, in the 10 hottest groups / in the others: excess_calls_hot / excess_calls_rest in -json",
		"overlaps: calls that started while another on the same group was in flight (slbdrain must have none; the naive worker does not serialize per group)")
	return []*result{r}, nil
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
		if c.Action == removeAction {
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
