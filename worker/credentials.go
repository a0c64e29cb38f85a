package worker

import (
	"context"
	"sync"
	"sync/atomic"
	"time"

	"go.uber.org/zap"

	"github.com/slbdrain/slbdrain/retry"
)

// credentialsGate is the worker's view of its own Alibaba Cloud identity:
// working, or failing since the API refused it. While it fails, the worker
// is not ready, takes no new work and probes until the credentials work.
type credentialsGate struct {
	failing atomic.Bool   // mirrors err != nil for the hot path
	gen     atomic.Uint64 // counts failures: clients built before one are rebuilt

	mu     sync.Mutex
	err    error
	opened chan struct{} // closed while the credentials work; nil means open
}

// wait returns once the credentials work, or ctx is done.
func (g *credentialsGate) wait(ctx context.Context) error {
	g.mu.Lock()
	ch := g.opened
	g.mu.Unlock()
	if ch == nil {
		return nil
	}
	select {
	case <-ch:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// fail records a refusal; it reports whether this one turned a working gate
// into a failing one (the caller then stops consuming and starts probing).
func (g *credentialsGate) fail(err error) (first bool) {
	g.gen.Add(1)
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.err != nil {
		return false
	}
	g.err = err
	g.failing.Store(true)
	g.opened = make(chan struct{})
	return true
}

// recover records that the credentials work again.
func (g *credentialsGate) recover() {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.err = nil
	g.failing.Store(false)
	if g.opened != nil {
		close(g.opened)
		g.opened = nil
	}
}

// Err is the refusal the gate is failing on, or nil.
func (g *credentialsGate) Err() error {
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.err
}

// Failing says whether the credentials are failing.
func (g *credentialsGate) Failing() bool { return g.failing.Load() }

// generation changes with every failure.
func (g *credentialsGate) generation() uint64 { return g.gen.Load() }

// credentialsFailed handles an API answer saying the worker's identity is
// broken: not the requests' fault. The worker reports not ready and makes no
// call until a probe finds the credentials working again; meanwhile it keeps
// taking requests up to --max-ack-pending and holds them (heartbeat), and
// each fails at its deadline, as the contract says.
func (w *Worker) credentialsFailed(key groupKey, err error) {
	if !w.creds.fail(err) {
		return
	}
	w.m.credentialsFailing.Set(1)
	w.log.Error("SLB credentials failing: not ready, requests held until fixed or their deadline",
		zap.String("region_id", key.region), zap.String("vserver_group_id", key.id), zap.Error(err),
		zap.Duration("probe_every", w.cfg.CredentialRetry))
	if r := w.current.Load(); r != nil {
		r.goWork(func(ctx context.Context) { w.probeCredentials(ctx, key) })
	}
}

func (w *Worker) probeCredentials(ctx context.Context, key groupKey) {
	t := time.NewTicker(w.cfg.CredentialRetry)
	defer t.Stop()
	var api Remover
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		var err error
		if api, err = w.probe(api, key); err != nil {
			w.log.Debug("credentials still failing", zap.Error(err))
			continue
		}
		w.creds.recover()
		w.m.credentialsFailing.Set(0)
		w.log.Info("SLB credentials work again; resuming calls")
		return
	}
}

// probe returns nil once the API takes the credentials again. An answer
// that says nothing about them (a timeout, a 5xx, throttling) keeps probing;
// any other answer, even an error about the group, means they work.
func (w *Worker) probe(api Remover, key groupKey) (Remover, error) {
	if api == nil {
		var err error
		if api, err = w.newRemover(); err != nil { // fresh credentials from the chain
			return nil, err
		}
	}
	if key == (groupKey{}) {
		return api, nil // the credentials resolve; no call has been refused yet
	}
	err := api.Probe(key.region, key.id)
	if err == nil {
		return api, nil
	}
	switch retry.Classify(err) {
	case retry.Credentials:
		return nil, err // rebuild: the chain may find new credentials
	case retry.Throttled, retry.Transient:
		return api, err
	}
	return api, nil
}
