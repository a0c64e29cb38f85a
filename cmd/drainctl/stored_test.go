package main

import (
	"context"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/slbdrain/slbdrain/internal/syncbuf"
	"github.com/slbdrain/slbdrain/messages"
	"github.com/slbdrain/slbdrain/worker"
)

// createBucket creates the outcomes bucket as a worker would, for tests that
// run without one.
func (e *env) createBucket() jetstream.KeyValue {
	e.t.Helper()
	kv, err := e.js.CreateKeyValue(e.t.Context(), worker.OutcomeBucketConfig(worker.DefaultConfig()))
	if err != nil {
		e.t.Fatal(err)
	}
	return kv
}

func (e *env) bucket() jetstream.KeyValue {
	e.t.Helper()
	kv, err := e.js.KeyValue(e.t.Context(), messages.OutcomeBucket)
	if err != nil {
		e.t.Fatal(err)
	}
	return kv
}

// remember stores o in the outcomes bucket, as the worker does after its
// event.
func (e *env) remember(kv jetstream.KeyValue, o messages.Outcome) {
	e.t.Helper()
	data, err := json.Marshal(o)
	if err != nil {
		e.t.Fatal(err)
	}
	if _, err := kv.Put(e.t.Context(), messages.OutcomeKey(o.RequestID), data); err != nil {
		e.t.Fatal(err)
	}
}

// requestsPublished is the last sequence of the requests stream: how many
// requests were ever published (the work queue forgets acked ones).
func (e *env) requestsPublished() uint64 {
	e.t.Helper()
	s, err := e.js.Stream(e.t.Context(), messages.RequestStream)
	if err != nil {
		e.t.Fatal(err)
	}
	return s.CachedInfo().State.LastSeq
}

func completedOutcome(id, group string, seq uint64, servers ...messages.BackendServer) messages.Outcome {
	at := time.Date(2026, 11, 27, 9, 59, 58, 0, time.UTC)
	return messages.Outcome{Version: 1, RequestID: id, Status: messages.StatusCompleted, RegionID: testRegion, VServerGroupID: group,
		BackendServers: servers, APIRequestIDs: []string{"9DEC9C28-AB05-4DDF-9A78-6B08EC9CE18C"}, Attempts: 1,
		ReceivedAt: at, FinishedAt: at.Add(290 * time.Millisecond), Source: "test", StreamSequence: seq}
}

// A known id, its event gone from the events stream (past its max age):
// drain --wait shows the outcome the bucket remembers, exits by its status,
// and publishes nothing.
func TestDrainWaitShowsRememberedOutcome(t *testing.T) {
	e := newEnv(t)
	e.startWorker()
	if r := e.drainctl("", "drain", "--region", testRegion, "--group", "rsp-nosuch", "--server", "i-k:80", "--request-id", "known-1", "--wait"); r.code != exitFailed {
		t.Fatalf("first drain: want exit 1\n%s", r)
	}
	events, err := e.js.Stream(t.Context(), messages.EventStream)
	if err != nil {
		t.Fatal(err)
	}
	if err := events.Purge(t.Context()); err != nil {
		t.Fatal(err)
	}
	published := e.requestsPublished()

	r := e.drainctl("", "drain", "--region", testRegion, "--group", "rsp-nosuch", "--server", "i-k:80", "--request-id", "known-1", "--wait", "--timeout", "20s")
	if r.code != exitFailed {
		t.Fatalf("known failed id: want exit 1 (its status)\n%s", r)
	}
	for _, want := range []string{"request known-1: failed", "InvalidParameter", "i-k:80:ecs"} {
		if !strings.Contains(r.stdout, want) {
			t.Errorf("stdout lacks %q\n%s", want, r)
		}
	}
	for _, want := range []string{"request known-1 already has an outcome (failed", "remembered in SLB_DRAIN_OUTCOMES", "not published again",
		"drainctl retry known-1", "request known-1 failed (InvalidParameter)"} {
		if !strings.Contains(r.stderr, want) {
			t.Errorf("stderr lacks %q\n%s", want, r)
		}
	}
	if strings.Contains(r.stderr, "different request") {
		t.Errorf("the same request is said to differ\n%s", r)
	}
	if n := e.requestsPublished(); n != published {
		t.Errorf("requests stream sequence %d, was %d: a known id was published again", n, published)
	}
	t.Logf("transcript:\n$ drainctl drain --region %s --group rsp-nosuch --server i-k:80 --request-id known-1 --wait\n%s%s", testRegion, r.stderr, r.stdout)
}

// An id used before for another drain: the remembered outcome is shown with
// a warning that it is of a different request.
func TestDrainWaitRememberedOutcomeOfAnotherRequest(t *testing.T) {
	e := newEnv(t)
	e.createStreams()
	kv := e.createBucket()
	e.remember(kv, completedOutcome("reused-1", "rsp-elsewhere", 4, messages.BackendServer{ServerID: "i-e", Port: 80, Type: "ecs"}))
	r := e.drainctl("", "drain", "--region", testRegion, "--group", "rsp-mine", "--server", "i-m:80", "--request-id", "reused-1", "--wait", "--json")
	if r.code != exitOK {
		t.Fatalf("want exit 0 (the remembered status)\n%s", r)
	}
	if outs := decodeOutcomes(t, r.stdout); len(outs) != 1 || outs[0].VServerGroupID != "rsp-elsewhere" {
		t.Errorf("--json: %+v, want the remembered outcome", outs)
	}
	if !strings.Contains(r.stderr, "of a different request (group cn-hangzhou/rsp-elsewhere)") || !strings.Contains(r.stderr, "use a new --request-id") {
		t.Errorf("stderr does not warn of the reused id\n%s", r)
	}
	if n := e.requestsPublished(); n != 0 {
		t.Errorf("%d requests published, want none", n)
	}
	// Same group, other servers.
	r = e.drainctl("", "drain", "--region", testRegion, "--group", "rsp-elsewhere", "--server", "i-m:80", "--request-id", "reused-1", "--wait")
	if r.code != exitOK || !strings.Contains(r.stderr, "different request (other backend servers: i-e:80:ecs)") {
		t.Errorf("want exit 0 and a warning naming the servers\n%s", r)
	}
}

// An outcome stored while drain waits answers it: the worker acks a request
// whose id an earlier request's outcome took meanwhile with no event of its
// own, so the bucket is the only answer.
func TestDrainWaitAnsweredByTheBucketWhileWaiting(t *testing.T) {
	e := newEnv(t)
	e.createStreams()
	kv := e.createBucket()
	ctx, cancel := context.WithTimeout(context.Background(), waitLimit)
	defer cancel()
	stdout, stderr := &syncbuf.Buffer{}, newLineWriter()
	code := make(chan int, 1)
	go func() {
		code <- run(ctx, []string{"--nats-url", e.url, "drain", "--region", testRegion, "--group", "rsp-late", "--server", "i-l:80",
			"--request-id", "late-1", "--wait"}, strings.NewReader(""), stdout, stderr)
	}()
	waitLine(t, stderr, "published late-1", func(l string) bool { return strings.HasPrefix(l, "published late-1") })
	// The earlier request under this id, sequence 41 of an older stream.
	e.remember(kv, completedOutcome("late-1", "rsp-late", 41, messages.BackendServer{ServerID: "i-l", Port: 80, Type: "ecs"}))
	select {
	case c := <-code:
		if c != exitOK || !strings.Contains(stdout.String(), "request late-1: completed") {
			t.Errorf("exit %d, stdout:\n%s\nwant exit 0 and the stored outcome", c, stdout.String())
		}
	case <-time.After(waitLimit):
		t.Fatal("drain --wait did not end when the outcome was stored")
	}
	waitLine(t, stderr, "the note of the earlier request", func(l string) bool {
		return strings.Contains(l, "request late-1 is answered by an earlier request under its id (stream sequence 41)")
	})
}

// Parts of a split drain: a part whose outcome is remembered is shown, not
// published; the others are published and waited for.
func TestDrainWaitSplitWithARememberedPart(t *testing.T) {
	e := newEnv(t)
	e.startWorker()
	servers := e.group("rsp-split", 1200)
	first := make([]messages.BackendServer, 1000)
	for i := range first {
		b, err := messages.ParseBackendServer(servers[i])
		if err != nil {
			t.Fatal(err)
		}
		first[i] = b
	}
	first = messages.FoldServers(first)
	e.remember(e.bucket(), completedOutcome("split-part-1", "rsp-split", 3, first...))

	r := e.drainctl(strings.Join(servers, "\n"), "drain", "--region", testRegion, "--group", "rsp-split", "--servers-file", "-",
		"--request-id", "split", "--wait")
	if r.code != exitOK {
		t.Fatalf("want exit 0\n%s", r)
	}
	for _, want := range []string{"request split-part-1: completed", "request split-part-2: completed",
		"2 of 2 requests completed; 1200 of 1200 backend servers removed"} {
		if !strings.Contains(r.stdout, want) {
			t.Errorf("stdout lacks %q\n%s", want, r)
		}
	}
	if !strings.Contains(r.stderr, "request split-part-1 already has an outcome") || strings.Contains(r.stderr, "published split-part-1") ||
		!strings.Contains(r.stderr, "published split-part-2: 200 backend servers") {
		t.Errorf("stderr: want part 1 answered by the bucket and part 2 published\n%s", r)
	}
	// Part 1 was not sent, so its servers are still there (its remembered
	// outcome was made up by this test).
	if n := e.left("rsp-split"); n != 1000 {
		t.Errorf("%d servers left, want the 1000 of part 1", n)
	}
}

// Without the bucket (a worker from before it), drain --wait finds a known
// outcome in the events stream, as before.
func TestDrainWaitWithoutBucketUsesEvents(t *testing.T) {
	e := newEnv(t)
	e.createStreams()
	req := messages.DrainRequest{Version: 1, RequestID: "old-1", RegionID: testRegion, VServerGroupID: "rsp-old",
		BackendServers: []messages.BackendServer{{ServerID: "i-o", Port: 80, Type: "ecs"}}}
	ack, err := messages.Publish(t.Context(), e.js, req)
	if err != nil {
		t.Fatal(err)
	}
	o := completedOutcome("old-1", "rsp-old", ack.Sequence, req.BackendServers...)
	o.Status, o.Error = messages.StatusFailed, &messages.Error{Code: "Forbidden.RAM", Message: "denied"}
	data, err := json.Marshal(o)
	if err != nil {
		t.Fatal(err)
	}
	event := &nats.Msg{Subject: o.Subject(), Data: data, Header: nats.Header{messages.MsgIDHeader: []string{o.MsgID()}}}
	if _, err := e.js.PublishMsg(t.Context(), event); err != nil {
		t.Fatal(err)
	}
	r := e.drainctl("", "drain", "--region", testRegion, "--group", "rsp-old", "--server", "i-o:80", "--request-id", "old-1", "--wait")
	if r.code != exitFailed || !strings.Contains(r.stdout, "request old-1: failed") || !strings.Contains(r.stderr, "duplicate") {
		t.Errorf("want exit 1, the event's outcome and the duplicate publish\n%s", r)
	}
	if strings.Contains(r.stderr, "bucket") {
		t.Errorf("a missing bucket is not worth a warning: it is an older worker\n%s", r)
	}
}
