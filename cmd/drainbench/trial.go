package main

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/slbdrain/slbdrain/internal/slbsim"
	"github.com/slbdrain/slbdrain/messages"
)

// trialResult is what one trial measured.
type trialResult struct {
	n int
	// wantFailed is how many of the n requests the row expects to fail
	// (their deadline passes while their region is throttled); the rest
	// must complete.
	wantFailed int
	// elapsed runs from the first publish (or, for a backlog, from the
	// system's start) to the last request's event.
	elapsed      time.Duration
	publish      time.Duration // how long publishing took (acks included)
	latencies    []float64     // ms from publish to event of each request, warm-up excluded (oneAtATime)
	timedOut     bool
	events       eventCounts
	stats        slbsim.Stats
	calls        []slbsim.Call
	requestsLeft uint64 // in the requests stream after the drain: unacked
	eventsStored uint64
	peakRSS      int64         // child only
	peakHeap     int64         // child only: largest live Go heap
	cpu          time.Duration // child only
	samples      []sample
	// marks are a driver's own timings, ms, one per repetition, by name
	// (a restart's time to its first completion, say).
	marks map[string][]float64
}

// mark records one repetition's timing under name, in ms.
func (r *trialResult) mark(name string, d time.Duration) {
	if r.marks == nil {
		r.marks = map[string][]float64{}
	}
	r.marks[name] = append(r.marks[name], float64(d)/float64(time.Millisecond))
}

type sample struct {
	at time.Duration
	v  float64
}

// complete says whether every request ended as the row expects (completed,
// or failed for the wantFailed), exactly once in the events stream, and was
// acked.
func (r *trialResult) complete() bool {
	return !r.timedOut && r.events.completed == r.n-r.wantFailed && r.events.failed == r.wantFailed &&
		r.eventsStored == uint64(r.n) && r.requestsLeft == 0
}

// asExpected counts the requests that ended as the row expects.
func (r *trialResult) asExpected() int {
	return min(r.events.completed, r.n-r.wantFailed) + min(r.events.failed, r.wantFailed)
}

// A driver puts a trial's requests before the system: it starts the system
// (tr.start) before or after publishing, and returns once every request has
// its event or the trial timed out. A scenario of another shape (a restart
// mid-drain, a failover) is another driver.
type driver func(ctx context.Context, tr *trialRun) error

// trialRun is one trial in progress.
type trialRun struct {
	p    *plan
	msgs []*nats.Msg // the requests this system drains
	e    *env
	sys  system
	r    *running // the started system; nil before start and after stop
	res  *trialResult
}

// runTrial is one run of sys on p's requests, in a fresh env.
func runTrial(ctx context.Context, p *plan, sys system, run int) (res *trialResult, err error) {
	sim := p.sim
	sim.Seed = int64(run + 1)
	e, err := newEnv(ctx, sim, p.cfg, p.blockRate)
	if err != nil {
		return nil, err
	}
	defer func() { err = errors.Join(err, e.close()) }()
	e.seed(p.wl)
	msgs := p.msgs
	if p.sampledBy(sys.name) {
		msgs = msgs[:p.sample]
	}
	e.events.expect(len(msgs))
	tr := &trialRun{p: p, msgs: msgs, e: e, sys: sys, res: &trialResult{n: len(msgs)}}
	defer func() { err = errors.Join(err, tr.stop()) }()
	drive := p.drive
	if sys.drive != nil {
		drive = sys.drive
	}
	if err := drive(ctx, tr); err != nil {
		return nil, err
	}
	res = tr.res
	res.events = e.events.counts()
	var proc *child
	if tr.r != nil {
		proc = tr.r.child
	}
	if proc != nil {
		if res.peakRSS, err = proc.peakRSS(); err != nil { // while it runs
			return nil, err
		}
	}
	if res.requestsLeft, res.eventsStored, err = e.waitSettled(ctx, 10*time.Second); err != nil {
		return nil, err
	}
	res.stats = e.sim.Stats()
	res.calls = e.sim.Calls()
	if err := tr.stop(); err != nil {
		return nil, err
	}
	if proc != nil {
		res.cpu, res.peakHeap = proc.cpu(), proc.peakHeap
	}
	return res, nil
}

// expect makes msgs the trial's requests, of which the row expects failing
// to fail: a driver that publishes other requests than the plan's says so
// before it publishes.
func (tr *trialRun) expect(msgs []*nats.Msg, failing int) {
	tr.msgs = msgs
	tr.res.n, tr.res.wantFailed = len(msgs), failing
	tr.e.events.expect(len(msgs))
}

// start starts the system and, if ready, waits until it takes work.
func (tr *trialRun) start(ctx context.Context, ready bool) error {
	r, err := tr.sys.start(ctx, tr.e.natsURL(), tr.e.simSrv.URL)
	if err != nil {
		return err
	}
	tr.r = r
	if ready {
		if err := waitReady(ctx, r, 30*time.Second); err != nil {
			return fmt.Errorf("%s: %w", tr.sys.name, err)
		}
	}
	return nil
}

func (tr *trialRun) stop() error {
	if tr.r == nil {
		return nil
	}
	r := tr.r
	tr.r = nil
	return r.stop()
}

// whileRunning starts the system, waits until it is ready, then publishes
// every request at once: a storm that arrives while the worker runs.
func whileRunning(ctx context.Context, tr *trialRun) error {
	if err := tr.start(ctx, true); err != nil {
		return err
	}
	return tr.publishAndDrain(ctx)
}

// publishAndDrain publishes every request at once and waits for their
// events, timed from the first publish.
func (tr *trialRun) publishAndDrain(ctx context.Context) error {
	t0 := time.Now()
	if err := tr.e.publishAll(ctx, tr.msgs); err != nil {
		return err
	}
	tr.res.publish = time.Since(t0)
	return tr.drain(ctx, t0)
}

// backlog publishes every request, then starts the system on them: what is
// timed is the system alone, from its start.
func backlog(ctx context.Context, tr *trialRun) error {
	p0 := time.Now()
	if err := tr.e.publishAll(ctx, tr.msgs); err != nil {
		return err
	}
	t0 := time.Now()
	tr.res.publish = t0.Sub(p0)
	if err := tr.start(ctx, false); err != nil {
		return err
	}
	return tr.drain(ctx, t0)
}

// oneAtATime publishes each request once the previous one's event arrived
// and times each from publish to event: the latency of an idle system.
func oneAtATime(ctx context.Context, tr *trialRun) error {
	if err := tr.start(ctx, true); err != nil {
		return err
	}
	for i, m := range tr.msgs {
		got := tr.e.events.await(m.Header.Get(messages.MsgIDHeader))
		t0 := time.Now()
		if err := tr.e.publishSync(ctx, m); err != nil {
			return err
		}
		select {
		case t1 := <-got:
			if i >= tr.p.warmup {
				tr.res.latencies = append(tr.res.latencies, float64(t1.Sub(t0))/float64(time.Millisecond))
			}
		case <-time.After(30 * time.Second):
			tr.res.timedOut = true
			return nil
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	return nil
}

// drain waits until every request has its event (or the trial's timeout),
// reading the worker's metrics meanwhile if the plan says so, and sets
// the elapsed time from t0.
func (tr *trialRun) drain(ctx context.Context, t0 time.Time) error {
	var wg sync.WaitGroup
	watching := make(chan struct{})
	if tr.p.watch != nil && tr.r.gather != nil {
		g, read := tr.r.gather, tr.p.watch
		wg.Go(func() {
			tr.res.samples = sampleUntil(t0, func() (float64, error) { return read(g) }, 100*time.Millisecond, watching)
		})
	}
	defer wg.Wait()
	defer close(watching)
	select {
	case <-tr.e.events.doneCh():
	case <-time.After(tr.p.timeout):
		tr.res.timedOut = true
	case <-ctx.Done():
		return ctx.Err()
	}
	if last := tr.e.events.counts().last; !last.IsZero() {
		tr.res.elapsed = last.Sub(t0)
	}
	return nil
}

func sampleUntil(t0 time.Time, read func() (float64, error), every time.Duration, stop <-chan struct{}) []sample {
	var out []sample
	tick := time.NewTicker(every)
	defer tick.Stop()
	for {
		if v, err := read(); err == nil {
			out = append(out, sample{at: time.Since(t0), v: v})
		}
		select {
		case <-stop:
			return out
		case <-tick.C:
		}
	}
}

// figures are one run's measurements of one system, by name.
type figures map[string]float64

// alternate runs each system o.runs times, rotating their order every run,
// so that a slow spell of the shared machine does not fall on one system
// only.
func alternate(ctx context.Context, o options, systems []system, label string,
	one func(ctx context.Context, run int, sys system) (figures, error)) (map[string][]figures, error) {
	runs, progress := o.runs, o.progress
	out := make(map[string][]figures, len(systems))
	for run := range runs {
		for i := range systems {
			sys := systems[(i+run)%len(systems)]
			start := time.Now()
			f, err := one(ctx, run, sys)
			if err != nil {
				return nil, fmt.Errorf("%s run %d, %s: %w", label, run+1, sys.name, err)
			}
			fmt.Fprintf(progress, "  %s run %d/%d %-8s %6.2fs\n", label, run+1, runs, sys.name, time.Since(start).Seconds())
			out[sys.name] = append(out[sys.name], f)
		}
	}
	return out, nil
}
