package main

import (
	"fmt"
	"time"

	"github.com/slbdrain/slbdrain/internal/slbsim"
	"github.com/slbdrain/slbdrain/messages"
)

// The burst's requests: 1–3 servers each, their groups Zipf-distributed,
// each group's servers drawn from a pool of 2,000, so that hot groups see
// some servers asked for twice, as re-sent hooks do.
const (
	burstMinServers, burstMaxServers = 1, 3
	burstPool                        = 2000
	burstZipfS                       = 1.1
)

// stormQuota is the throttle storm's quota, calls/s.
const stormQuota = 50

// allScenarios is drainbench's table, in the order they run. Each bound a
// goal is held to is defined where it is computed (goals.go).
func allScenarios() []scenario {
	return []scenario{
		// burst: a storm of small requests over many groups, hot groups
		// first, published at once while the system runs. What is measured
		// is coalescing: API calls against the fewest that can do the job.
		//
		// The emulator has no quota and answers in 2ms. The worker's
		// ceiling is raised from its default 20 calls/s to 2,000: at 20/s
		// the limiter, not the coalescer, would decide the batches (calls
		// wait for tokens while their groups fill) and the run would take a
		// minute; at 2,000/s every group's call may leave as soon as it is
		// cut, which is the hard case for group commit. The naive worker's
		// pace is the CPU's (one SDK call per request): it drains a sample.
		{
			name: "burst", requests: 10000, groups: 500,
			workload: func(n, groups int) *workload {
				return zipfWorkload(n, groups, burstMinServers, burstMaxServers, burstPool, burstZipfS, 1)
			},
			sim: slbsim.Config{Latency: 2 * time.Millisecond}, slbQPS: 2000,
			baseline: sysNaive, sampled: share{quick: 0.20, full: 1},
			describe: func(p *plan) string {
				return fmt.Sprintf("%d requests of %d-%d servers, Zipf(s=%.1f) over %d groups (hottest %.0f%% of requests), published at once while running; emulator %s, no quota; slb-qps %.0f",
					p.n, burstMinServers, burstMaxServers, burstZipfS, p.groups, 100*hottestShare(p.wl), p.sim.Latency, p.cfg.SLBQPS)
			},
			params: func(p *plan) map[string]any {
				return map[string]any{"groups_used": len(p.wl.groups), "min_servers": burstMinServers, "max_servers": burstMaxServers,
					"server_pool_per_group": burstPool, "zipf_s": burstZipfS, "ideal_calls": p.ideal,
					"one_call_per_request_calls": float64(naiveCalls(p.wl.reqs, messages.MaxBatch))}
			},
			measure: burstFigures,
			judge:   judgeBurst,
			columns: []column{
				{"publish_s", "publish s", "%.2f"},
				{"drain_s", "drain s", "%.2f"},
				{"msgs_per_s", "req/s", "%.0f"},
				{"api_calls", "API calls", "%.0f"},
				{"calls_vs_ideal", "÷ ideal", "%.3f"},
				{"servers_per_call", "servers/call", "%.1f"},
				{"overlaps", "overlaps", "%.0f"},
				{"dup_events", "dup events", "%.0f"},
			},
			notes: []string{
				"extra calls over the ideal, in the 10 hottest groups / in the others: excess_calls_hot / excess_calls_rest in -json",
				"overlaps: calls that started while another on the same group was in flight (slbdrain must have none; the naive worker does not serialize per group)",
			},
		},
		// quota: the account's API quota is the limit. The emulator allows
		// 20 calls a second (burst 20) and answers in 20ms; the worker runs
		// with its default ceiling of 20 calls/s. The naive worker needs one
		// call per request, about 100 s for the full set: it drains a
		// sample.
		{
			name: "quota", requests: 2000, groups: 40,
			workload: func(n, groups int) *workload { return uniformWorkload(n, groups, 2) },
			sim:      slbsim.Config{QPS: 20, Burst: 20, Latency: 20 * time.Millisecond},
			baseline: sysNaive, sampled: share{quick: 0.025, full: 0.10},
			describe: func(p *plan) string {
				return fmt.Sprintf("%d single-server requests over %d groups, published at once; emulator quota %.0f calls/s (burst %d), %s; slb-qps %.0f (default)",
					p.n, p.groups, p.sim.QPS, p.sim.Burst, p.sim.Latency, p.cfg.SLBQPS)
			},
			params: func(p *plan) map[string]any {
				return map[string]any{"ideal_calls": p.ideal, "bound_s": quotaBound(p)}
			},
			measure: func(p *plan, _ string, _ *trialResult, f figures) { f["drain_vs_bound"] = f["drain_s"] / quotaBound(p) },
			judge:   judgeQuota,
			columns: []column{
				{"drain_s", "drain s", "%.2f"},
				{"drain_vs_bound", "÷ bound", "%.3f"},
				{"msgs_per_s", "req/s", "%.1f"},
				{"api_calls", "API calls", "%.0f"},
				{"servers_per_call", "servers/call", "%.1f"},
				{"throttled", "throttled", "%.0f"},
			},
		},
		// throughput: the broker is the limit. The API answers at once and
		// has no quota, the worker's ceiling is out of the way and its
		// concurrency is the default; the requests are published first and
		// the system started on them, so what is timed is the system alone.
		{
			name: "throughput", requests: 20000, groups: 1000,
			workload: func(n, groups int) *workload { return uniformWorkload(n, groups, 3) },
			slbQPS:   100000, drive: backlog, baseline: sysRaw,
			describe: func(p *plan) string {
				return fmt.Sprintf("%d single-server requests over %d groups, published before the system starts; emulator: no latency, no quota; slb-qps %.0f, concurrency %d",
					p.n, p.groups, p.cfg.SLBQPS, p.cfg.Concurrency)
			},
			params: func(p *plan) map[string]any {
				return map[string]any{"concurrency": p.cfg.Concurrency, "max_ack_pending": p.cfg.MaxAckPending}
			},
			judge: judgeThroughput,
			columns: []column{
				{"drain_s", "drain s", "%.2f"},
				{"msgs_per_s", "req/s", "%.0f"},
				{"api_calls", "API calls", "%.0f"},
				{"servers_per_call", "servers/call", "%.1f"},
			},
		},
		// idle: one request at a time, each published only once the
		// previous one's event arrived, with the API answering in 20ms. The
		// first requests warm the connections up and are not counted. The
		// worker's ceiling is raised to 1,000 calls/s so that its limiter
		// (one call per 50ms at the default 20/s) does not pace a loop that
		// sends a request every ~25ms: idle means the quota is unused.
		{
			name: "idle", requests: 200, groups: 20,
			workload: func(n, groups int) *workload { return uniformWorkload(n, groups, 4) },
			warmup:   func(n int) int { return min(20, max(1, n/10)) },
			sim:      slbsim.Config{Latency: 20 * time.Millisecond}, slbQPS: 1000,
			drive: oneAtATime, baseline: sysNaive,
			describe: func(p *plan) string {
				return fmt.Sprintf("%d requests one at a time (after %d warm-up), each published once the previous event arrived; emulator latency %s; slb-qps %.0f, linger %s",
					p.n, p.warmup, p.sim.Latency, p.cfg.SLBQPS, p.cfg.Linger)
			},
			params: func(p *plan) map[string]any {
				return map[string]any{"warmup": p.warmup, "rtt_ms": p.sim.Latency.Milliseconds(),
					"linger_ms": float64(p.cfg.Linger) / float64(time.Millisecond)}
			},
			measure: latencyFigures,
			judge:   judgeIdle,
			columns: []column{
				{"p50_ms", "p50 ms", "%.1f"},
				{"p90_ms", "p90 ms", "%.1f"},
				{"p99_ms", "p99 ms", "%.1f"},
				{"max_ms", "max ms", "%.1f"},
				{"api_p50_ms", "API p50 ms", "%.1f"},
				{"p50_over_api_ms", "p50 − API ms", "%.2f"},
				{"api_calls", "API calls", "%.0f"},
			},
			notes: []string{"API p50: the emulator's own time per call (its latency included), as it logged them; p50 − API: what the request cost beyond that one round trip (broker both ways, SDK and HTTP, the event), per run, then the median of the runs"},
		},
		// backlog: requests pile up while no worker runs (an outage, a
		// deploy), then the worker starts on them. Measured: the time to
		// drain and the worker's peak memory, which MaxAckPending (20,000
		// held requests by default) is meant to bound. Both systems run in
		// child processes so their resident set and CPU are theirs alone;
		// the raw pipeline shows what the broker client costs on its own.
		// The API answers in 2ms with no quota and the worker's ceiling is
		// out of the way: at 20 calls/s a large backlog measures the quota,
		// which the quota scenario does. With -full, a 10k/50k/100k curve
		// whose last result checks that the cost per request stays flat.
		{
			name: "backlog", requests: 20000, groups: 1000,
			fullSizes: []int{10000, 50000, 100000}, curve: backlogCurve,
			workload: func(n, groups int) *workload { return uniformWorkload(n, groups, 5) },
			sim:      slbsim.Config{Latency: 2 * time.Millisecond}, slbQPS: 100000,
			drive: backlog, baseline: sysRaw, inChild: true,
			describe: func(p *plan) string {
				return fmt.Sprintf("%d single-server requests over %d groups published first, then the system started in a child process; emulator %s, no quota; slb-qps %.0f, max-ack-pending %d",
					p.n, p.groups, p.sim.Latency, p.cfg.SLBQPS, p.cfg.MaxAckPending)
			},
			params: func(p *plan) map[string]any { return map[string]any{"max_ack_pending": p.cfg.MaxAckPending} },
			judge:  judgeBacklog,
			columns: []column{
				{"drain_s", "drain s", "%.2f"},
				{"msgs_per_s", "req/s", "%.0f"},
				{"peak_rss_mib", "peak RSS MiB", "%.1f"},
				{"peak_heap_mib", "live heap MiB", "%.1f"},
				{"cpu_s", "CPU s", "%.2f"},
				{"cpu_us_per_req", "CPU µs/req", "%.0f"},
				{"api_calls", "API calls", "%.0f"},
				{"servers_per_call", "servers/call", "%.1f"},
			},
			notes: []string{
				"drain time runs from the child's start (process start included) to the last event",
				"live heap: the child's largest live Go heap after a GC cycle (/gc/heap/live:bytes); RSS adds the GC's headroom, stacks and the runtime",
			},
		},
		// throttle: a bad day at the API. On top of a quota of 50 calls/s,
		// 30% of the calls are answered Throttling and 5%
		// ServiceUnavailable; every request must still complete. Measured:
		// calls per successful call, calls the quota refused, and the
		// adaptive rate: where it settles and how soon. The worker's
		// ceiling is twice the quota, as when an operator does not know the
		// account's quota exactly, so the adaptive rate has to find it. The
		// naive worker (fixed rate at the same ceiling, same retry policy)
		// drains a sample.
		{
			name: "throttle", requests: 2000, groups: 100,
			workload: func(n, groups int) *workload { return uniformWorkload(n, groups, 6) },
			sim: slbsim.Config{QPS: stormQuota, Latency: 10 * time.Millisecond,
				Faults: slbsim.Faults{Throttling: 0.30, ServiceUnavailable: 0.05}},
			slbQPS: 2 * stormQuota, baseline: sysNaive, sampled: share{quick: 0.025, full: 0.10},
			watch: removeShare,
			describe: func(p *plan) string {
				return fmt.Sprintf("%d single-server requests over %d groups, published at once; emulator quota %.0f calls/s, %.0f%% Throttling, %.0f%% ServiceUnavailable, %s; slb-qps %.0f",
					p.n, p.groups, p.sim.QPS, 100*p.sim.Faults.Throttling, 100*p.sim.Faults.ServiceUnavailable, p.sim.Latency, p.cfg.SLBQPS)
			},
			measure: stormFigures,
			judge:   judgeThrottle,
			columns: []column{
				{"drain_s", "drain s", "%.2f"},
				{"api_calls", "API calls", "%.0f"},
				{"calls_per_success", "calls/success", "%.2f"},
				{"quota_refused", "quota refused", "%.0f"},
				{"achieved_calls_per_s", "calls/s", "%.1f"},
				{"rate_settled", "rate settled", "%.1f"},
				{"rate_settle_s", "settles at s", "%.2f"},
				{"rate_min", "rate min", "%.1f"},
				{"rate_max", "rate max", "%.1f"},
			},
			notes: []string{
				"rate: the worker's learnt share of the remove quota (calls per 1s window: its adaptive rate, calls/s) sampled every 100ms; it settles at the first sample after which every sample stays within ±25% of the median of the rest (rate settled)",
				"quota refused: Throttling.User answers (the quota); injected Throttling and 503 answers are faults_injected in -json",
			},
		},
	}
}
