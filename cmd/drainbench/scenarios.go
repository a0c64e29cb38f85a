package main

import (
	"fmt"
	"time"

	"github.com/slbdrain/slbdrain/internal/slbsim"
	"github.com/slbdrain/slbdrain/messages"
	"github.com/slbdrain/slbdrain/worker"
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

// windowedQuota is the windowed rows' remove quota. Issue 9 scales
// Alibaba's 90 calls per 60 s to 15 per 10 s; the window is shortened to
// 2 s so that the quick set's 3,000 requests (150 calls, 10 windows) take
// 20 s a trial, not 100 s. The window stays scarce: 3,000 requests, 15 calls
// a window, calls that must carry 20 servers each to drain in the windows
// needed.
var windowedQuota = slbsim.Quota{Calls: 15, Window: 2 * time.Second}

// windowedForeign is the share of each window another tool of the account
// spends first, in windowed-foreign.
const windowedForeign = 0.30

// windowedQuotas are Alibaba's published quotas of a new account
// (slbsim.AlibabaQuotas), the remove quota replaced by windowedQuota with
// the given foreign share.
func windowedQuotas(foreign float64) slbsim.Quotas {
	qs := slbsim.AlibabaQuotas()
	q := windowedQuota
	q.ForeignShare = foreign
	qs[worker.ActionRemove] = q
	return qs
}

// instanceQuotas are the instances row's emulator quotas: each of
// Alibaba's (slbsim.AlibabaQuotas, N calls per 60 s) cut to N/3 calls per
// 1 s window, 20 times its rate with the proportions between actions
// kept: remove 30/1s, each read 90/1s. At Alibaba's own the 120 remove
// calls would take two minutes and the naive hook's 2,400 an hour; at
// these the bound is 4 windows, 4 s.
func instanceQuotas() slbsim.Quotas {
	qs := slbsim.AlibabaQuotas()
	for a, q := range qs {
		qs[a] = slbsim.Quota{Calls: q.Calls / 3, Window: time.Second}
	}
	return qs
}

// workerQuota is q as the worker is told it (--slb-quota).
func workerQuota(q slbsim.Quota) worker.Quota { return worker.Quota{Calls: q.Calls, Window: q.Window} }

// instanceReadQuotas are the read quotas the instances row's worker is
// told: the emulator's.
func instanceReadQuotas() map[string]worker.Quota {
	qs := instanceQuotas()
	out := map[string]worker.Quota{}
	for _, a := range instanceActions[1:] {
		out[a] = workerQuota(qs[a])
	}
	return out
}

// emulatorQuotaNote says why the rows of the first table do not run on
// Alibaba's quotas.
const emulatorQuotaNote = "emulator quota: the row's own (a token bucket of calls/s, or none), not Alibaba's 90 remove calls per 60 s (slbsim.AlibabaQuotas, which the windowed rows scale): at 90 a minute the row would take minutes and measure only the quota; the worker is told its ceiling per 1 s window as its remove quota"

// The restart and failover rows' repetitions per trial.
const takeoverRepetitions = 3

// windowedRow is a windowed-quota row: one-server requests over groups,
// published at once as a window opens, under windowedQuota less a foreign
// share, which the worker is not told (it is told the account's quota).
func windowedRow(name string, foreign, drainGoal, throttledGoal float64, seed uint64, notes ...string) scenario {
	return scenario{
		name: name, requests: 3000, groups: 30,
		workload: func(n, groups int) *workload { return uniformWorkload(n, groups, seed) },
		sim:      slbsim.Config{Quotas: windowedQuotas(foreign), Latency: 20 * time.Millisecond},
		quota:    worker.Quota{Calls: windowedQuota.Calls, Window: windowedQuota.Window},
		drive:    atWindowStart,
		describe: func(p *plan) string {
			q := removeQuota(p.sim)
			return fmt.Sprintf("%d single-server requests over %d groups, published at once as a quota window opens; emulator remove quota %s (fixed windows; %d calls a window left to the worker), other actions Alibaba's, %s; worker told %s, slb-qps %.0f",
				p.n, p.groups, q, q.Available(), p.sim.Latency, p.cfg.Quotas[worker.ActionRemove], p.cfg.SLBQPS)
		},
		params: func(p *plan) map[string]any {
			q := removeQuota(p.sim)
			return map[string]any{"ideal_calls": p.ideal, "quota_calls": q.Calls, "quota_window_s": q.Window.Seconds(),
				"foreign_share": q.ForeignShare, "available_calls": q.Available()}
		},
		measure: windowFigures,
		judge:   judgeWindow(drainGoal, throttledGoal),
		columns: []column{
			{"drain_s", "drain s", "%.2f"},
			{"drain_vs_bound", "÷ bound", "%.3f"},
			{"windows_used", "windows", "%.0f"},
			{"api_calls", "API calls", "%.0f"},
			{"calls_vs_ideal", "÷ ideal", "%.3f"},
			{"ok_calls_vs_ideal", "ok ÷ ideal", "%.3f"},
			{"throttled_share", "throttled", "%.3f"},
			{"servers_per_call", "servers/call", "%.1f"},
		},
		notes: append([]string{
			"window scaled: 15 remove calls per 2 s (issue 9's 15 per 10 s, itself Alibaba's 90 per 60 s scaled) so that a trial takes 20-30 s, not 100-150 s",
			"bound: windows needed (⌈ideal calls ÷ calls a window leaves⌉) × window, from the window the drain starts in: publishing starts 10 ms after one opens; windows: those from the first remove call's to the last successful one's",
			"÷ ideal: every remove call, throttled ones too, over Σ⌈unique servers/20⌉; ok ÷ ideal: the successful ones; throttled: Throttling.User answers over remove calls",
		}, notes...),
	}
}

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
				{"reads", "reads", "%.0f"},
				{"servers_per_call", "servers/call", "%.1f"},
				{"overlaps", "overlaps", "%.0f"},
				{"dup_events", "dup events", "%.0f"},
			},
			notes: []string{
				"API calls are remove calls (the write quota); reads: DescribeVServerGroupAttribute calls (the read quota), the checks of servers asked for again after their removal (re-sent hooks) among them",
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
			notes:   []string{emulatorQuotaNote},
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
				emulatorQuotaNote,
			},
		},
		// windowed: Alibaba's quota shape, scaled. A storm of 3,000
		// one-server requests over 30 groups (100 servers each: 5 full
		// calls) against a fixed window of 15 calls: 150 calls, 10 windows
		// at the least. What is measured is how well the worker spends a
		// scarce window: full batches, first, and no calls into a spent
		// window. No baseline: one call per request would need 200 windows.
		windowedRow("windowed", 0, 1.05, 0.05, 7),
		// windowed-foreign: the same with another tool of the account
		// spending 30% of every window first, which the worker is not told:
		// 10 calls a window left, 15 windows at the least. It learns its
		// share from the throttled answers.
		windowedRow("windowed-foreign", windowedForeign, 1.10, 0, 7,
			"the foreign consumer spends round(30% × 15) = 5 calls at the start of each window; the worker learns its share from the throttled answers, so some are expected (throttled is a ratio here, not a goal)"),
		// instances: a scaling activity's storm of lifecycle hooks in
		// instance scope (contract version 2): 200 one-instance requests,
		// no group and no port, published at once as a quota window opens.
		// Each instance is in every group of 3 load balancers × 4 groups
		// (one backend port per group of a load balancer), so each must be
		// resolved (DescribeLoadBalancers by ServerId, then the load
		// balancers' groups and the groups' members) and taken out of 12
		// groups. Measured: reads per action and writes against the
		// fewest that can do it, and the drain against the quotas' bound.
		// The naive hook resolves every instance on its own and removes it
		// group by group: 28 calls a request; it drains a sample.
		{
			name: "instances", requests: 200, groups: 3 * instanceGroupsPerLB,
			workload:   func(n, groups int) *workload { return instanceWorkload(n, groups, 12) },
			sim:        slbsim.Config{Quotas: instanceQuotas(), Latency: 20 * time.Millisecond},
			quota:      workerQuota(instanceQuotas()[worker.ActionRemove]),
			readQuotas: instanceReadQuotas(),
			slbQPS:     200, drive: atWindowStart,
			baseline: sysNaive, sampled: share{quick: 0.10, full: 1},
			describe: func(p *plan) string {
				return fmt.Sprintf("%d single-instance version-2 instance-scope requests (no group, no port; subject %s) published at once as a quota window opens; "+
					"fleet of %d instances, each in all %d groups (%d load balancers × %d, backend ports %v), %d kept; "+
					"emulator: Alibaba's quotas scaled to 1 s windows (remove %s, reads %s), %s; worker told the same, slb-qps %.0f",
					p.n, messages.InstancesRequestSubject(benchRegion), p.n+instanceKept(p.n), p.groups, instanceLBs(p.groups),
					min(p.groups, instanceGroupsPerLB), instancePorts[:min(p.groups, instanceGroupsPerLB)], instanceKept(p.n),
					removeQuota(p.sim), actionQuota(p.sim, worker.ActionDescribeLBs), p.sim.Latency, p.cfg.SLBQPS)
			},
			params: func(p *plan) map[string]any {
				ideal := instanceIdeal(p)
				return map[string]any{
					"ideal_calls":                            p.ideal,
					"ideal_describe_load_balancers":          ideal[worker.ActionDescribeLBs],
					"ideal_describe_vserver_groups":          ideal[worker.ActionListGroups],
					"ideal_describe_vserver_group_attribute": ideal[worker.ActionDescribe],
					"one_call_per_group_and_instance_calls":  float64(len(p.wl.groupScoped())),
					"load_balancers":                         instanceLBs(p.groups),
					"groups_per_lb":                          instanceGroupsPerLB,
					"instances_kept":                         instanceKept(p.n),
					"quota_window_s":                         removeQuota(p.sim).Window.Seconds(),
					"read_quota":                             actionQuota(p.sim, worker.ActionDescribeLBs).String(),
				}
			},
			measure: instanceFigures,
			judge:   judgeInstances,
			columns: []column{
				{"drain_s", "drain s", "%.2f"},
				{"drain_vs_bound", "÷ bound", "%.3f"},
				{"api_calls", "writes", "%.0f"},
				{"writes_vs_ideal", "÷ ideal", "%.3f"},
				{"reads_lbs", "DescribeLBs", "%.0f"},
				{"reads_groups", "DescribeGroups", "%.0f"},
				{"reads_group_attr", "GroupAttribute", "%.0f"},
				{"reads_vs_ideal", "reads ÷ ideal", "%.3f"},
				{"throttled", "throttled", "%.0f"},
				{"servers_per_call", "servers/call", "%.1f"},
			},
			notes: []string{
				"emulator quotas: Alibaba's N calls per 60 s as N/3 per 1 s (20× the rate, proportions kept: remove 30/1s, DescribeLoadBalancers, DescribeVServerGroups and DescribeVServerGroupAttribute 90/1s each), so that a trial takes seconds, not minutes; the worker is told them (--slb-quota)",
				"ideal: writes Σ⌈instances/20⌉ per group (at the row's size 12 × ⌈200/20⌉ = 120); reads one DescribeLoadBalancers per instance (it takes one ServerId), one DescribeVServerGroups per load balancer, one DescribeVServerGroupAttribute per group (200 + 3 + 12 at its size); every call counts, throttled ones too",
				"bound: per action, ⌈ideal calls ÷ calls a window⌉ × window from the window the drain starts in (publishing starts 10 ms after one opens); the largest (at the row's size the remove quota's: ⌈120 ÷ 30⌉ × 1 s = 4 s; DescribeLoadBalancers' 200 need 3)",
				"naive: per instance DescribeLoadBalancers, DescribeVServerGroups per load balancer, DescribeVServerGroupAttribute per group, then one remove call per (group, instance), no cache, every call on one limiter at slb-qps and retried on Throttling as slbdrain's policy does",
				"the fleet keeps a quarter more instances than are drained, so that the worker's guard (--min-remaining 1, its default) lets every drain through",
			},
		},
		// two-regions: every call in one region is refused (another tool
		// spends its whole quota there, all actions) while the other region
		// drains a storm, on Alibaba's default quotas, which the worker is
		// told (its defaults). The healthy drain is compared with the same
		// drain alone, in the same run. The throttled region's requests wait
		// throughout and fail at their deadline.
		{
			name: "two-regions", requests: 400, groups: 20,
			workload: func(n, groups int) *workload {
				return twoRegionWorkload(n, groups, max(2, n/10), max(1, groups/5), throttledRegion, 8)
			},
			sim: slbsim.Config{Quotas: slbsim.AlibabaQuotas(), Latency: 20 * time.Millisecond,
				RegionQuotas: map[string]slbsim.Quotas{throttledRegion: slbsim.AlibabaQuotas().WithForeignShare(1, 0)}},
			quota:    worker.DefaultQuotas()[worker.ActionRemove],
			drive:    twoRegions,
			variants: []variant{{name: sysAlone, drive: healthyAlone}},
			describe: func(p *plan) string {
				return fmt.Sprintf("%d single-server requests over %d groups in %s, published at once while %d requests over %d groups wait in %s, where another tool spends every call (foreign share 1); emulator: Alibaba's quotas (remove %s), %s; worker told %s (its default), slb-qps %.0f (default); beside: the same drain alone",
					p.n, p.groups, benchRegion, len(p.wl.reqs)-p.n, len(p.wl.regionOf), throttledRegion,
					removeQuota(p.sim), p.sim.Latency, p.cfg.Quotas[worker.ActionRemove], p.cfg.SLBQPS)
			},
			params: func(p *plan) map[string]any {
				return map[string]any{"stuck_requests": len(p.wl.reqs) - p.n, "stuck_groups": len(p.wl.regionOf),
					"throttled_region": throttledRegion, "stuck_deadline_s": stuckDeadline.Seconds()}
			},
			measure: twoRegionFigures,
			judge:   judgeTwoRegions,
			columns: []column{
				{"drain_s", "drain s", "%.3f"},
				{"msgs_per_s", "req/s", "%.0f"},
				{"healthy_calls", "calls " + benchRegion, "%.0f"},
				{"throttled_region_calls", "calls " + throttledRegion, "%.0f"},
				{"deadline_late_ms_max", "late ms (max)", "%.0f"},
				{"servers_per_call", "servers/call", "%.1f"},
			},
			notes: []string{
				"drain s: the healthy region's, from its first publish to its last event; slbdrain-alone runs the same drain with no other region",
				fmt.Sprintf("the %s requests are published first with a deadline %s away and the drain starts once that region answered Throttling.User twice (what tells the worker a window is spent); each must fail DeadlineExceeded, late ms: the latest of their events after the deadline", throttledRegion, stuckDeadline),
			},
		},
		// restart: a rolling deploy of one worker. It is stopped gracefully
		// (its context cancelled: it stops pulling, gives up the consumer's
		// pin, finishes and returns) and a new one started on the same
		// consumer; one request is published at once. Timed: from the old
		// worker's end to that request's completed event.
		{
			name: "restart", requests: takeoverRepetitions, groups: 1, repeats: true,
			workload: func(n, groups int) *workload { return uniformWorkload(n, groups, 10) },
			warmup:   func(int) int { return 1 },
			sim:      slbsim.Config{Latency: 20 * time.Millisecond},
			drive:    restart,
			describe: func(p *plan) string {
				return fmt.Sprintf("%d graceful restarts of one worker (in this process) on an embedded nats-server, after a warm-up request; one request published right after each; emulator %s, no quota; pinned TTL %s, pull expiry %s",
					p.n, p.sim.Latency, p.cfg.PinnedTTL, p.cfg.PullExpiry)
			},
			params:  takeoverParams,
			measure: takeoverFigures,
			judge:   judgeRestart,
			columns: []column{
				{"restart_ms", "restart → completed ms", "%.0f"},
				{"restart_ms_max", "worst ms", "%.0f"},
				{"publish_to_event_ms", "publish → event ms", "%.0f"},
				{"stop_ms", "graceful stop ms", "%.0f"},
			},
			notes: []string{"each figure is the median of a run's repetitions (worst: its worst), then the median of the runs; restart → completed runs from the old worker's Run returning to the event, so it holds the new worker's start (connection, streams and consumer looked up, first pull) and one API round trip"},
		},
		// failover: two replicas on the same consumer and priority group,
		// each in a process of its own; the active one is killed (SIGKILL)
		// and one request published at once. Timed: from the kill to that
		// request's completed event, served by the standby. Each repetition
		// starts a new standby beside the survivor.
		{
			name: "failover", requests: takeoverRepetitions, groups: 1, repeats: true, inChild: true,
			workload: func(n, groups int) *workload { return uniformWorkload(n, groups, 11) },
			warmup:   func(int) int { return 1 },
			sim:      slbsim.Config{Latency: 20 * time.Millisecond},
			drive:    failover,
			describe: func(p *plan) string {
				return fmt.Sprintf("%d crashes (SIGKILL) of the active worker beside a standby, each in a child process, on an embedded nats-server; one request published right after each kill; emulator %s, no quota; priority group %q, pinned TTL %s, pull expiry %s, pull heartbeat %s",
					p.n, p.sim.Latency, p.cfg.PriorityGroup, p.cfg.PinnedTTL, p.cfg.PullExpiry, p.cfg.PullHeartbeat)
			},
			params:  takeoverParams,
			measure: takeoverFigures,
			judge:   judgeFailover,
			columns: []column{
				{"failover_ms", "kill → completed ms", "%.0f"},
				{"failover_ms_max", "worst ms", "%.0f"},
				{"publish_to_event_ms", "publish → event ms", "%.0f"},
			},
			notes: []string{
				"each figure is the median of a run's repetitions (worst: its worst), then the median of the runs",
				"a killed worker does not give up its pin: the server moves it to the standby only once the pinned TTL has passed since the killed worker's last pull request, so a failover takes up to the pinned TTL, then one delivery and one API round trip",
			},
		},
	}
}

// takeoverParams are the restart and failover rows' parameters: the pull
// and pin settings that decide a takeover.
func takeoverParams(p *plan) map[string]any {
	return map[string]any{"repetitions": p.n, "pinned_ttl_s": p.cfg.PinnedTTL.Seconds(), "pull_expiry_s": p.cfg.PullExpiry.Seconds(),
		"pull_heartbeat_s": p.cfg.PullHeartbeat.Seconds(), "priority_group": p.cfg.PriorityGroup}
}
