package worker

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"

	"github.com/slbdrain/slbdrain/internal/natstest"
	"github.com/slbdrain/slbdrain/internal/slbsim"
	"github.com/slbdrain/slbdrain/internal/syncbuf"
	"github.com/slbdrain/slbdrain/messages"
	"github.com/slbdrain/slbdrain/retry"
)

const (
	testAK     = "LTAI-test-key"
	testSecret = "test-secret-do-not-log-7f3a9"
	testRegion = "cn-hangzhou"
)

// harness is one end-to-end set-up: an embedded JetStream server, the SLB
// emulator over HTTP, the real SDK, and workers started on demand.
type harness struct {
	t      *testing.T
	url    string
	nc     *nats.Conn
	js     jetstream.JetStream
	sim    *slbsim.Sim
	simURL string
	events *eventLog
	logs   *syncbuf.Buffer
}

func newHarness(t *testing.T, simCfg slbsim.Config) *harness {
	t.Helper()
	return newHarnessAt(t, natstest.RunServer(t).ClientURL(), simCfg)
}

// newHarnessAt uses the NATS server(s) at url: a single node or a cluster.
func newHarnessAt(t *testing.T, url string, simCfg slbsim.Config) *harness {
	t.Helper()
	nc, js := natstest.Connect(t, url)
	if simCfg.AccessKeys == nil {
		simCfg.AccessKeys = map[string]string{testAK: testSecret}
	}
	sim, simSrv, err := slbsim.Start(simCfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = simSrv.Close() })
	h := &harness{t: t, url: url, nc: nc, js: js, sim: sim, simURL: simSrv.URL, logs: &syncbuf.Buffer{}}
	t.Cleanup(func() {
		if t.Failed() && os.Getenv("SLBDRAIN_DUMP_LOGS") != "" {
			_ = os.WriteFile(os.Getenv("SLBDRAIN_DUMP_LOGS"), []byte(h.logs.String()), 0o644)
		}
		// Workers log at debug level here: every API call, every outcome.
		if strings.Contains(h.logs.String(), testSecret) {
			t.Error("the AccessKey secret appears in the worker's logs")
		}
	})
	return h
}

// testConfig is a worker configuration for tests: quick retries and heartbeats.
func testConfig() Config {
	cfg := DefaultConfig()
	cfg.SLBQPS = 1000
	// The emulator of these tests has no quota unless a test sets one.
	cfg.Quotas = map[string]Quota{ActionRemove: {Calls: 1 << 20, Window: time.Second}}
	cfg.AckWait = 3 * time.Second
	cfg.PullExpiry = 2 * time.Second
	cfg.PullHeartbeat = 500 * time.Millisecond
	cfg.PinnedTTL = 5 * time.Second
	cfg.CredentialRetry = 100 * time.Millisecond
	cfg.ShutdownTimeout = 10 * time.Second
	cfg.Retry = retry.Policy{Initial: 5 * time.Millisecond, Max: 50 * time.Millisecond, Multiplier: 2, Jitter: 0.5}
	return cfg
}

// startWorker runs a worker on its own connection until the returned stop is
// called or the test ends. stop waits for Run to return and gives its error.
func (h *harness) startWorker(cfg Config, opts ...Option) (w *Worker, stop func() error, nc *nats.Conn) {
	h.t.Helper()
	nc, err := nats.Connect(h.url, nats.MaxReconnects(-1), nats.ReconnectWait(100*time.Millisecond))
	if err != nil {
		h.t.Fatal(err)
	}
	factory, err := NewSDKRemoverFactory(SDKConfig{
		Endpoint: h.simURL, ReadTimeout: 2 * time.Second, ConnectTimeout: time.Second,
		Credential: staticAK(testAK, testSecret)})
	if err != nil {
		h.t.Fatal(err)
	}
	core := zapcore.NewCore(zapcore.NewJSONEncoder(zap.NewProductionEncoderConfig()), zapcore.AddSync(h.logs), zap.DebugLevel)
	w, err = New(cfg, nc, factory, append([]Option{WithLogger(zap.New(core))}, opts...)...)
	if err != nil {
		h.t.Fatal(err)
	}
	if h.events == nil {
		// Streams exist once a worker ran ensureStreams; make sure before following events.
		if err := w.ensureStreams(context.Background()); err != nil {
			h.t.Fatal(err)
		}
		h.events = followEvents(h.t, h.js)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- w.Run(ctx) }()
	var once sync.Once
	var runErr error
	stop = func() error {
		once.Do(func() {
			cancel()
			select {
			case runErr = <-done:
			case <-time.After(30 * time.Second):
				runErr = fmt.Errorf("worker did not stop within 30s")
			}
			nc.Close()
		})
		return runErr
	}
	h.t.Cleanup(func() { _ = stop() })
	waitUntil(h.t, 10*time.Second, "worker ready", func() bool {
		select {
		case err := <-done:
			h.t.Fatalf("worker stopped: %v\nlogs:\n%s", err, h.logs.String())
		default:
		}
		return w.Ready() == nil
	})
	return w, stop, nc
}

func (h *harness) waitReady(w *Worker) {
	h.t.Helper()
	waitUntil(h.t, 10*time.Second, "worker ready", func() bool { err := w.Ready(); return err == nil })
}

// ensureStreams creates the streams without a worker, so tests can publish
// before any worker runs. Streams that exist are left as they are: a
// cluster test's R3 streams must not become R1 (on one node) here.
func (h *harness) ensureStreams() { h.ensureStreamsWith(testConfig()) }

func (h *harness) ensureStreamsWith(cfg Config) {
	h.t.Helper()
	cfg = cfg.withDefaults()
	for _, sc := range []jetstream.StreamConfig{RequestStreamConfig(cfg), EventStreamConfig(cfg)} {
		if _, err := h.js.CreateStream(context.Background(), sc); err != nil && !errors.Is(err, jetstream.ErrStreamNameAlreadyInUse) {
			h.t.Fatal(err)
		}
	}
	if h.events == nil {
		h.events = followEvents(h.t, h.js)
	}
}

// createStreams creates the streams of cfg, nothing else.
func (h *harness) createStreams(cfg Config) {
	h.t.Helper()
	cfg = cfg.withDefaults()
	for _, sc := range []jetstream.StreamConfig{RequestStreamConfig(cfg), EventStreamConfig(cfg)} {
		if _, err := h.js.CreateOrUpdateStream(context.Background(), sc); err != nil {
			h.t.Fatal(err)
		}
	}
}

func (h *harness) seedGroup(group string, n int) []messages.BackendServer {
	servers := make([]messages.BackendServer, n)
	backends := make([]slbsim.Backend, n)
	for i := range n {
		id := fmt.Sprintf("i-%s-%04d", group[4:], i)
		servers[i] = messages.BackendServer{ServerID: id, Port: 80, Type: "ecs"}
		backends[i] = slbsim.Backend{ServerID: id, Port: 80, Type: "ecs", Weight: 100}
	}
	h.sim.CreateGroup(testRegion, group, backends)
	return servers
}

func (h *harness) publish(req messages.DrainRequest) {
	h.t.Helper()
	if req.Version == 0 {
		req.Version = 1
	}
	if req.RegionID == "" {
		req.RegionID = testRegion
	}
	if _, err := messages.Publish(context.Background(), h.js, req); err != nil {
		h.t.Fatalf("publish %s: %v", req.RequestID, err)
	}
}

// publishAsync publishes many requests with one round of acks.
func (h *harness) publishAsync(reqs []messages.DrainRequest) {
	h.t.Helper()
	for _, req := range reqs {
		data, err := json.Marshal(req)
		if err != nil {
			h.t.Fatal(err)
		}
		msg := &nats.Msg{Subject: req.Subject(), Data: data,
			Header: nats.Header{messages.MsgIDHeader: []string{req.RequestID}}}
		if _, err := h.js.PublishMsgAsync(msg); err != nil {
			h.t.Fatal(err)
		}
	}
	select {
	case <-h.js.PublishAsyncComplete():
	case <-time.After(30 * time.Second):
		h.t.Fatal("publishes not acknowledged within 30s")
	}
}

func (h *harness) publishRaw(subject string, data []byte, msgID string) {
	h.t.Helper()
	msg := &nats.Msg{Subject: subject, Data: data, Header: nats.Header{}}
	if msgID != "" {
		msg.Header.Set(messages.MsgIDHeader, msgID)
	}
	if _, err := h.js.PublishMsg(context.Background(), msg); err != nil {
		h.t.Fatalf("publish raw to %s: %v", subject, err)
	}
}

func (h *harness) waitOutcomes(timeout time.Duration, ids ...string) map[string]messages.Outcome {
	h.t.Helper()
	h.t.Cleanup(func() {
		if h.t.Failed() && os.Getenv("SLBDRAIN_TEST_LOGS") != "" {
			_ = os.WriteFile(os.Getenv("SLBDRAIN_TEST_LOGS"), []byte(h.logs.String()), 0o644)
		}
	})
	return h.events.wait(h.t, timeout, ids...)
}

// eventLog follows SLB_DRAIN_EVENTS from its start with an ordered consumer.
type eventLog struct {
	mu      sync.Mutex
	changed chan struct{}
	byID    map[string]messages.Outcome
	count   map[string]int // events per request id: exactly one is the contract
	msgIDs  map[string]string
	all     []messages.Outcome
}

func followEvents(t *testing.T, js jetstream.JetStream) *eventLog {
	t.Helper()
	ctx := context.Background()
	cons, err := js.OrderedConsumer(ctx, messages.EventStream, jetstream.OrderedConsumerConfig{})
	if err != nil {
		t.Fatal(err)
	}
	l := newEventLog()
	cc, err := cons.Consume(func(msg jetstream.Msg) { l.record(t, msg.Subject(), msg.Headers(), msg.Data()) })
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(cc.Stop)
	return l
}

func newEventLog() *eventLog {
	return &eventLog{changed: make(chan struct{}), byID: map[string]messages.Outcome{}, count: map[string]int{}, msgIDs: map[string]string{}}
}

func (l *eventLog) record(t *testing.T, subject string, header nats.Header, data []byte) {
	checkOutcomeSchema(t, data)
	o, err := messages.DecodeOutcome(data)
	if err != nil {
		t.Errorf("undecodable event on %s: %v", subject, err)
		return
	}
	if want := o.Subject(); subject != want {
		t.Errorf("event of %s on subject %s, want %s", o.RequestID, subject, want)
	}
	key := o.RequestID
	if key == "" {
		key = o.MsgID()
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	l.byID[key] = o
	l.count[key]++
	l.msgIDs[key] = header.Get(messages.MsgIDHeader)
	l.all = append(l.all, o)
	close(l.changed)
	l.changed = make(chan struct{})
}

// wait returns the outcomes of ids once all have one, failing the test at timeout.
func (l *eventLog) wait(t *testing.T, timeout time.Duration, ids ...string) map[string]messages.Outcome {
	t.Helper()
	out, missing := l.waitAll(timeout, ids...)
	if len(missing) > 0 {
		if len(missing) > 5 {
			missing = append(missing[:5], "...")
		}
		t.Fatalf("no outcome within %s for %d requests: %v", timeout, len(missing), missing)
	}
	return out
}

// waitAll waits until all ids have an outcome or timeout passes, and says which are missing.
func (l *eventLog) waitAll(timeout time.Duration, ids ...string) (map[string]messages.Outcome, []string) {
	deadline := time.After(timeout)
	for {
		l.mu.Lock()
		out := make(map[string]messages.Outcome, len(ids))
		var missing []string
		for _, id := range ids {
			if o, ok := l.byID[id]; ok {
				out[id] = o
			} else {
				missing = append(missing, id)
			}
		}
		ch := l.changed
		l.mu.Unlock()
		if len(missing) == 0 {
			return out, nil
		}
		select {
		case <-ch:
		case <-deadline:
			return out, missing
		}
	}
}

func (l *eventLog) len() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return len(l.all)
}

// waitCount waits until at least n events have arrived.
func (l *eventLog) waitCount(t *testing.T, timeout time.Duration, n int) {
	t.Helper()
	deadline := time.After(timeout)
	for {
		l.mu.Lock()
		got, ch := len(l.all), l.changed
		l.mu.Unlock()
		if got >= n {
			return
		}
		select {
		case <-ch:
		case <-deadline:
			t.Fatalf("%d events within %s, want at least %d", got, timeout, n)
		}
	}
}

// waitUntil polls cond until it holds; for states that have no event to wait on.
func waitUntil(t *testing.T, timeout time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	tick := time.NewTicker(10 * time.Millisecond)
	defer tick.Stop()
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %s waiting for %s", timeout, what)
		}
		<-tick.C
	}
}
