package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"maps"
	"math"
	"os"
	"slices"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/slbdrain/slbdrain/internal/slbsim"
	"github.com/slbdrain/slbdrain/messages"
	"github.com/slbdrain/slbdrain/worker"
)

// TestMain lets the test binary serve as the child process of the backlog
// scenario, as drainbench itself does (it re-executes os.Executable()).
func TestMain(m *testing.M) {
	if len(os.Args) == 3 && os.Args[1] == "-child" {
		ctx, stop := signalContext()
		code := run(ctx, os.Args[1:], os.Stdout, os.Stderr)
		stop()
		os.Exit(code)
	}
	os.Exit(m.Run())
}

type goalJSON struct {
	Name  string  `json:"name"`
	Value float64 `json:"value"`
	Limit float64 `json:"limit"`
	Op    string  `json:"op"`
	Met   bool    `json:"met"`
}

// TestSmoke runs every scenario at a tiny scale, once, and checks that the
// JSON output parses, names every scenario, and that every request of every
// system completed.
func TestSmoke(t *testing.T) {
	if testing.Short() {
		t.Skip("runs every scenario end to end")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
	defer cancel()
	byName := map[string]scenario{}
	for _, s := range allScenarios() {
		byName[s.name] = s
	}
	var stdout, stderr bytes.Buffer
	code := run(ctx, []string{"-json", "-runs", "1", "-requests", "60"}, &stdout, &stderr)
	if code != 0 {
		t.Fatalf("drainbench exited %d\nstderr:\n%s", code, stderr.String())
	}
	seen := map[string]bool{}
	sc := bufio.NewScanner(&stdout)
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		var r struct {
			Scenario string `json:"scenario"`
			Complete bool   `json:"complete"`
			Systems  []struct {
				System string             `json:"system"`
				Median map[string]float64 `json:"median"`
				Runs   []map[string]float64
			} `json:"systems"`
			Goals []goalJSON `json:"goals"`
		}
		if err := json.Unmarshal(sc.Bytes(), &r); err != nil {
			t.Fatalf("line %q: %v", sc.Text(), err)
		}
		seen[r.Scenario] = true
		if !r.Complete {
			t.Errorf("%s: not every request completed: %s", r.Scenario, sc.Text())
		}
		if want := len(byName[r.Scenario].systems(&plan{})); len(r.Systems) != want {
			t.Errorf("%s: %d systems, want %d (slbdrain, its variants, its baseline)", r.Scenario, len(r.Systems), want)
		}
		for _, s := range r.Systems {
			if len(s.Runs) != 1 {
				t.Errorf("%s/%s: %d runs, want 1", r.Scenario, s.System, len(s.Runs))
			}
			if got := s.Median["completed_fraction"]; got != 1 {
				t.Errorf("%s/%s: completed fraction %v, want 1", r.Scenario, s.System, got)
			}
			if s.Median["requests"] < 1 {
				t.Errorf("%s/%s: no requests", r.Scenario, s.System)
			}
		}
		if !slices.ContainsFunc(r.Goals, func(g goalJSON) bool { return g.Name == "all_completed" && g.Met }) {
			t.Errorf("%s: goal all_completed missing or not met: %+v", r.Scenario, r.Goals)
		}
		if r.Scenario == "instances" {
			for _, name := range []string{"writes_vs_ideal", "drain_vs_quota_bound"} {
				if !slices.ContainsFunc(r.Goals, func(g goalJSON) bool { return g.Name == name }) {
					t.Errorf("instances: no goal %s: %+v", name, r.Goals)
				}
			}
			for _, s := range r.Systems {
				for _, key := range []string{"reads_lbs", "reads_groups", "reads_group_attr", "reads_vs_ideal", "writes_vs_ideal", "drain_vs_bound"} {
					if _, ok := s.Median[key]; !ok {
						t.Errorf("instances/%s: no figure %s", s.System, key)
					}
				}
				// Every instance is resolved with one DescribeLoadBalancers
				// call at least, by either system.
				if s.Median["reads_lbs"] < s.Median["requests"] {
					t.Errorf("instances/%s: %v DescribeLoadBalancers calls for %v instances", s.System, s.Median["reads_lbs"], s.Median["requests"])
				}
			}
		}
		for _, g := range r.Goals {
			if g.Op != "<=" && g.Op != ">=" {
				t.Errorf("%s goal %s: op %q", r.Scenario, g.Name, g.Op)
			}
		}
	}
	for _, s := range allScenarios() {
		if !seen[s.name] {
			t.Errorf("no result for scenario %s", s.name)
		}
	}
	if t.Failed() {
		t.Logf("stderr:\n%s", stderr.String())
	}
}

func TestIdealCalls(t *testing.T) {
	servers := func(ids ...int) []messages.BackendServer {
		var out []messages.BackendServer
		for _, id := range ids {
			out = append(out, messages.BackendServer{ServerID: fmt.Sprintf("i-%d", id), Port: 80, Type: "ecs"})
		}
		return out
	}
	seq := func(from, to int) []int {
		var out []int
		for i := from; i < to; i++ {
			out = append(out, i)
		}
		return out
	}
	reqs := []messages.DrainRequest{
		{VServerGroupID: "rsp-a", BackendServers: servers(seq(0, 15)...)},
		{VServerGroupID: "rsp-a", BackendServers: servers(seq(10, 25)...)}, // 5 shared with the first: 25 unique
		{VServerGroupID: "rsp-b", BackendServers: servers(1)},
		{VServerGroupID: "rsp-b", BackendServers: servers(1)}, // the same server again
	}
	if got, want := idealCalls(reqs, 20), 2+1; got != want {
		t.Errorf("idealCalls = %d, want %d", got, want)
	}
	if got, want := naiveCalls(reqs, 20), 1+1+1+1; got != want {
		t.Errorf("naiveCalls = %d, want %d", got, want)
	}
}

func TestWorkloadsAreSeededAndSeedTheirServers(t *testing.T) {
	a := zipfWorkload(500, 20, 1, 3, 50, 1.1, 7)
	b := zipfWorkload(500, 20, 1, 3, 50, 1.1, 7)
	if !slices.EqualFunc(a.reqs, b.reqs, func(x, y messages.DrainRequest) bool {
		return x.RequestID == y.RequestID && x.VServerGroupID == y.VServerGroupID && slices.Equal(x.BackendServers, y.BackendServers)
	}) {
		t.Error("zipfWorkload differs between two calls with the same seed")
	}
	for _, wl := range []*workload{a, uniformWorkload(300, 7, 3)} {
		for _, r := range wl.reqs {
			if err := r.Validate(); err != nil {
				t.Fatalf("generated request %s is invalid: %v", r.RequestID, err)
			}
			for _, s := range r.BackendServers {
				if !slices.ContainsFunc(wl.groups[r.VServerGroupID], func(b slbsim.Backend) bool { return b.ServerID == s.ServerID }) {
					t.Errorf("server %s of %s is not seeded in group %s", s.ServerID, r.RequestID, r.VServerGroupID)
				}
			}
		}
	}
	u := uniformWorkload(300, 7, 3)
	if got, want := len(u.reqs), 300; got != want {
		t.Errorf("uniformWorkload: %d requests, want %d", got, want)
	}
	if got, want := idealCalls(u.reqs, 20), 7*3; got != want { // 42 or 43 servers per group: 3 calls each
		t.Errorf("uniformWorkload: ideal calls %d, want %d", got, want)
	}
}

func TestRateFigures(t *testing.T) {
	var samples []sample
	for i, v := range []float64{100, 50, 25, 40, 30, 31, 29, 30, 32} {
		samples = append(samples, sample{at: time.Duration(i) * 100 * time.Millisecond, v: v})
	}
	f := figures{}
	rateFigures(f, samples)
	if f["rate_min"] != 25 || f["rate_max"] != 100 {
		t.Errorf("range %v..%v, want 25..100", f["rate_min"], f["rate_max"])
	}
	// From the 30 at 0.4s on, every sample is within 25% of the rest's
	// median (30); from the 25 on, the 40 is not (median 30, 40 > 37.5).
	if got, want := f["rate_settle_s"], 0.4; got != want {
		t.Errorf("settles at %vs, want %vs", got, want)
	}
	if got, want := f["rate_settled"], 30.0; got != want {
		t.Errorf("settled at %v, want %v", got, want)
	}
}

func TestMedianAndPercentile(t *testing.T) {
	if got := median([]float64{3, 1, 2}); got != 2 {
		t.Errorf("median odd = %v, want 2", got)
	}
	if got := median([]float64{4, 1, 2, 3}); got != 2.5 {
		t.Errorf("median even = %v, want 2.5", got)
	}
	sorted := make([]float64, 200)
	for i := range sorted {
		sorted[i] = float64(i + 1)
	}
	for p, want := range map[float64]float64{50: 100, 99: 198, 100: 200} {
		if got := percentile(sorted, p); got != want {
			t.Errorf("p%v = %v, want %v", p, got, want)
		}
	}
}

func TestScale(t *testing.T) {
	o := options{}
	if n, g := o.scale(10000, 500); n != 10000 || g != 500 {
		t.Errorf("no override: %d/%d", n, g)
	}
	o.requests = 200
	if n, g := o.scale(10000, 500); n != 200 || g != 10 {
		t.Errorf("200 of 10000/500: %d/%d, want 200/10", n, g)
	}
	if n, g := o.scale(2000, 1); n != 200 || g != 1 {
		t.Errorf("groups never below 1: %d/%d", n, g)
	}
	if m := o.naiveSampleOf(2000, 0.025, 0.1); m != 50 {
		t.Errorf("quick sample of 2000 = %d, want 50", m)
	}
	o.full = true
	if m := o.naiveSampleOf(2000, 0.025, 0.1); m != 200 {
		t.Errorf("full sample of 2000 = %d, want 200", m)
	}
	o.naiveSample = 0.5
	if m := o.naiveSampleOf(3, 0.025, 0.1); m != 2 {
		t.Errorf("-naive-sample 0.5 of 3 = %d, want 2", m)
	}
}

// TestScenarioTable checks what the runner relies on in every row, so that
// a new row cannot leave out what the output needs.
func TestScenarioTable(t *testing.T) {
	names := map[string]bool{}
	for _, s := range allScenarios() {
		if s.name == "" || names[s.name] {
			t.Errorf("scenario name %q empty or repeated", s.name)
		}
		names[s.name] = true
		if s.requests < 1 || s.groups < 1 || s.workload == nil || s.describe == nil || len(s.columns) == 0 {
			t.Errorf("%s: size, workload, description and columns are required", s.name)
		}
		if s.baseline != "" && (!knownSystem(s.baseline) || s.baseline == sysSlbdrain) {
			t.Errorf("%s: baseline %q is not a baseline", s.name, s.baseline)
		}
	}
}

func TestSizes(t *testing.T) {
	backlog := allScenarios()[slices.IndexFunc(allScenarios(), func(s scenario) bool { return s.name == "backlog" })]
	for _, tc := range []struct {
		o    options
		want []size
	}{
		{options{}, []size{{20000, 1000}}},
		{options{full: true}, []size{{10000, 1000}, {50000, 1000}, {100000, 1000}}},
		{options{full: true, requests: 200}, []size{{200, 10}}},
	} {
		if got := backlog.sizes(tc.o); !slices.Equal(got, tc.want) {
			t.Errorf("sizes(%+v) = %v, want %v", tc.o, got, tc.want)
		}
	}
}

// TestBounds checks each bound on its scenario's own workload against the
// figure worked out by hand (README's performance section quotes them).
func TestBounds(t *testing.T) {
	plans := map[string]*plan{}
	for _, s := range allScenarios() {
		if !slices.Contains([]string{"quota", "throttle", "idle"}, s.name) {
			continue
		}
		p, err := s.plan(options{}, s.requests, s.groups)
		if err != nil {
			t.Fatalf("%s: %v", s.name, err)
		}
		plans[s.name] = p
	}
	// 2,000 servers over 40 groups: 50 each, 3 calls each, 120 calls at 20/s.
	if got, want := quotaBound(plans["quota"]), 6.0; got != want {
		t.Errorf("quota bound %vs, want %vs", got, want)
	}
	// 2,000 servers over 100 groups: 100 calls, 65% of calls succeed, 50/s.
	if got, want := faultAdjustedBound(plans["throttle"]), 100/0.65/50; math.Abs(got-want) > 1e-9 {
		t.Errorf("fault-adjusted bound %vs, want %vs", got, want)
	}
}

// TestWindowBounds checks the windowed rows' bounds on their own workloads,
// at their size and at the smoke test's.
func TestWindowBounds(t *testing.T) {
	for _, tc := range []struct {
		name          string
		o             options
		ideal         float64
		windows, secs float64
	}{
		// 3,000 servers over 30 groups: 100 each, 5 calls each, 150 calls;
		// 15 a window: 10 windows of 2 s.
		{"windowed", options{}, 150, 10, 20},
		// The other tool spends round(0.3 × 15) = 5 of each window: 10 left,
		// 15 windows.
		{"windowed-foreign", options{}, 150, 15, 30},
		// -requests 60: one group of 60 servers, 3 calls, one window.
		{"windowed", options{requests: 60}, 3, 1, 2},
		{"windowed-foreign", options{requests: 60}, 3, 1, 2},
	} {
		s := scenarioNamed(t, tc.name)
		size := s.sizes(tc.o)[0]
		p, err := s.plan(tc.o, size.n, size.groups)
		if err != nil {
			t.Fatalf("%s: %v", tc.name, err)
		}
		if p.ideal != tc.ideal || windowsNeeded(p) != tc.windows || windowBound(p) != tc.secs {
			t.Errorf("%s at %d requests: ideal %v, %v windows, bound %vs; want %v, %v, %vs",
				tc.name, p.n, p.ideal, windowsNeeded(p), windowBound(p), tc.ideal, tc.windows, tc.secs)
		}
		// The worker is told the account's quota, not what the other tool
		// leaves of it.
		if got := p.cfg.Quotas[worker.ActionRemove]; got != (worker.Quota{Calls: 15, Window: 2 * time.Second}) {
			t.Errorf("%s: worker told %s, want 15/2s", tc.name, got)
		}
	}
	// The other rows keep their ceiling per second as the worker's quota.
	p, err := scenarioNamed(t, "quota").plan(options{}, 2000, 40)
	if err != nil {
		t.Fatal(err)
	}
	if got := p.cfg.Quotas[worker.ActionRemove]; got != (worker.Quota{Calls: 20, Window: time.Second}) {
		t.Errorf("quota row: worker told %s, want 20/1s", got)
	}
}

func scenarioNamed(t *testing.T, name string) scenario {
	t.Helper()
	all := allScenarios()
	i := slices.IndexFunc(all, func(s scenario) bool { return s.name == name })
	if i < 0 {
		t.Fatalf("no scenario %s", name)
	}
	return all[i]
}

func TestWindowsUsedAndNextWindow(t *testing.T) {
	w := 2 * time.Second
	t0 := time.Unix(1_000_000, 0) // a window's start: 1,000,000 s is a multiple of 2 s
	call := func(at time.Duration, code string) slbsim.Call {
		return slbsim.Call{Action: worker.ActionRemove, Code: code, Start: t0.Add(at)}
	}
	calls := []slbsim.Call{
		call(10*time.Millisecond, ""),
		call(1990*time.Millisecond, ""),
		{Action: "DescribeVServerGroupAttribute", Start: t0.Add(9 * time.Second)}, // not a remove call
		call(4100*time.Millisecond, ""),                                           // the third window
		call(6500*time.Millisecond, slbsim.CodeThrottlingUser),                    // throttled: not counted as used
	}
	if got := windowsUsed(calls, w); got != 3 {
		t.Errorf("windows used = %v, want 3", got)
	}
	if got := windowsUsed(nil, w); got != 0 {
		t.Errorf("windows used of no calls = %v, want 0", got)
	}
	if all, throttled, ok := removeCounts(calls); all != 4 || throttled != 1 || ok != 3 {
		t.Errorf("remove counts %d/%d/%d, want 4 calls, 1 throttled, 3 ok", all, throttled, ok)
	}
	for at, want := range map[time.Duration]time.Duration{0: 2 * time.Second, 1999 * time.Millisecond: 2 * time.Second, 2 * time.Second: 4 * time.Second} {
		if got := nextWindow(t0.Add(at), w); !got.Equal(t0.Add(want)) {
			t.Errorf("next window after +%s: +%s, want +%s", at, got.Sub(t0), want)
		}
	}
}

func TestTwoRegionWorkload(t *testing.T) {
	wl := twoRegionWorkload(40, 4, 6, 2, throttledRegion, 8)
	healthy, stuck := 0, 0
	for _, r := range wl.reqs {
		if err := r.Validate(); err != nil {
			t.Fatalf("%s: %v", r.RequestID, err)
		}
		if got := wl.region(r.VServerGroupID); got != r.RegionID {
			t.Errorf("%s: group %s seeded in %s, request in %s", r.RequestID, r.VServerGroupID, got, r.RegionID)
		}
		if r.RegionID == benchRegion {
			healthy++
		} else {
			stuck++
		}
	}
	if healthy != 40 || stuck != 6 || len(wl.groups) != 6 || len(wl.regionOf) != 2 {
		t.Errorf("%d healthy and %d stuck requests over %d groups (%d in %s), want 40 and 6 over 4+2",
			healthy, stuck, len(wl.groups), len(wl.regionOf), throttledRegion)
	}
	ids := map[string]bool{}
	for _, r := range wl.reqs {
		if ids[r.RequestID] {
			t.Errorf("request id %s twice", r.RequestID)
		}
		ids[r.RequestID] = true
	}
	p, err := scenarioNamed(t, "two-regions").plan(options{}, 400, 20)
	if err != nil {
		t.Fatal(err)
	}
	tr := &trialRun{p: p}
	msgs, stuckReqs := tr.byRegion()
	if len(msgs) != 400 || len(stuckReqs) != 40 {
		t.Errorf("two-regions: %d healthy, %d stuck; want 400 and 40", len(msgs), len(stuckReqs))
	}
	if q := removeQuota(p.sim); q != (slbsim.Quota{Calls: 90, Window: time.Minute}) {
		t.Errorf("healthy region's remove quota %s, want Alibaba's 90/60s", q)
	}
	if q := p.sim.RegionQuotas[throttledRegion][worker.ActionRemove]; q.Available() != 0 {
		t.Errorf("throttled region's remove quota %s leaves %d calls, want none", q, q.Available())
	}
}

func TestCompleteWithExpectedFailures(t *testing.T) {
	r := &trialResult{n: 10, wantFailed: 2, events: eventCounts{completed: 8, failed: 2}, eventsStored: 10}
	if !r.complete() || r.asExpected() != 10 {
		t.Errorf("8 completed and the 2 expected failures: complete %v, as expected %d", r.complete(), r.asExpected())
	}
	r.events = eventCounts{completed: 7, failed: 3}
	if r.complete() || r.asExpected() != 9 {
		t.Errorf("a third failure: complete %v, as expected %d; want false, 9", r.complete(), r.asExpected())
	}
	r = &trialResult{n: 3, events: eventCounts{completed: 3}, eventsStored: 3}
	if !r.complete() {
		t.Error("3 of 3 completed, none expected to fail: not complete")
	}
}

func TestMarksAndLatencyFigures(t *testing.T) {
	res := &trialResult{n: 1}
	for _, ms := range []int{900, 300, 400} {
		res.mark("restart_ms", time.Duration(ms)*time.Millisecond)
	}
	f := runFigures(res)
	if f["restart_ms"] != 400 || f["restart_ms_max"] != 900 {
		t.Errorf("restart %v ms, worst %v; want the median 400 and the worst 900", f["restart_ms"], f["restart_ms_max"])
	}
	res = &trialResult{n: 3, latencies: []float64{21, 23, 22}, calls: []slbsim.Call{
		{Action: worker.ActionRemove, Start: time.Unix(0, 0), End: time.Unix(0, int64(20500*time.Microsecond))},
	}}
	f = figures{}
	latencyFigures(&plan{}, sysSlbdrain, res, f)
	if got := f["p50_over_api_ms"]; math.Abs(got-1.5) > 1e-9 {
		t.Errorf("p50 − API p50 = %v ms, want 22 − 20.5 = 1.5", got)
	}
}

// TestRowSystems: a variant runs slbdrain under its own name and driver,
// and is never taken for a sampled baseline.
func TestRowSystems(t *testing.T) {
	s := scenarioNamed(t, "two-regions")
	p := &plan{sampled: true}
	var names []string
	for _, sys := range s.systems(p) {
		names = append(names, sys.name)
		if sys.impl() != sysSlbdrain || p.sampledBy(sys.name) {
			t.Errorf("%s: starts %s, sampled %v; want slbdrain, not sampled", sys.name, sys.impl(), p.sampledBy(sys.name))
		}
	}
	if !slices.Equal(names, []string{sysSlbdrain, sysAlone}) {
		t.Errorf("two-regions systems %v", names)
	}
	q := scenarioNamed(t, "quota")
	p = &plan{sampled: true, baseline: q.baseline}
	if !p.sampledBy(sysNaive) || p.sampledBy(sysSlbdrain) {
		t.Error("quota: the naive baseline is sampled, slbdrain is not")
	}
	for _, name := range []string{"restart", "failover"} {
		s := scenarioNamed(t, name)
		if got := s.sizes(options{requests: 60}); !slices.Equal(got, []size{{1, 1}}) {
			t.Errorf("%s -requests 60: sizes %v, want one repetition", name, got)
		}
		if got := s.sizes(options{}); !slices.Equal(got, []size{{takeoverRepetitions, 1}}) {
			t.Errorf("%s: sizes %v, want %d repetitions", name, got, takeoverRepetitions)
		}
	}
}

// TestBaselinesAnswerEveryRequestOnce drains valid requests and one the
// contract rejects with each baseline: every request gets one event, and
// is acked (or terminated) only once that event is stored.
func TestBaselinesAnswerEveryRequestOnce(t *testing.T) {
	if testing.Short() {
		t.Skip("runs an embedded JetStream server")
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	wl := uniformWorkload(30, 3, 9)
	msgs, err := encode(wl.reqs)
	if err != nil {
		t.Fatal(err)
	}
	msgs = append(msgs, &nats.Msg{
		Subject: messages.RequestSubject(benchRegion, benchGroupID(0)),
		Data:    []byte(`{"version":1}`),
		Header:  nats.Header{messages.MsgIDHeader: []string{"bench-invalid"}},
	})
	p := &plan{n: len(msgs), groups: 3, wl: wl, msgs: msgs, cfg: benchConfig(), drive: whileRunning, timeout: 30 * time.Second}
	for _, name := range []string{sysRaw, sysNaive} {
		t.Run(name, func(t *testing.T) {
			res, err := runTrial(ctx, p, system{name: name, cfg: baselineConfig(p.cfg, p.timeout)}, 0)
			if err != nil {
				t.Fatal(err)
			}
			if res.timedOut || res.events.completed != len(msgs)-1 || res.events.rejected != 1 || res.events.dups != 0 {
				t.Errorf("events %+v (timed out %v), want %d completed and 1 rejected, once each", res.events, res.timedOut, len(msgs)-1)
			}
			if res.eventsStored != uint64(len(msgs)) || res.requestsLeft != 0 {
				t.Errorf("%d events stored, %d requests left unacked; want %d and 0", res.eventsStored, res.requestsLeft, len(msgs))
			}
		})
	}
}

func TestGaugeReadsTheLabelledSeries(t *testing.T) {
	reg := prometheus.NewRegistry()
	share := prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: "share"}, []string{"region", "action"})
	reg.MustRegister(share)
	share.WithLabelValues(benchRegion, "DescribeVServerGroupAttribute").Set(4)
	share.WithLabelValues(benchRegion, "RemoveVServerGroupBackendServers").Set(7)
	got, err := gauge(reg, "share", map[string]string{"region": benchRegion, "action": "RemoveVServerGroupBackendServers"})
	if err != nil || got != 7 {
		t.Errorf("gauge = %v, %v; want 7", got, err)
	}
	if _, err := gauge(reg, "share", map[string]string{"region": "cn-beijing"}); err == nil {
		t.Error("a series no label set matches: want an error")
	}
}

// TestInstanceWorkload: every instance is in every group of every load
// balancer, one backend port per group of a load balancer; the requests
// are valid instance-scope requests on the instances subject; the ideal
// is Σ⌈instances/20⌉ per group, and the ideal reads one per instance, load
// balancer and group.
func TestInstanceWorkload(t *testing.T) {
	wl := instanceWorkload(40, 8, 1)
	if again := instanceWorkload(40, 8, 1); !slices.EqualFunc(wl.reqs, again.reqs, func(a, b messages.DrainRequest) bool { return a.RequestID == b.RequestID }) {
		t.Error("instanceWorkload differs between two calls with the same seed")
	}
	if len(wl.reqs) != 40 || len(wl.groups) != 8 {
		t.Fatalf("%d requests over %d groups, want 40 over 8", len(wl.reqs), len(wl.groups))
	}
	lbs := map[string]int{}
	for g := range 8 {
		id := benchGroupID(g)
		lbs[wl.loadBalancer(id)]++
		members := wl.groups[id]
		if len(members) != 40+instanceKept(40) {
			t.Errorf("%s: %d members, want the fleet of %d", id, len(members), 40+instanceKept(40))
		}
		for _, b := range members {
			if b.Port != instancePort(g) {
				t.Errorf("%s: %s on port %d, want %d", id, b.ServerID, b.Port, instancePort(g))
			}
		}
	}
	if len(lbs) != 2 || lbs[benchLBID(0)] != 4 || lbs[benchLBID(1)] != 4 {
		t.Errorf("groups per load balancer %v, want 2 × 4", lbs)
	}
	msgs, err := encode(wl.reqs)
	if err != nil {
		t.Fatal(err)
	}
	for i, r := range wl.reqs {
		if !r.InstanceScope() || len(r.BackendServers) != 1 || r.BackendServers[0].Port != 0 {
			t.Errorf("%s: %+v, want one instance, no group, no port", r.RequestID, r)
		}
		if want := messages.InstancesRequestSubject(benchRegion); msgs[i].Subject != want {
			t.Errorf("%s published to %s, want %s", r.RequestID, msgs[i].Subject, want)
		}
		if _, err := messages.Decode(msgs[i].Subject, msgs[i].Data); err != nil {
			t.Errorf("%s: a worker would reject it: %v", r.RequestID, err)
		}
	}
	parts := wl.groupScoped()
	if len(parts) != 40*8 {
		t.Errorf("%d (group, instance) parts, want 320", len(parts))
	}
	for _, p := range parts {
		if len(p.BackendServers) != 1 || p.BackendServers[0].Port == 0 {
			t.Errorf("part %s/%s: %v, want the instance on its port", p.RequestID, p.VServerGroupID, p.BackendServers)
		}
	}
	if got, want := idealCalls(parts, messages.MaxBatch), 8*2; got != want {
		t.Errorf("ideal calls %d, want 8 groups × ⌈40/20⌉ = %d", got, want)
	}
	want := map[string]int{worker.ActionDescribeLBs: 40, worker.ActionListGroups: 2, worker.ActionDescribe: 8}
	if got := wl.idealReads(); !maps.Equal(got, want) {
		t.Errorf("ideal reads %v, want %v", got, want)
	}
	if got := uniformWorkload(30, 3, 1).idealReads(); len(got) != 0 {
		t.Errorf("a group-scope workload has ideal reads %v, want none", got)
	}
}

// TestInstanceBound checks the instances row at its size and the smoke
// test's: 200 instances in 12 groups, 120 remove calls at 30 a 1 s window
// (4 s; DescribeLoadBalancers' 200 at 90 a window need 3), and what the
// worker is told.
func TestInstanceBound(t *testing.T) {
	s := scenarioNamed(t, "instances")
	for _, tc := range []struct {
		o                    options
		n, groups            int
		ideal                float64
		lbCalls, lists, attr float64
		bound                float64
	}{
		{options{}, 200, 12, 120, 200, 3, 12, 4},
		{options{requests: 60}, 60, 4, 12, 60, 1, 4, 1},
	} {
		size := s.sizes(tc.o)[0]
		if size.n != tc.n || size.groups != tc.groups {
			t.Fatalf("%+v: size %v, want %d requests over %d groups", tc.o, size, tc.n, tc.groups)
		}
		p, err := s.plan(tc.o, size.n, size.groups)
		if err != nil {
			t.Fatal(err)
		}
		ideal := instanceIdeal(p)
		if p.ideal != tc.ideal || ideal[worker.ActionDescribeLBs] != tc.lbCalls || ideal[worker.ActionListGroups] != tc.lists || ideal[worker.ActionDescribe] != tc.attr {
			t.Errorf("%d requests: ideal %v, want remove %v, reads %v/%v/%v", p.n, ideal, tc.ideal, tc.lbCalls, tc.lists, tc.attr)
		}
		if bound, action := instanceBound(p); bound != tc.bound || action != worker.ActionRemove {
			t.Errorf("%d requests: bound %vs by %s, want %vs by the remove quota", p.n, bound, action, tc.bound)
		}
	}
	p, err := s.plan(options{}, 200, 12)
	if err != nil {
		t.Fatal(err)
	}
	if q := removeQuota(p.sim); q != (slbsim.Quota{Calls: 30, Window: time.Second}) {
		t.Errorf("emulator remove quota %s, want 30/1s", q)
	}
	want := map[string]worker.Quota{worker.ActionRemove: {Calls: 30, Window: time.Second}}
	for _, a := range []string{worker.ActionDescribeLBs, worker.ActionListGroups, worker.ActionDescribe} {
		want[a] = worker.Quota{Calls: 90, Window: time.Second}
		if q := actionQuota(p.sim, a); q != (slbsim.Quota{Calls: 90, Window: time.Second}) {
			t.Errorf("emulator %s quota %s, want 90/1s", a, q)
		}
	}
	if !maps.Equal(p.cfg.Quotas, want) {
		t.Errorf("worker told %v, want %v", p.cfg.Quotas, want)
	}
	if !p.sampledBy(sysNaive) || p.sample != 20 {
		t.Errorf("naive sample %d (sampled %v), want 20 of 200", p.sample, p.sampledBy(sysNaive))
	}
}

// TestNaiveDrainsInstances: the naive hook resolves each instance on its
// own and removes it group by group, 1 + 1 + 4 + 4 calls for an instance in
// the 4 groups of one load balancer; slbdrain drains the same instances
// with one read of each load balancer per instance. Both take every
// instance out of every group.
func TestNaiveDrainsInstances(t *testing.T) {
	if testing.Short() {
		t.Skip("runs an embedded JetStream server")
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	const n, groups = 6, 4
	p, err := scenarioNamed(t, "instances").plan(options{}, n, groups)
	if err != nil {
		t.Fatal(err)
	}
	p.sampled, p.sample = false, n // all of them: the counts are checked exactly
	for _, sys := range []system{{name: sysNaive, cfg: baselineConfig(p.cfg, p.timeout)}, {name: sysSlbdrain, cfg: p.cfg}} {
		t.Run(sys.name, func(t *testing.T) {
			res, err := runTrial(ctx, p, sys, 0)
			if err != nil {
				t.Fatal(err)
			}
			if !res.complete() {
				t.Fatalf("events %+v, %d stored, %d left (timed out %v): want %d completed", res.events, res.eventsStored, res.requestsLeft, res.timedOut, n)
			}
			calls := map[string]int{}
			for _, c := range res.calls {
				calls[c.Action]++
			}
			if got := res.stats.ServersRemoved; got != n*groups {
				t.Errorf("%d (group, instance) pairs removed, want %d", got, n*groups)
			}
			if calls[worker.ActionDescribeLBs] != n {
				t.Errorf("%d DescribeLoadBalancers calls, want one per instance: %v", calls[worker.ActionDescribeLBs], calls)
			}
			if sys.name == sysNaive {
				want := map[string]int{worker.ActionDescribeLBs: n, worker.ActionListGroups: n, worker.ActionDescribe: n * groups, worker.ActionRemove: n * groups}
				if !maps.Equal(calls, want) {
					t.Errorf("calls %v, want %v", calls, want)
				}
			}
		})
	}
}
