package main

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/aliyun/alibaba-cloud-sdk-go/sdk/auth/credentials"
	"github.com/nats-io/nats.go"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/slbdrain/slbdrain/worker"
)

// Names of the systems, as the output shows them and -systems and -child
// take them.
const (
	sysSlbdrain = "slbdrain"
	sysRaw      = "raw"
	sysNaive    = "naive"
	// sysAlone is slbdrain on the same drain with nothing else going on,
	// a variant the two-regions row compares with.
	sysAlone = "slbdrain-alone"
)

// system is one way of draining (slbdrain's worker or a baseline), with the
// configuration it is started with.
type system struct {
	name string // as the output shows it
	// kind is the system started, when name is a variant's ("": name).
	kind     string
	cfg      worker.Config
	drive    driver        // nil: the plan's
	inChild  bool          // in a process of its own, so that its memory and CPU are its alone
	profiles childProfiles // of the child, if profiling
}

// impl is the system started: slbdrain, naive or raw.
func (s system) impl() string { return cmp.Or(s.kind, s.name) }

func (s system) start(ctx context.Context, natsURL, slbURL string) (*running, error) {
	if s.inChild {
		return startChild(ctx, childSpec{System: s.impl(), NatsURL: natsURL, SLBURL: slbURL, Config: s.cfg, Profiles: s.profiles})
	}
	return startHere(ctx, s.impl(), natsURL, slbURL, s.cfg)
}

// startHere starts the system called name in this process. A new baseline
// is a function of the same shape and a case here.
func startHere(ctx context.Context, name, natsURL, slbURL string, cfg worker.Config) (*running, error) {
	switch name {
	case sysSlbdrain:
		return startWorker(ctx, natsURL, slbURL, cfg)
	case sysNaive:
		return startNaive(ctx, natsURL, slbURL, cfg)
	case sysRaw:
		return startRaw(ctx, natsURL, cfg)
	}
	return nil, fmt.Errorf("no system %q", name)
}

func knownSystem(name string) bool {
	return name == sysSlbdrain || name == sysNaive || name == sysRaw
}

// running is a started system.
type running struct {
	stop  func() error
	ready func() error // nil once the system takes work
	// gather reads the in-process worker's metrics; nil for others.
	gather prometheus.Gatherer
	// child is the process the system runs in, when it has its own.
	child *child
	// kill ends a system in a child process at once (SIGKILL), as a crash
	// does; nil for one in this process.
	kill func() error
}

// benchConfig is the worker configuration every system starts from: the
// contract's defaults, with a shutdown that does not keep a failed trial
// waiting 30s.
func benchConfig() worker.Config {
	cfg := worker.DefaultConfig()
	cfg.ShutdownTimeout = 5 * time.Second
	return cfg
}

// removerFactory is the SDK adapter the worker uses, pointed at the emulator.
// The naive baseline uses it too, so both pay the same per-call cost.
func removerFactory(slbURL string) (worker.RemoverFactory, error) {
	return worker.NewSDKRemoverFactory(worker.SDKConfig{
		Endpoint:       slbURL,
		ReadTimeout:    5 * time.Second,
		ConnectTimeout: 2 * time.Second,
		Credential:     credentials.NewAccessKeyCredential(benchAK, benchSecret),
	})
}

// startWorker runs the real worker, as cmd/drainworker builds it.
func startWorker(ctx context.Context, natsURL, slbURL string, cfg worker.Config) (*running, error) {
	nc, err := nats.Connect(natsURL, nats.Name("drainbench-slbdrain"))
	if err != nil {
		return nil, fmt.Errorf("slbdrain: connect to %s: %w", natsURL, err)
	}
	factory, err := removerFactory(slbURL)
	if err != nil {
		nc.Close()
		return nil, fmt.Errorf("slbdrain: %w", err)
	}
	reg := prometheus.NewRegistry()
	w, err := worker.New(cfg, nc, factory, worker.WithRegisterer(reg))
	if err != nil {
		nc.Close()
		return nil, fmt.Errorf("slbdrain: %w", err)
	}
	runCtx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	done := make(chan error, 1)
	go func() { done <- w.Run(runCtx) }()
	stop := func() error {
		cancel()
		defer nc.Close()
		select {
		case err := <-done:
			if err != nil {
				return fmt.Errorf("slbdrain: run: %w", err)
			}
			return nil
		case <-time.After(cfg.ShutdownTimeout + 10*time.Second):
			return errors.New("slbdrain: worker did not stop within its shutdown timeout")
		}
	}
	ready := func() error {
		select {
		case err := <-done:
			done <- err // keep it for stop
			return fmt.Errorf("slbdrain: worker stopped: %w", err)
		default:
		}
		return w.Ready()
	}
	return &running{stop: stop, ready: ready, gather: reg}, nil
}

// waitReady waits until r takes work. Readiness is state, not an event, so
// it polls, with a deadline.
func waitReady(ctx context.Context, r *running, timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	for {
		err := r.ready()
		if err == nil {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("not ready within %s: %w", timeout, err)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(5 * time.Millisecond):
		}
	}
}

// reading reads one figure from a worker's metrics.
type reading func(prometheus.Gatherer) (float64, error)

// gauge reads the gauge name whose labels include labels.
func gauge(g prometheus.Gatherer, name string, labels map[string]string) (float64, error) {
	families, err := g.Gather()
	if err != nil {
		return 0, fmt.Errorf("gather metrics: %w", err)
	}
	for _, f := range families {
		if f.GetName() != name {
			continue
		}
		for _, m := range f.GetMetric() {
			matched := 0
			for _, l := range m.GetLabel() {
				if v, ok := labels[l.GetName()]; ok && v == l.GetValue() {
					matched++
				}
			}
			if matched == len(labels) {
				return m.GetGauge().GetValue(), nil
			}
		}
	}
	return 0, fmt.Errorf("metric %s%v not found", name, labels)
}

// removeShare is the worker's learnt share of the remove quota in the
// bench region: with the windows of one second the plan tells it, its
// adaptive call rate.
func removeShare(g prometheus.Gatherer) (float64, error) {
	return gauge(g, "slbdrain_quota_share_calls", map[string]string{"region": benchRegion, "action": worker.ActionRemove})
}
