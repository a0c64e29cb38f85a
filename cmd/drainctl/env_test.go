package main

import (
	"bytes"
	"context"
	"fmt"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aliyun/alibaba-cloud-sdk-go/sdk/auth/credentials"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/slbdrain/slbdrain/internal/natstest"
	"github.com/slbdrain/slbdrain/internal/slbsim"
	"github.com/slbdrain/slbdrain/internal/syncbuf"
	"github.com/slbdrain/slbdrain/messages"
	"github.com/slbdrain/slbdrain/worker"
)

const (
	testAK     = "LTAI-drainctl-test"
	testSecret = "drainctl-test-secret-0b7c"
	testRegion = "cn-hangzhou"
	// waitLimit bounds every wait of these tests; only reached on failure.
	waitLimit = 30 * time.Second
)

// env is a broker, the SLB emulator and, when started, a real worker.
type env struct {
	t      *testing.T
	url    string
	js     jetstream.JetStream
	sim    *slbsim.Sim
	simURL string
	worker *worker.Worker
}

func newEnv(t *testing.T) *env {
	t.Helper()
	srv := natstest.RunServer(t)
	_, js := natstest.Connect(t, srv.ClientURL())
	sim, simSrv, err := slbsim.Start(slbsim.Config{AccessKeys: map[string]string{testAK: testSecret}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = simSrv.Close() })
	return &env{t: t, url: srv.ClientURL(), js: js, sim: sim, simURL: simSrv.URL}
}

// startWorker runs a real worker until the test ends and waits until it is
// ready.
func (e *env) startWorker() *worker.Worker {
	e.t.Helper()
	cfg := worker.DefaultConfig()
	cfg.PullExpiry = 2 * time.Second
	cfg.PullHeartbeat = 500 * time.Millisecond
	cfg.PinnedTTL = 5 * time.Second
	cfg.SLBQPS = 1000
	factory, err := worker.NewSDKRemoverFactory(worker.SDKConfig{
		Endpoint: e.simURL, ReadTimeout: 2 * time.Second,
		Credential: credentials.NewAccessKeyCredential(testAK, testSecret)})
	if err != nil {
		e.t.Fatal(err)
	}
	nc, _ := natstest.Connect(e.t, e.url)
	w, err := worker.New(cfg, nc, factory)
	if err != nil {
		e.t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- w.Run(ctx) }()
	e.t.Cleanup(func() {
		cancel()
		select {
		case <-done:
		case <-time.After(waitLimit):
			e.t.Error("worker did not stop")
		}
	})
	// Readiness is state without an event to wait on: poll it.
	deadline := time.Now().Add(waitLimit)
	for w.Ready() != nil {
		select {
		case err := <-done:
			e.t.Fatalf("worker stopped: %v", err)
		case <-time.After(10 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			e.t.Fatalf("worker not ready after %s: %v", waitLimit, w.Ready())
		}
	}
	e.worker = w
	return w
}

// watchAcks subscribes to the acknowledgements of the requests stream's
// deliveries (core NATS, $JS.ACK.<stream>.<consumer>...), so that a test
// can wait for the worker's ack of a request, which comes after its event.
func (e *env) watchAcks() <-chan *nats.Msg {
	e.t.Helper()
	nc, _ := natstest.Connect(e.t, e.url)
	acks := make(chan *nats.Msg, 1024)
	if _, err := nc.ChanSubscribe("$JS.ACK."+messages.RequestStream+".>", acks); err != nil {
		e.t.Fatal(err)
	}
	if err := nc.Flush(); err != nil { // subscribed before the test goes on
		e.t.Fatal(err)
	}
	return acks
}

// waitSettled waits until the worker acked n requests (acks from
// watchAcks) and its consumer shows nothing pending, nothing in flight and
// a waiting pull, failing the test after waitLimit. The server takes an ack
// in asynchronously, so once it is sent the consumer's info is asked until
// it shows it: each ask is a round trip, with no sleep between.
func (e *env) waitSettled(acks <-chan *nats.Msg, n int) {
	e.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), waitLimit)
	defer cancel()
	for got := 0; got < n; {
		select {
		case m := <-acks:
			if string(m.Data) == "+ACK" {
				got++
			}
		case <-ctx.Done():
			e.t.Fatalf("%d of %d requests acked within %s", got, n, waitLimit)
		}
	}
	cons, err := e.js.Consumer(ctx, messages.RequestStream, worker.DefaultConfig().Consumer)
	if err != nil {
		e.t.Fatal(err)
	}
	for {
		info, err := cons.Info(ctx)
		switch {
		case err == nil && info.NumPending == 0 && info.NumAckPending == 0 && info.NumWaiting > 0:
			return
		case ctx.Err() != nil:
			e.t.Fatalf("consumer not settled within %s: %+v (%v)", waitLimit, info, err)
		}
	}
}

// createStreams creates the contract's streams as a worker would, for tests
// that run without one.
func (e *env) createStreams() {
	e.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), waitLimit)
	defer cancel()
	cfg := worker.DefaultConfig()
	for _, sc := range []jetstream.StreamConfig{worker.RequestStreamConfig(cfg), worker.EventStreamConfig(cfg)} {
		if _, err := e.js.CreateStream(ctx, sc); err != nil {
			e.t.Fatal(err)
		}
	}
}

// group seeds a VServer group of n ECS servers on port 80 and returns the
// servers as --server values.
func (e *env) group(id string, n int) []string {
	e.t.Helper()
	backends := make([]slbsim.Backend, n)
	args := make([]string, n)
	for i := range backends {
		sid := fmt.Sprintf("i-%s-%04d", strings.TrimPrefix(id, "rsp-"), i)
		backends[i] = slbsim.Backend{ServerID: sid, Port: 80, Type: "ecs"}
		args[i] = sid + ":80"
	}
	e.sim.CreateGroup(testRegion, id, backends)
	return args
}

func (e *env) left(group string) int {
	e.t.Helper()
	list, ok := e.sim.Backends(testRegion, group)
	if !ok {
		e.t.Fatalf("group %s does not exist", group)
	}
	return len(list)
}

// result is one drainctl run.
type result struct {
	code           int
	stdout, stderr string
}

func (r result) String() string {
	return fmt.Sprintf("exit %d\nstdout:\n%s\nstderr:\n%s", r.code, r.stdout, r.stderr)
}

// drainctl runs the CLI in-process against the env's broker.
func (e *env) drainctl(stdin string, args ...string) result {
	e.t.Helper()
	return runCLI(e.t, stdin, append([]string{"--nats-url", e.url}, args...)...)
}

func runCLI(t *testing.T, stdin string, args ...string) result {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), waitLimit)
	defer cancel()
	var stdout, stderr syncbuf.Buffer
	code := run(ctx, args, strings.NewReader(stdin), &stdout, &stderr)
	return result{code: code, stdout: stdout.String(), stderr: stderr.String()}
}

func serverFlags(servers []string) []string {
	args := make([]string, 0, 2*len(servers))
	for _, s := range servers {
		args = append(args, "--server", s)
	}
	return args
}

// lineWriter hands every complete line written to it to a channel, so a
// test can wait for output of a command that is still running.
type lineWriter struct {
	mu      sync.Mutex
	partial []byte
	lines   chan string
}

func newLineWriter() *lineWriter { return &lineWriter{lines: make(chan string, 1024)} }

func (w *lineWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.partial = append(w.partial, p...)
	for {
		i := bytes.IndexByte(w.partial, '\n')
		if i < 0 {
			return len(p), nil
		}
		w.lines <- string(w.partial[:i])
		w.partial = w.partial[i+1:]
	}
}

// waitLine returns the first line for which match holds, failing the test
// after waitLimit.
func waitLine(t *testing.T, w *lineWriter, what string, match func(string) bool) string {
	t.Helper()
	timeout := time.After(waitLimit)
	for {
		select {
		case line := <-w.lines:
			if match(line) {
				return line
			}
		case <-timeout:
			t.Fatalf("no line with %s within %s", what, waitLimit)
		}
	}
}

// closedURL is a NATS URL nothing listens on.
func closedURL(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	return "nats://" + addr
}

func decodeOutcomes(t *testing.T, out string) []messages.Outcome {
	t.Helper()
	var list []messages.Outcome
	for _, line := range strings.Split(strings.TrimSpace(out), "\n") {
		if line == "" {
			continue
		}
		o, err := messages.DecodeOutcome([]byte(line))
		if err != nil {
			t.Fatalf("stdout line %q: %v", line, err)
		}
		list = append(list, o)
	}
	return list
}
