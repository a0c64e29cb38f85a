package main

// Helpers of the end-to-end tests that run drainworker binaries against
// nats-server processes (natstest.StartProcess): the set-up a production
// deployment has.

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"net/http"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/slbdrain/slbdrain/messages"
	"github.com/slbdrain/slbdrain/worker"
)

// credsEnv is the environment of a worker whose AccessKey the emulator knows.
func credsEnv() []string {
	return []string{"ALIBABA_CLOUD_ACCESS_KEY_ID=" + testAK, "ALIBABA_CLOUD_ACCESS_KEY_SECRET=" + testSecret}
}

// procArgs are drainworker's flags for these tests: the emulator has no
// quota, so neither has the worker; a short AckWait makes what a killed
// worker held come back in seconds. The pinned priority group and its
// timings stay at their defaults, as deployed.
func procArgs(natsURL, simURL, metrics string, extra ...string) []string {
	return append([]string{"--nats-url", natsURL, "--slb-endpoint", simURL, "--metrics-addr", metrics,
		"--slb-qps", "1000", "--slb-quota", worker.ActionRemove + "=1000000/1s", "--ack-wait", "3s",
		"--shutdown-timeout", "5s", "--log-level", "info"}, extra...)
}

// createStreams creates the contract's streams and the outcomes bucket as
// the worker would (cfg's replicas and windows), before any worker runs, so
// that tests can follow events from the start; edit, when set, changes the
// streams' configuration. The worker leaves existing ones alone. Each
// creation is tried again while it times out: on a cluster that has just
// formed, an API answer can be lost while routes settle.
func createStreams(t *testing.T, js jetstream.JetStream, cfg worker.Config, edit func(*jetstream.StreamConfig)) {
	t.Helper()
	create := func(what string, op func(ctx context.Context) error) {
		t.Helper()
		deadline := time.Now().Add(60 * time.Second)
		for {
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			err := op(ctx)
			cancel()
			if err == nil {
				return
			}
			if !errors.Is(err, context.DeadlineExceeded) || time.Now().After(deadline) {
				t.Fatalf("create %s: %v", what, err)
			}
			t.Logf("create %s: %v (trying again)", what, err)
		}
	}
	for _, sc := range []jetstream.StreamConfig{worker.RequestStreamConfig(cfg), worker.EventStreamConfig(cfg)} {
		if edit != nil {
			edit(&sc)
		}
		create("stream "+sc.Name, func(ctx context.Context) error {
			_, err := js.CreateStream(ctx, sc)
			if errors.Is(err, jetstream.ErrStreamNameAlreadyInUse) {
				return nil // an earlier try that timed out made it
			}
			return err
		})
	}
	kc := worker.OutcomeBucketConfig(cfg)
	create("bucket "+kc.Bucket, func(ctx context.Context) error {
		_, err := js.CreateKeyValue(ctx, kc)
		if errors.Is(err, jetstream.ErrBucketExists) {
			return nil
		}
		return err
	})
}

// waitExit waits up to timeout for p to exit and returns its exit error; it
// leaves the result in p.done for startBinary's cleanup.
func waitExit(t *testing.T, p *process, timeout time.Duration) error {
	t.Helper()
	select {
	case err := <-p.done:
		p.done <- err
		return err
	case <-time.After(timeout):
		t.Fatalf("drainworker pid %d did not exit within %s", p.cmd.Process.Pid, timeout)
		return nil
	}
}

// sigkill SIGKILLs p and waits until it is gone.
func sigkill(t *testing.T, p *process) {
	t.Helper()
	if err := p.cmd.Process.Signal(syscall.SIGKILL); err != nil && !errors.Is(err, os.ErrProcessDone) {
		t.Fatal(err)
	}
	_ = waitExit(t, p, 10*time.Second)
}

// seenEvent is one event as the test's follower received it.
type seenEvent struct {
	o  messages.Outcome
	at time.Time // when the follower got it
}

// outcomeLog follows SLB_DRAIN_EVENTS from its start with an ordered
// consumer and keeps every event by request id.
type outcomeLog struct {
	mu      sync.Mutex
	changed chan struct{}
	byID    map[string][]seenEvent
	n       int
}

func followOutcomes(t *testing.T, js jetstream.JetStream) *outcomeLog {
	t.Helper()
	l := &outcomeLog{changed: make(chan struct{}), byID: map[string][]seenEvent{}}
	cons, err := js.OrderedConsumer(context.Background(), messages.EventStream, jetstream.OrderedConsumerConfig{})
	if err != nil {
		t.Fatal(err)
	}
	cc, err := cons.Consume(func(msg jetstream.Msg) {
		o, err := messages.DecodeOutcome(msg.Data())
		if err != nil {
			t.Errorf("undecodable event on %s: %v", msg.Subject(), err)
			return
		}
		l.mu.Lock()
		defer l.mu.Unlock()
		l.byID[o.RequestID] = append(l.byID[o.RequestID], seenEvent{o: o, at: time.Now()})
		l.n++
		close(l.changed)
		l.changed = make(chan struct{})
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(cc.Stop)
	return l
}

// wait waits until cond holds over the events so far, failing the test
// after timeout. cond runs under the log's lock.
func (l *outcomeLog) wait(t *testing.T, timeout time.Duration, what string, cond func(byID map[string][]seenEvent, n int) bool) {
	t.Helper()
	deadline := time.After(timeout)
	for {
		l.mu.Lock()
		ok, ch := cond(l.byID, l.n), l.changed
		l.mu.Unlock()
		if ok {
			return
		}
		select {
		case <-ch:
		case <-deadline:
			t.Fatalf("timed out after %s waiting for %s", timeout, what)
		}
	}
}

// waitIDs waits until every id has an event and returns the first of each.
func (l *outcomeLog) waitIDs(t *testing.T, timeout time.Duration, ids ...string) map[string]seenEvent {
	t.Helper()
	l.wait(t, timeout, fmt.Sprintf("events of %d requests (%s...)", len(ids), ids[0]), func(byID map[string][]seenEvent, _ int) bool {
		for _, id := range ids {
			if len(byID[id]) == 0 {
				return false
			}
		}
		return true
	})
	l.mu.Lock()
	defer l.mu.Unlock()
	out := make(map[string]seenEvent, len(ids))
	for _, id := range ids {
		out[id] = l.byID[id][0]
	}
	return out
}

func (l *outcomeLog) count() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.n
}

// all is a copy of every event received so far.
func (l *outcomeLog) all() []seenEvent {
	l.mu.Lock()
	defer l.mu.Unlock()
	var out []seenEvent
	for _, s := range l.byID {
		out = append(out, s...)
	}
	slices.SortFunc(out, func(a, b seenEvent) int { return a.at.Compare(b.at) })
	return out
}

// storedEvent is an event as the events stream holds it.
type storedEvent struct {
	messages.Outcome
	stored time.Time // when the stream stored it
}

// scanEvents reads the whole events stream afresh, up to its last
// sequence, and returns its events by request id: what the stream holds,
// which a follower that lived through outages might have seen otherwise.
func scanEvents(t *testing.T, js jetstream.JetStream) map[string][]storedEvent {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	out := map[string][]storedEvent{}
	stream, err := js.Stream(ctx, messages.EventStream)
	if err != nil {
		t.Fatalf("scan events stream: %v", err)
	}
	last := stream.CachedInfo().State.LastSeq
	if stream.CachedInfo().State.Msgs == 0 {
		return out
	}
	cons, err := stream.OrderedConsumer(ctx, jetstream.OrderedConsumerConfig{})
	if err != nil {
		t.Fatalf("scan events stream: %v", err)
	}
	var at uint64
	for at < last {
		batch, err := cons.Fetch(1000, jetstream.FetchMaxWait(2*time.Second))
		if err != nil {
			t.Fatalf("scan events stream: %v", err)
		}
		for msg := range batch.Messages() {
			var stored time.Time
			if meta, err := msg.Metadata(); err == nil {
				at, stored = meta.Sequence.Stream, meta.Timestamp
			}
			o, err := messages.DecodeOutcome(msg.Data())
			if err != nil {
				t.Errorf("undecodable event in the stream: %v", err)
				continue
			}
			out[o.RequestID] = append(out[o.RequestID], storedEvent{o, stored})
		}
		if ctx.Err() != nil {
			t.Fatalf("scan events stream: read up to sequence %d of %d", at, last)
		}
	}
	return out
}

// assertOnceCompleted checks that the events stream holds exactly one
// event, completed, for every id, and none for any other request.
func assertOnceCompleted(t *testing.T, js jetstream.JetStream, ids []string) {
	t.Helper()
	assertExactlyOne(t, js, ids, messages.StatusCompleted)
}

// assertExactlyOne checks that the events stream holds exactly one event
// for every id, of status want ("": any), and none for any other request.
func assertExactlyOne(t *testing.T, js jetstream.JetStream, ids []string, want messages.Status) {
	t.Helper()
	events := scanEvents(t, js)
	known := make(map[string]bool, len(ids))
	bad := 0
	for _, id := range ids {
		known[id] = true
		evs := events[id]
		if len(evs) == 1 && (want == "" || evs[0].Status == want) {
			continue
		}
		if bad++; bad <= 10 {
			var statuses []string
			for _, e := range evs {
				s := string(e.Status)
				if e.Error != nil {
					s += " " + e.Error.Code
				}
				statuses = append(statuses, s)
			}
			t.Errorf("%s: %d events %v in the events stream, want exactly one %s", id, len(evs), statuses, want)
		}
	}
	if bad > 10 {
		t.Errorf("... %d requests in all without exactly one %s event", bad, want)
	}
	for id, evs := range events {
		if !known[id] {
			t.Errorf("events stream holds %d events of %q, a request never published", len(evs), id)
		}
	}
}

// waitStreamEmpty waits until the requests stream (a work queue) holds no
// message: every request acked, which the worker does only once its event
// is stored (or its outcome was already known).
func waitStreamEmpty(t *testing.T, js jetstream.JetStream, timeout time.Duration) {
	t.Helper()
	pollUntil(t, timeout, "requests stream empty (every request acked)", func() bool {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer cancel()
		s, err := js.Stream(ctx, messages.RequestStream)
		return err == nil && s.CachedInfo().State.Msgs == 0
	})
}

// pollUntil polls cond every 50ms until it holds; for state that has no
// event to wait on (stream state, scrapes, the emulator's groups).
func pollUntil(t *testing.T, timeout time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	tick := time.NewTicker(50 * time.Millisecond)
	defer tick.Stop()
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %s waiting for %s", timeout, what)
		}
		<-tick.C
	}
}

// scrapeAll reads a worker's /metrics as series -> value, a series being the
// name with its labels as exposed, e.g. slbdrain_outcomes_total{status="completed"}.
func scrapeAll(metricsAddr string) (map[string]float64, error) {
	resp, err := http.Get("http://" + metricsAddr + "/metrics")
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	out := map[string]float64{}
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 0, 64<<10), 1<<20)
	for sc.Scan() {
		line := sc.Text()
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		i := strings.LastIndexByte(line, ' ')
		if i < 0 {
			continue
		}
		v, err := strconv.ParseFloat(line[i+1:], 64)
		if err != nil {
			continue
		}
		out[line[:i]] = v
	}
	return out, sc.Err()
}

// scrapeMetric is one series of a worker's /metrics, -1 when it cannot be read.
func scrapeMetric(metricsAddr, series string) float64 {
	m, err := scrapeAll(metricsAddr)
	if err != nil {
		return -1
	}
	v, ok := m[series]
	if !ok {
		return -1
	}
	return v
}

// oneServerRequest is a one-server drain request of group g for server i of
// simWithGroups' naming.
func oneServerRequest(id string, g, i int) messages.DrainRequest {
	return messages.DrainRequest{Version: 1, RequestID: id, RegionID: region, VServerGroupID: fmt.Sprintf("rsp-g%d", g),
		BackendServers: []messages.BackendServer{{ServerID: fmt.Sprintf("i-g%d-%03d", g, i), Port: 80}}}
}

// publishAll publishes reqs with asynchronous acknowledgements, a window at
// a time, and tries again what was not acknowledged (the request id makes a
// repeat a duplicate).
func publishAll(nc *nats.Conn, reqs []messages.DrainRequest) error {
	// A lost ack (the connection's node killed with publishes in flight)
	// must time out to be published again, not hang the chunk.
	js, err := jetstream.New(nc, jetstream.WithPublishAsyncMaxPending(512), jetstream.WithPublishAsyncTimeout(5*time.Second))
	if err != nil {
		return err
	}
	const window = 500
	for start := 0; start < len(reqs); start += window {
		chunk := reqs[start:min(start+window, len(reqs))]
		for try := 0; len(chunk) > 0; try++ {
			if try == 20 {
				return fmt.Errorf("publish: %d requests still not acknowledged after 20 tries", len(chunk))
			}
			futures := make([]jetstream.PubAckFuture, len(chunk))
			for i, req := range chunk {
				data, err := req.MarshalJSON()
				if err != nil {
					return err
				}
				msg := nats.NewMsg(messages.RequestSubject(req.RegionID, req.VServerGroupID))
				msg.Data = data
				msg.Header.Set(messages.MsgIDHeader, req.RequestID)
				if futures[i], err = js.PublishMsgAsync(msg); err != nil {
					futures[i] = nil
				}
			}
			select {
			case <-js.PublishAsyncComplete():
			case <-time.After(60 * time.Second):
				return errors.New("publish: no acknowledgements within 60s")
			}
			var again []messages.DrainRequest
			for i, f := range futures {
				if f == nil {
					again = append(again, chunk[i])
					continue
				}
				select {
				case <-f.Ok():
				case <-f.Err():
					again = append(again, chunk[i])
				}
			}
			chunk = again
		}
	}
	return nil
}
