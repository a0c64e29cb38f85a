package main

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/aliyun/alibaba-cloud-sdk-go/sdk/auth/credentials"
	"github.com/nats-io/nats.go"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/slbdrain/slbdrain/worker"
)

// system is one way of draining: slbdrain's worker, or a baseline.
type system interface {
	name() string
	start(ctx context.Context, natsURL, slbURL string) (*running, error)
}

// running is a started system.
type running struct {
	stop  func() error
	ready func() error // nil once the system takes work
	// gather reads the in-process worker's metrics; nil for others.
	gather prometheus.Gatherer
	// child is the process the system runs in, when it has its own.
	child *child
}

// Names of the systems, as the output shows them and -child takes them.
const (
	sysSlbdrain = "slbdrain"
	sysRaw      = "raw"
	sysNaive    = "naive"
)

// benchConfig is the worker configuration every system starts from: the
// contract's defaults, with a shutdown that does not keep a failed trial
// waiting 30s.
func benchConfig() worker.Config {
	cfg := worker.DefaultConfig()
	cfg.ShutdownTimeout = 5 * time.Second
	return cfg
}

// removerFactory is the SDK adapter the worker uses, pointed at the emulator.
// The baselines use it too, so every system pays the same per-call cost.
func removerFactory(slbURL string) (worker.RemoverFactory, error) {
	return worker.NewSDKRemoverFactory(worker.SDKConfig{
		Endpoint:       slbURL,
		ReadTimeout:    5 * time.Second,
		ConnectTimeout: 2 * time.Second,
		Credential:     credentials.NewAccessKeyCredential(benchAK, benchSecret),
	})
}

// slbdrainSystem is the real worker, in this process or in a child.
type slbdrainSystem struct {
	cfg      worker.Config
	inChild  bool
	profiles childProfiles // of the child, if profiling
}

func (s slbdrainSystem) name() string { return sysSlbdrain }

func (s slbdrainSystem) start(ctx context.Context, natsURL, slbURL string) (*running, error) {
	if s.inChild {
		return startChild(ctx, childSpec{System: sysSlbdrain, NatsURL: natsURL, SLBURL: slbURL, Config: s.cfg, Profiles: s.profiles})
	}
	return startWorker(ctx, natsURL, slbURL, s.cfg)
}

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

// gauge reads the current value of the (unlabelled) gauge name from g.
func gauge(g prometheus.Gatherer, name string) (float64, error) {
	families, err := g.Gather()
	if err != nil {
		return 0, fmt.Errorf("gather metrics: %w", err)
	}
	for _, f := range families {
		if f.GetName() == name && len(f.GetMetric()) > 0 {
			return f.GetMetric()[0].GetGauge().GetValue(), nil
		}
	}
	return 0, fmt.Errorf("metric %s not found", name)
}
