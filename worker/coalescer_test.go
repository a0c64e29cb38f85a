package worker

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/slbdrain/slbdrain/messages"
	"github.com/slbdrain/slbdrain/retry"
)

func newTestCoalescer(linger time.Duration) *coalescer {
	c := newCoalescer(20, linger, 50*time.Millisecond, 1000, retry.DefaultPolicy(), time.Now, newMetrics(nil))
	c.emit = func([]report) {}
	return c
}

func testRequest(seq uint64, group string, servers ...messages.BackendServer) *request {
	meta := &jetstream.MsgMetadata{Sequence: jetstream.SequencePair{Stream: seq}, Timestamp: time.Now()}
	return newRequest(delivery{}, meta, messages.DrainRequest{Version: 1, RequestID: fmt.Sprint("r", seq), RegionID: "cn-hangzhou",
		VServerGroupID: group, BackendServers: servers}, time.Hour, time.Now())
}

func server(i int) messages.BackendServer {
	return messages.BackendServer{ServerID: fmt.Sprintf("i-%05d", i), Port: 80, Type: "ecs"}
}

// Requests for a group queued while its call is out ride the next call
// together; a server asked for twice is sent once; no call exceeds 20.
func TestCoalescerGroupCommit(t *testing.T) {
	c := newTestCoalescer(0)
	ctx := context.Background()
	first := testRequest(1, "rsp-a", server(0))
	c.hold(first)
	c.add(first)
	g := c.ready.pop(ctx)
	cl := c.take(g)
	if len(cl.servers) != 1 {
		t.Fatalf("first call carries %d servers, want 1", len(cl.servers))
	}
	// While the call is out, 30 requests arrive, one of them repeating server 1.
	var reqs []*request
	for i := 1; i <= 30; i++ {
		r := testRequest(uint64(i+1), "rsp-a", server(i))
		if i == 30 {
			r = testRequest(uint64(i+1), "rsp-a", server(1))
		}
		c.hold(r)
		c.add(r)
		reqs = append(reqs, r)
	}
	if n := c.ready.len(); n != 0 {
		t.Fatalf("group in the ready queue %d times while its call is out", n)
	}
	c.complete(cl, callResult{requestID: "api-1"})
	if !first.done {
		t.Error("first request not done after its call")
	}
	cl = c.take(c.ready.pop(ctx))
	if len(cl.servers) != 20 {
		t.Errorf("second call carries %d servers, want a full 20", len(cl.servers))
	}
	c.complete(cl, callResult{requestID: "api-2"})
	cl = c.take(c.ready.pop(ctx))
	if len(cl.servers) != 9 {
		t.Errorf("third call carries %d servers, want 9 (29 unique after the first 20)", len(cl.servers))
	}
	c.complete(cl, callResult{requestID: "api-3"})
	for _, r := range reqs {
		if !r.done || r.remaining != 0 {
			t.Errorf("%s: done %v, remaining %d", r.req.RequestID, r.done, r.remaining)
		}
	}
	if reqs[29].attempts != 1 || reqs[0].attempts != 1 {
		t.Errorf("the request folded onto server 1 was counted %d times", reqs[29].attempts)
	}
	if n := len(c.groups); n != 0 {
		t.Errorf("%d groups kept after all work is done", n)
	}
}

// A retried call keeps its batch and tops it up from the queue.
func TestCoalescerRetryTopsUp(t *testing.T) {
	c := newTestCoalescer(0)
	c.policy = retry.Policy{Initial: time.Millisecond, Max: time.Millisecond, Multiplier: 1, Jitter: 0}
	ctx := context.Background()
	r1 := testRequest(1, "rsp-b", server(0), server(1))
	c.hold(r1)
	c.add(r1)
	cl := c.take(c.ready.pop(ctx))
	// While the call is out, r2 asks for a server of that call again, and a new one.
	r2 := testRequest(2, "rsp-b", server(0), server(2))
	c.hold(r2)
	c.add(r2)
	c.complete(cl, callResult{err: fmt.Errorf("throttled"), class: retry.Throttled, requestID: "api-throttled"})
	cl = c.take(c.ready.pop(ctx)) // after the backoff timer
	if fmt.Sprint(cl.servers) != fmt.Sprint([]messages.BackendServer{server(0), server(1), server(2)}) {
		t.Fatalf("retry carries %v, want servers 0, 1 (retried) and 2 (new), each once", cl.servers)
	}
	c.complete(cl, callResult{requestID: "api-ok"})
	if !r1.done || !r2.done {
		t.Fatal("requests not done after the retry")
	}
	if r1.attempts != 2 || len(r1.apiIDs) != 2 || r2.attempts != 1 {
		t.Errorf("attempts r1 %d (ids %v), r2 %d", r1.attempts, r1.apiIDs, r2.attempts)
	}
}

func BenchmarkCoalescerAddTake(b *testing.B) {
	c := newTestCoalescer(0)
	ctx := context.Background()
	const groups = 1000
	reqs := make([]*request, b.N)
	for i := range reqs {
		reqs[i] = testRequest(uint64(i+1), fmt.Sprintf("rsp-%04d", i%groups), server(i))
	}
	b.ReportAllocs()
	b.ResetTimer()
	for i, r := range reqs {
		c.hold(r)
		c.add(r)
		if i%groups == groups-1 || i == len(reqs)-1 {
			for c.ready.len() > 0 {
				if cl := c.take(c.ready.pop(ctx)); cl != nil {
					c.complete(cl, callResult{requestID: "x"})
				}
			}
		}
	}
}
