package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"runtime"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/slbdrain/slbdrain/internal/embedded"
	"github.com/slbdrain/slbdrain/internal/slbsim"
	"github.com/slbdrain/slbdrain/messages"
	"github.com/slbdrain/slbdrain/worker"
)

// The emulator's one account. Not a secret: it exists only in this process.
const (
	benchAK     = "LTAIdrainbench"
	benchSecret = "drainbench-emulator-secret"
)

// env is the world of one trial: a fresh JetStream store on an embedded
// server, a fresh SLB emulator, the two streams, a publisher and the event
// collector. Every trial gets its own, so runs cannot leak into each other.
type env struct {
	dir    string
	ns     *embedded.Server
	sim    *slbsim.Sim
	simSrv *slbsim.Server
	nc     *nats.Conn // the publisher's
	js     jetstream.JetStream
	events *collector
}

// blockRate, when positive, is the block profile rate to restore once the
// server started: nats-server sets the process-wide rate to its own option.
func newEnv(ctx context.Context, simCfg slbsim.Config, cfg worker.Config, blockRate int) (e *env, err error) {
	e = &env{}
	defer func() {
		if err != nil {
			_ = e.close()
		}
	}()
	if e.dir, err = os.MkdirTemp("", "drainbench-"); err != nil {
		return nil, fmt.Errorf("jetstream store dir: %w", err)
	}
	if e.ns, err = embedded.Start(ctx, embedded.Config{Listen: "127.0.0.1:0", DataDir: e.dir, ServerName: "drainbench"}); err != nil {
		return nil, err
	}
	if blockRate > 0 {
		runtime.SetBlockProfileRate(blockRate)
	}
	if e.nc, err = nats.Connect(e.ns.ClientURL(), nats.Name("drainbench-publisher")); err != nil {
		return nil, fmt.Errorf("publisher: connect to %s: %w", e.ns.ClientURL(), err)
	}
	if e.js, err = jetstream.New(e.nc, jetstream.WithPublishAsyncMaxPending(4096)); err != nil {
		return nil, fmt.Errorf("publisher: jetstream: %w", err)
	}
	// The streams exist before any system starts, so every system (and a
	// backlog published before one starts) finds the contract's streams.
	for _, sc := range []jetstream.StreamConfig{worker.RequestStreamConfig(cfg), worker.EventStreamConfig(cfg)} {
		if _, err = e.js.CreateStream(ctx, sc); err != nil {
			return nil, fmt.Errorf("create stream %s: %w", sc.Name, err)
		}
	}
	if e.events, err = newCollector(e.ns.ClientURL()); err != nil {
		return nil, err
	}
	simCfg.AccessKeys = map[string]string{benchAK: benchSecret}
	if e.sim, e.simSrv, err = slbsim.Start(simCfg); err != nil {
		return nil, fmt.Errorf("start slb emulator: %w", err)
	}
	return e, nil
}

func (e *env) natsURL() string { return e.ns.ClientURL() }

// seed creates the workload's VServer groups in the emulator, each on its
// load balancer (one of its own unless the workload shares them).
func (e *env) seed(wl *workload) {
	for g, backends := range wl.groups {
		e.sim.CreateGroupOn(wl.region(g), wl.loadBalancer(g), g, backends)
	}
}

// publishAll publishes msgs asynchronously and returns once JetStream has
// acknowledged every one.
func (e *env) publishAll(ctx context.Context, msgs []*nats.Msg) error {
	futures := make([]jetstream.PubAckFuture, 0, len(msgs))
	for _, m := range msgs {
		// A fresh message each time: the pre-encoded one may be published
		// again by a later trial.
		f, err := publishAsync(ctx, e.js, &nats.Msg{Subject: m.Subject, Data: m.Data, Header: m.Header})
		if err != nil {
			return fmt.Errorf("publish %s: %w", m.Header.Get(messages.MsgIDHeader), err)
		}
		futures = append(futures, f)
	}
	select {
	case <-e.js.PublishAsyncComplete():
	case <-ctx.Done():
		return fmt.Errorf("publish %d requests: %w", len(msgs), ctx.Err())
	}
	for _, f := range futures {
		select {
		case err := <-f.Err():
			return fmt.Errorf("publish %s: %w", f.Msg().Header.Get(messages.MsgIDHeader), err)
		default:
		}
	}
	return nil
}

// publishAsync publishes m asynchronously. While the window of publishes
// awaiting their acknowledgement stays full (on a loaded machine, longer
// than PublishMsgAsync waits), it tries again rather than give up.
func publishAsync(ctx context.Context, js jetstream.JetStream, m *nats.Msg) (jetstream.PubAckFuture, error) {
	for {
		f, err := js.PublishMsgAsync(m)
		if !errors.Is(err, jetstream.ErrTooManyStalledMsgs) || ctx.Err() != nil {
			return f, err
		}
	}
}

// publishSync publishes one message and waits for its acknowledgement.
func (e *env) publishSync(ctx context.Context, m *nats.Msg) error {
	_, err := e.js.PublishMsg(ctx, &nats.Msg{Subject: m.Subject, Data: m.Data, Header: m.Header})
	if err != nil {
		return fmt.Errorf("publish %s: %w", m.Header.Get(messages.MsgIDHeader), err)
	}
	return nil
}

// streamCounts reads how many messages each stream holds.
func (e *env) streamCounts(ctx context.Context) (requests, events uint64, err error) {
	if requests, err = e.streamMsgs(ctx, messages.RequestStream); err != nil {
		return 0, 0, err
	}
	events, err = e.streamMsgs(ctx, messages.EventStream)
	return requests, events, err
}

func (e *env) streamMsgs(ctx context.Context, name string) (uint64, error) {
	s, err := e.js.Stream(ctx, name) // a fresh look-up of the stream's info
	if err != nil {
		return 0, fmt.Errorf("stream %s: %w", name, err)
	}
	return s.CachedInfo().State.Msgs, nil
}

// waitSettled waits until the requests stream is empty (every request acked
// or terminated: acks follow the events) and returns the final counts. The
// broker has no event for "stream empty", so it polls, with a deadline.
func (e *env) waitSettled(ctx context.Context, timeout time.Duration) (requests, events uint64, err error) {
	deadline := time.Now().Add(timeout)
	for {
		requests, events, err = e.streamCounts(ctx)
		if err != nil || requests == 0 || time.Now().After(deadline) {
			return requests, events, err
		}
		select {
		case <-ctx.Done():
			return requests, events, ctx.Err()
		case <-time.After(20 * time.Millisecond):
		}
	}
}

// close tears everything down; the error says what could not be released.
func (e *env) close() error {
	var errs []error
	if e.events != nil {
		e.events.close()
	}
	if e.nc != nil {
		e.nc.Close()
	}
	if e.simSrv != nil {
		errs = append(errs, e.simSrv.Close())
	}
	if e.ns != nil {
		e.ns.Shutdown()
	}
	if e.dir != "" {
		errs = append(errs, os.RemoveAll(e.dir))
	}
	return errors.Join(errs...)
}
