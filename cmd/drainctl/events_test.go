package main

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/nats-io/nats.go"

	"github.com/slbdrain/slbdrain/internal/syncbuf"
	"github.com/slbdrain/slbdrain/messages"
)

func TestWatchReplaysAndFollows(t *testing.T) {
	e := newEnv(t)
	e.startWorker()
	old := e.group("rsp-watch", 3)
	if r := e.drainctl("", append([]string{"drain", "--region", testRegion, "--group", "rsp-watch", "--request-id", "watch-old", "--wait"},
		serverFlags(old[:1])...)...); r.code != exitOK {
		t.Fatalf("drain: want exit 0\n%s", r)
	}

	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	out, errOut := newLineWriter(), &syncbuf.Buffer{}
	code := make(chan int, 1)
	go func() {
		code <- run(ctx, []string{"--nats-url", e.url, "watch", "--json", "--since", "1h", "--group", "rsp-watch"},
			strings.NewReader(""), out, errOut)
	}()
	line := waitLine(t, out, "watch-old", func(l string) bool { return strings.Contains(l, "watch-old") })
	o, err := messages.DecodeOutcome([]byte(line))
	if err != nil || o.Status != messages.StatusCompleted {
		t.Fatalf("replayed line %q: %v, want a completed event", line, err)
	}

	// A new event arrives while watching; one of another group does not.
	if r := e.drainctl("", "drain", "--region", testRegion, "--group", "rsp-other", "--server", "i-o:80", "--request-id", "other-1", "--wait"); r.code != exitFailed {
		t.Fatalf("drain of a missing group: want exit 1\n%s", r)
	}
	if r := e.drainctl("", append([]string{"drain", "--region", testRegion, "--group", "rsp-watch", "--request-id", "watch-new"},
		serverFlags(old[1:])...)...); r.code != exitOK {
		t.Fatalf("drain: want exit 0\n%s", r)
	}
	line = waitLine(t, out, "watch-new", func(l string) bool {
		if strings.Contains(l, "other-1") {
			t.Errorf("watch --group rsp-watch printed an event of another group: %s", l)
		}
		return strings.Contains(l, "watch-new")
	})
	if o, err := messages.DecodeOutcome([]byte(line)); err != nil || len(o.BackendServers) != 2 {
		t.Errorf("followed line %q: %v, want the event of 2 servers", line, err)
	}

	cancel()
	select {
	case c := <-code:
		if c != exitOK {
			t.Errorf("watch ended with exit %d on interrupt, want 0; stderr:\n%s", c, errOut.String())
		}
	case <-t.Context().Done():
	}
}

func TestWatchHumanLines(t *testing.T) {
	e := newEnv(t)
	e.startWorker()
	if r := e.drainctl("", "drain", "--region", testRegion, "--group", "rsp-gone", "--server", "i-g:80", "--request-id", "gone-1", "--wait"); r.code != exitFailed {
		t.Fatalf("drain: want exit 1\n%s", r)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	out := newLineWriter()
	code := make(chan int, 1)
	go func() {
		code <- run(ctx, []string{"--nats-url", e.url, "watch", "--status", "failed", "--since", "10m"}, strings.NewReader(""), out, &syncbuf.Buffer{})
	}()
	line := waitLine(t, out, "gone-1", func(l string) bool { return strings.Contains(l, "gone-1") })
	for _, want := range []string{"failed", "cn-hangzhou/rsp-gone", "1 server ", "InvalidParameter"} {
		if !strings.Contains(line, want) {
			t.Errorf("line %q lacks %q", line, want)
		}
	}
	cancel()
	if c := <-code; c != exitOK {
		t.Errorf("watch ended with exit %d on interrupt, want 0", c)
	}
}

func TestStatus(t *testing.T) {
	e := newEnv(t)
	// Before any worker ran: nothing exists yet, which is not an error.
	r := e.drainctl("", "status")
	if r.code != exitOK || !strings.Contains(r.stdout, "does not exist yet") {
		t.Fatalf("status before any worker: want exit 0 and 'does not exist yet'\n%s", r)
	}

	w := e.startWorker()
	servers := e.group("rsp-status", 5)
	acks := e.watchAcks()
	if r := e.drainctl("", append([]string{"drain", "--region", testRegion, "--group", "rsp-status", "--wait"}, serverFlags(servers)...)...); r.code != exitOK {
		t.Fatalf("drain: want exit 0\n%s", r)
	}
	// drain --wait ends on the event; the worker acks the request after
	// it. What status counts must be settled first.
	e.waitSettled(acks, 1)
	readyz := httptest.NewServer(http.HandlerFunc(func(rw http.ResponseWriter, req *http.Request) {
		if req.URL.Path != "/readyz" {
			http.NotFound(rw, req)
			return
		}
		// As drainworker answers (cmd/drainworker/main.go).
		role := string(w.Role())
		if role == "unknown" {
			role = "role unknown: no request delivered yet"
		}
		if err := w.Ready(); err != nil {
			rw.WriteHeader(http.StatusServiceUnavailable)
			fmt.Fprintln(rw, "not ready:", err)
			return
		}
		fmt.Fprintf(rw, "ready (%s)\n", role)
	}))
	defer readyz.Close()

	r = e.drainctl("", "status", "--metrics-url", readyz.URL)
	if r.code != exitOK {
		t.Fatalf("want exit 0\n%s", r)
	}
	for _, want := range []string{"stream SLB_DRAIN_REQUESTS", "stream SLB_DRAIN_EVENTS", "1 messages", "consumer drainworker",
		"pending", "0 requests not yet delivered", "ack pending", "0 requests in flight", "redelivered", "waiting pulls",
		"priority group drainworker", "pinned_client", "readyz: ready ("} {
		if !strings.Contains(r.stdout, want) {
			t.Errorf("stdout lacks %q\n%s", want, r)
		}
	}
	t.Logf("transcript:\n$ drainctl status --metrics-url %s\n%s", readyz.URL, r.stdout)

	r = e.drainctl("", "status", "--json")
	var rep statusReport
	if err := json.Unmarshal([]byte(r.stdout), &rep); err != nil || r.code != exitOK {
		t.Fatalf("status --json: %v\n%s", err, r)
	}
	if c := rep.Consumer; !c.Exists || c.NumPending != 0 || c.NumAckPending != 0 || c.NumWaiting < 1 {
		t.Errorf("consumer %+v: want existing, nothing pending, a waiting pull", c)
	}
	// drain --wait deleted its consumer of the events when done.
	if len(rep.Streams) != 2 || rep.Streams[1].Name != messages.EventStream || rep.Streams[1].Messages != 1 || rep.Streams[1].Consumers != 0 {
		t.Errorf("streams %+v: want the events stream with 1 event and no consumer", rep.Streams)
	}

	// A worker that is not ready says why.
	notReady := httptest.NewServer(http.HandlerFunc(func(rw http.ResponseWriter, _ *http.Request) {
		rw.WriteHeader(http.StatusServiceUnavailable)
		fmt.Fprintln(rw, "not ready: slb credentials failing")
	}))
	defer notReady.Close()
	r = e.drainctl("", "status", "--metrics-url", notReady.URL+"/")
	if r.code != exitOK || !strings.Contains(r.stdout, "NOT READY (HTTP 503) not ready: slb credentials failing") {
		t.Errorf("status of a worker not ready: want exit 0 and the reason\n%s", r)
	}
}

func TestStatusCountsPendingRequests(t *testing.T) {
	e := newEnv(t)
	e.createStreams()
	for i := range 3 {
		if r := e.drainctl("", "drain", "--region", testRegion, "--group", "rsp-queued", "--server", fmt.Sprintf("i-q%d:80", i)); r.code != exitOK {
			t.Fatalf("drain: want exit 0\n%s", r)
		}
	}
	r := e.drainctl("", "status", "--json")
	var rep statusReport
	if err := json.Unmarshal([]byte(r.stdout), &rep); err != nil || r.code != exitOK {
		t.Fatalf("status --json: %v\n%s", err, r)
	}
	if rep.Streams[0].Messages != 3 || rep.Consumer.Exists {
		t.Errorf("streams %+v consumer %+v: want 3 queued requests and no consumer yet", rep.Streams, rep.Consumer)
	}
}

func TestFailedAndRetry(t *testing.T) {
	e := newEnv(t)
	e.startWorker()
	servers := e.group("rsp-denied", 30)
	e.sim.DenyGroup(testRegion, "rsp-denied")

	r := e.drainctl("", append([]string{"drain", "--region", testRegion, "--group", "rsp-denied", "--request-id", "denied-1",
		"--reason", "scale-in", "--wait"}, serverFlags(servers)...)...)
	if r.code != exitFailed {
		t.Fatalf("drain of a denied group: want exit 1\n%s", r)
	}
	if !strings.Contains(r.stdout, "Forbidden.RAM") || !strings.Contains(r.stderr, "denied-1 failed (Forbidden.RAM)") {
		t.Errorf("the Forbidden code is not shown\n%s", r)
	}

	r = e.drainctl("", "failed")
	if r.code != exitOK || !strings.Contains(r.stdout, "denied-1") || !strings.Contains(r.stdout, "Forbidden.RAM: ") {
		t.Fatalf("failed: want exit 0 and denied-1 with code and message\n%s", r)
	}
	r = e.drainctl("", "failed", "--json")
	if outs := decodeOutcomes(t, r.stdout); r.code != exitOK || len(outs) != 1 || outs[0].RequestID != "denied-1" {
		t.Fatalf("failed --json: want denied-1 only\n%s", r)
	}

	if r := e.drainctl("", "retry", "no-such-request"); r.code != exitFailed || !strings.Contains(r.stderr, "no failed request no-such-request") {
		t.Errorf("retry of an unknown id: want exit 1 and a clear message\n%s", r)
	}

	e.sim.AllowGroup(testRegion, "rsp-denied")
	r = e.drainctl("", "retry", "denied-1", "--wait", "--verbose")
	if r.code != exitOK {
		t.Fatalf("retry: want exit 0\n%s", r)
	}
	for _, want := range []string{"request denied-1-retry-1: completed", "30 of 30 backend servers", "retry of denied-1: scale-in"} {
		if !strings.Contains(r.stdout, want) {
			t.Errorf("retry output lacks %q\n%s", want, r)
		}
	}
	if n := e.left("rsp-denied"); n != 0 {
		t.Errorf("%d servers left in the group, want 0", n)
	}

	// The next retry of the same request takes the next free id.
	r = e.drainctl("", "retry", "denied-1", "--json")
	if r.code != exitOK || !strings.Contains(r.stdout, `"request_id":"denied-1-retry-2"`) {
		t.Errorf("second retry: want denied-1-retry-2 published\n%s", r)
	}
}

func TestRetryOfRejectedRequestRefused(t *testing.T) {
	e := newEnv(t)
	e.startWorker()
	// A request with a misspelt field is rejected by the worker.
	msg := nats.NewMsg(messages.RequestSubject(testRegion, "rsp-bad"))
	msg.Header.Set(messages.MsgIDHeader, "bad-1")
	msg.Data = []byte(`{"version":1,"request_id":"bad-1","region_id":"cn-hangzhou","vserver_group_id":"rsp-bad",` +
		`"backend_servers":[{"server_id":"i-1","port":80}],"reasn":"typo"}`)
	if _, err := e.js.PublishMsg(t.Context(), msg); err != nil {
		t.Fatal(err)
	}
	// watch is the event to wait on.
	ctx, cancel := context.WithCancel(context.Background())
	out := newLineWriter()
	code := make(chan int, 1)
	go func() {
		code <- run(ctx, []string{"--nats-url", e.url, "watch", "--since", "1h"}, strings.NewReader(""), out, &syncbuf.Buffer{})
	}()
	waitLine(t, out, "bad-1", func(l string) bool { return strings.Contains(l, "bad-1") })
	cancel()
	<-code

	r := e.drainctl("", "failed")
	if !strings.Contains(r.stdout, "rejected") || !strings.Contains(r.stdout, "InvalidRequest") {
		t.Errorf("failed does not list the rejected request\n%s", r)
	}
	r = e.drainctl("", "retry", "bad-1")
	if r.code != exitFailed || !strings.Contains(r.stderr, "was rejected") || !strings.Contains(r.stderr, "cannot be retried") {
		t.Errorf("retry of a rejected request: want exit 1 and why\n%s", r)
	}
}
