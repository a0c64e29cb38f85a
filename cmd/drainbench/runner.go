package main

import (
	"context"
	"fmt"
	"maps"
	"math"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/slbdrain/slbdrain/internal/slbsim"
	"github.com/slbdrain/slbdrain/messages"
	"github.com/slbdrain/slbdrain/worker"
)

// scenario is one row of the table (scenarios.go): what to drain, on what
// emulator, by slbdrain beside which baseline, and how to judge it. One
// runner runs every row; a row needs a function of its own only for the
// figures, goals and words that are its alone.
type scenario struct {
	name string
	// requests and groups are the scenario's size; -requests scales both.
	requests, groups int
	// fullSizes, with -full, replace requests by a curve of sizes over the
	// same groups; curve, if set, adds a result read across them.
	fullSizes []int
	curve     func(o options, sizes []*result) *result
	workload  func(n, groups int) *workload
	// warmup is how many requests go first and are not timed (oneAtATime).
	warmup func(n int) int
	sim    slbsim.Config // of every trial; the seed is the run's
	slbQPS float64       // the worker's ceiling, calls/s; 0: its default
	// quota, if set, is the remove quota the worker is told, as an
	// operator tells it the account's with --slb-quota. Zero: the ceiling
	// per 1 s window (with Alibaba's default, 90 calls a minute, every row
	// would measure that).
	quota worker.Quota
	// readQuotas, if set, are the quotas of the read actions the worker is
	// told beside quota (nil: its defaults, Alibaba's).
	readQuotas map[string]worker.Quota
	drive      driver // nil: whileRunning
	// repeats: requests counts repetitions (of a restart, a failover), not
	// a drain's size; -requests makes it one.
	repeats bool
	// baseline, if set, runs beside slbdrain. With sampled set, it drains
	// only that share of the requests and its time and counts are scaled
	// up: exact for a baseline whose pace is one call per request at a
	// fixed rate.
	baseline string
	sampled  share
	// variants run slbdrain again beside the first, each under its own
	// name and driver: the same drain with nothing else going on, say.
	variants []variant
	inChild  bool    // both systems in processes of their own, so memory and CPU are theirs alone
	watch    reading // of the in-process worker's metrics, every 100ms while it drains
	describe func(p *plan) string
	// params are the row's own parameters, beyond those of every row.
	params func(p *plan) map[string]any
	// measure adds the row's figures to one run's (after the scale-up).
	measure func(p *plan, sys string, res *trialResult, f figures)
	// judge adds the row's goals and ratios, read from the medians.
	judge   func(p *plan, r *result)
	columns []column
	notes   []string
}

// variant is slbdrain driven another way, shown as a system of its own.
type variant struct {
	name  string
	drive driver
}

// share is a fraction of the requests, in the quick and the full set.
type share struct{ quick, full float64 }

// plan is a scenario made concrete at one size.
type plan struct {
	n, groups int
	warmup    int
	wl        *workload
	msgs      []*nats.Msg
	sim       slbsim.Config
	cfg       worker.Config
	ideal     float64 // Σ⌈unique servers per group / 20⌉, instance scope resolved: see idealCalls
	baseline  string  // the row's baseline, if any
	sampled   bool
	sample    int // requests a sampled baseline drains
	drive     driver
	watch     reading
	timeout   time.Duration
	blockRate int // block profile rate to keep, when profiling
}

// sampledBy says whether sys drains only a sample of the requests.
func (p *plan) sampledBy(sys string) bool { return p.sampled && sys == p.baseline }

// scale is what the counts of sys are multiplied by to stand for all the
// requests.
func (p *plan) scale(sys string) float64 {
	if !p.sampledBy(sys) {
		return 1
	}
	return float64(p.n) / float64(p.sample)
}

// trialTimeout is how long a trial of n requests may take: generous, as it
// only stops a wedged one.
func trialTimeout(n int) time.Duration {
	return max(3*time.Minute, time.Duration(n)*2*time.Millisecond)
}

func runScenario(ctx context.Context, o options, s scenario) ([]*result, error) {
	var out []*result
	for _, size := range s.sizes(o) {
		r, err := s.runAt(ctx, o, size.n, size.groups)
		if err != nil {
			return out, err
		}
		out = append(out, r)
	}
	if len(out) > 1 && s.curve != nil {
		out = append(out, s.curve(o, out))
	}
	return out, nil
}

type size struct{ n, groups int }

// sizes are the sizes the scenario runs at: its own, the curve of -full,
// or -requests.
func (s scenario) sizes(o options) []size {
	switch {
	case o.requests > 0 && s.repeats:
		return []size{{1, s.groups}}
	case o.requests > 0:
		n, g := o.scale(s.requests, s.groups)
		return []size{{n, g}}
	case o.full && len(s.fullSizes) > 0:
		var out []size
		for _, n := range s.fullSizes {
			out = append(out, size{n, s.groups})
		}
		return out
	}
	return []size{{s.requests, s.groups}}
}

func (s scenario) plan(o options, n, groups int) (*plan, error) {
	p := &plan{n: n, groups: groups, sim: s.sim, cfg: benchConfig(), drive: s.drive, watch: s.watch,
		baseline: s.baseline, sample: n, timeout: trialTimeout(n), blockRate: o.blockRate}
	if p.drive == nil {
		p.drive = whileRunning
	}
	if s.warmup != nil {
		p.warmup = s.warmup(n)
	}
	if s.slbQPS > 0 {
		p.cfg.SLBQPS = s.slbQPS
	}
	q := s.quota
	if q == (worker.Quota{}) {
		q = worker.Quota{Calls: int(math.Ceil(p.cfg.SLBQPS)), Window: time.Second}
	}
	p.cfg.Quotas = map[string]worker.Quota{worker.ActionRemove: q}
	maps.Copy(p.cfg.Quotas, s.readQuotas)
	if s.sampled != (share{}) {
		p.sampled, p.sample = true, o.naiveSampleOf(n, s.sampled.quick, s.sampled.full)
	}
	p.wl = s.workload(p.warmup+n, groups)
	var err error
	if p.msgs, err = encode(p.wl.reqs); err != nil {
		return nil, err
	}
	p.ideal = float64(idealCalls(p.wl.groupScoped(), messages.MaxBatch))
	return p, nil
}

func (s scenario) runAt(ctx context.Context, o options, n, groups int) (*result, error) {
	start := time.Now()
	p, err := s.plan(o, n, groups)
	if err != nil {
		return nil, err
	}
	r := newResult(s.name, s.describe(p), o, start, s.paramsOf(p))
	var order []string
	var systems []system
	for _, sys := range s.systems(p) {
		order = append(order, sys.name)
		if o.systems != nil && !o.systems[sys.impl()] {
			continue
		}
		sys.inChild, sys.profiles = s.inChild, o.childProfiles
		systems = append(systems, sys)
	}
	label := s.name
	if len(s.fullSizes) > 0 {
		label = fmt.Sprintf("%s %d", s.name, n)
	}
	runs, err := alternate(ctx, o, systems, label, func(ctx context.Context, run int, sys system) (figures, error) {
		res, err := runTrial(ctx, p, sys, run)
		if err != nil {
			return nil, err
		}
		f := runFigures(res)
		if p.sampledBy(sys.name) {
			scaleUp(f, p.scale(sys.name))
		}
		if s.measure != nil {
			s.measure(p, sys.name, res, f)
		}
		return f, nil
	})
	if err != nil {
		return nil, err
	}
	r.finish(order, runs, start)
	if s.judge != nil {
		s.judge(p, r)
	}
	r.columns = s.columns
	if p.sampled {
		r.Notes = append(r.Notes, sampleNote(s.baseline, p.sample, p.n))
	}
	r.Notes = append(r.Notes, s.notes...)
	return r, nil
}

// systems are the row's systems in order: slbdrain, its variants, the
// baseline.
func (s scenario) systems(p *plan) []system {
	out := []system{{name: sysSlbdrain, cfg: p.cfg}}
	for _, v := range s.variants {
		out = append(out, system{name: v.name, kind: sysSlbdrain, cfg: p.cfg, drive: v.drive})
	}
	if s.baseline != "" {
		out = append(out, system{name: s.baseline, cfg: baselineConfig(p.cfg, p.timeout)})
	}
	return out
}

// paramsOf are the parameters every row shows, then the row's own.
func (s scenario) paramsOf(p *plan) map[string]any {
	m := map[string]any{"requests": p.n, "groups": p.groups, "slb_qps": p.cfg.SLBQPS}
	if p.sim.Latency > 0 {
		m["latency_ms"] = p.sim.Latency.Milliseconds()
	}
	if p.sim.QPS > 0 {
		m["quota_qps"] = p.sim.QPS
	}
	if p.sim.Burst > 0 {
		m["quota_burst"] = p.sim.Burst
	}
	if p.sim.Faults.Throttling > 0 {
		m["throttling"] = p.sim.Faults.Throttling
	}
	if p.sim.Faults.ServiceUnavailable > 0 {
		m["service_unavailable"] = p.sim.Faults.ServiceUnavailable
	}
	if q := removeQuota(p.sim); q.Limited() {
		m["quota"] = q.String()
	}
	m["worker_quota"] = p.cfg.Quotas[worker.ActionRemove].String()
	if p.sampled {
		m["naive_sample_requests"] = p.sample
	}
	if s.params != nil {
		maps.Copy(m, s.params(p))
	}
	return m
}

// scale returns a scenario's request and group counts: its own, or, with
// -requests, that many requests over proportionally fewer groups.
func (o options) scale(requests, groups int) (int, int) {
	if o.requests <= 0 {
		return requests, groups
	}
	g := int(math.Round(float64(groups) * float64(o.requests) / float64(requests)))
	return o.requests, max(1, g)
}

// naiveSampleOf is how many of n requests a sampled baseline drains: a
// fraction of them (quick or full by default, or -naive-sample), at least
// one.
func (o options) naiveSampleOf(n int, quick, full float64) int {
	f := quick
	switch {
	case o.naiveSample > 0:
		f = o.naiveSample
	case o.full:
		f = full
	}
	return min(n, max(1, int(math.Round(float64(n)*f))))
}

func sampleNote(sys string, m, n int) string {
	if m == n {
		return sys + ": measured on all the requests"
	}
	return fmt.Sprintf("%s: measured on %d of the %d requests, its drain time and counts scaled ×%.1f (measured: sample_* in -json)",
		sys, m, n, float64(n)/float64(m))
}

// scaleUp turns a sample's figures into estimates for the full set, keeping
// the measured ones under sample_*.
func scaleUp(f figures, scale float64) {
	for _, k := range []string{"drain_s", "api_calls", "api_ok", "throttled", "requests"} {
		f["sample_"+k] = f[k]
		f[k] *= scale
	}
}
