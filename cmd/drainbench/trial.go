package main

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/slbdrain/slbdrain/internal/slbsim"
	"github.com/slbdrain/slbdrain/worker"
)

// trial is one system draining one set of requests in a fresh env.
type trial struct {
	sim  slbsim.Config
	cfg  worker.Config // of the streams
	wl   *workload     // the groups to seed
	msgs []*nats.Msg   // the requests to publish
	// prePublish publishes everything before the system starts (a backlog);
	// otherwise the system starts, becomes ready, and the requests are
	// published at once while it runs.
	prePublish bool
	timeout    time.Duration
	// sample, when set, is read every sampleEvery while the trial runs.
	sample      func(r *running) (float64, error)
	sampleEvery time.Duration
	blockRate   int // block profile rate to keep, when profiling
}

// trialResult is what one trial measured.
type trialResult struct {
	n int
	// elapsed runs from the first publish (or, for a backlog, from the
	// system's start) to the last request's event.
	elapsed      time.Duration
	publish      time.Duration // how long publishing took (acks included)
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
}

type sample struct {
	at time.Duration
	v  float64
}

// complete says whether every request ended completed, exactly once in the
// events stream, and was acked.
func (r *trialResult) complete() bool {
	return !r.timedOut && r.events.completed == r.n && r.eventsStored == uint64(r.n) && r.requestsLeft == 0
}

func runTrial(ctx context.Context, sys system, t trial) (res *trialResult, err error) {
	e, err := newEnv(ctx, t.sim, t.cfg, t.blockRate)
	if err != nil {
		return nil, err
	}
	defer func() { err = errors.Join(err, e.close()) }()
	e.seed(t.wl)
	e.events.expect(len(t.msgs))
	res = &trialResult{n: len(t.msgs)}

	var (
		r  *running
		t0 time.Time
	)
	if t.prePublish {
		p0 := time.Now()
		if err := e.publishAll(ctx, t.msgs); err != nil {
			return nil, err
		}
		t0 = time.Now()
		res.publish = t0.Sub(p0)
		if r, err = sys.start(ctx, e.natsURL(), e.simSrv.URL); err != nil {
			return nil, err
		}
	} else {
		if r, err = sys.start(ctx, e.natsURL(), e.simSrv.URL); err != nil {
			return nil, err
		}
		if err := waitReady(ctx, r, 30*time.Second); err != nil {
			return nil, errors.Join(fmt.Errorf("%s: %w", sys.name(), err), r.stop())
		}
		t0 = time.Now()
		if err := e.publishAll(ctx, t.msgs); err != nil {
			return nil, errors.Join(err, r.stop())
		}
		res.publish = time.Since(t0)
	}
	stopped := false
	defer func() {
		if !stopped {
			err = errors.Join(err, r.stop())
		}
	}()

	var wg sync.WaitGroup
	sampling := make(chan struct{})
	if t.sample != nil {
		wg.Go(func() { res.samples = sampleUntil(r, t0, t.sample, t.sampleEvery, sampling) })
	}
	select {
	case <-e.events.doneCh():
	case <-time.After(t.timeout):
		res.timedOut = true
	case <-ctx.Done():
		close(sampling)
		wg.Wait()
		return nil, ctx.Err()
	}
	close(sampling)
	wg.Wait()
	res.events = e.events.counts()
	if !res.events.last.IsZero() {
		res.elapsed = res.events.last.Sub(t0)
	}
	if r.child != nil {
		if res.peakRSS, err = r.child.peakRSS(); err != nil {
			return nil, err
		}
	}
	if res.requestsLeft, res.eventsStored, err = e.waitSettled(ctx, 10*time.Second); err != nil {
		return nil, err
	}
	res.stats = e.sim.Stats()
	res.calls = e.sim.Calls()
	stopped = true
	if err := r.stop(); err != nil {
		return nil, err
	}
	if r.child != nil {
		res.cpu, res.peakHeap = r.child.cpu(), r.child.peakHeap
	}
	return res, nil
}

func sampleUntil(r *running, t0 time.Time, read func(*running) (float64, error), every time.Duration, stop <-chan struct{}) []sample {
	var out []sample
	tick := time.NewTicker(every)
	defer tick.Stop()
	for {
		if v, err := read(r); err == nil {
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

// alternate runs each system (of those -systems selects) o.runs times,
// rotating their order every run, so that a slow spell of the shared machine
// does not fall on one system only.
func alternate(ctx context.Context, o options, all []system, scenario string,
	one func(ctx context.Context, run int, sys system) (figures, error)) (map[string][]figures, error) {
	var systems []system
	for _, s := range all {
		if o.systems == nil || o.systems[s.name()] {
			systems = append(systems, s)
		}
	}
	runs, progress := o.runs, o.progress
	out := make(map[string][]figures, len(systems))
	for run := range runs {
		for i := range systems {
			sys := systems[(i+run)%len(systems)]
			start := time.Now()
			f, err := one(ctx, run, sys)
			if err != nil {
				return nil, fmt.Errorf("%s run %d, %s: %w", scenario, run+1, sys.name(), err)
			}
			fmt.Fprintf(progress, "  %s run %d/%d %-8s %6.2fs\n", scenario, run+1, runs, sys.name(), time.Since(start).Seconds())
			out[sys.name()] = append(out[sys.name()], f)
		}
	}
	return out, nil
}
