package worker

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	sdkerrors "github.com/aliyun/alibaba-cloud-sdk-go/sdk/errors"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/slbdrain/slbdrain/messages"
	"github.com/slbdrain/slbdrain/retry"
)

const (
	testLinger    = 5 * time.Millisecond
	testMaxLinger = 50 * time.Millisecond
)

// schedFixture is a scheduler on a fake clock with a ledger, its reports
// collected: every transition runs synchronously, without sleeping.
type schedFixture struct {
	t       *testing.T
	clock   *fakeClock
	s       *scheduler
	ledger  *ledger
	mu      sync.Mutex
	reports []report
	seq     uint64
}

func newSchedFixture(t *testing.T, linger time.Duration) *schedFixture {
	f := &schedFixture{t: t, clock: newFakeClock()}
	m := newMetrics(nil)
	f.ledger = newLedger(f.clock, m, func(r *request) { f.s.expire(r) })
	f.s = newScheduler(schedulerConfig{
		maxBatch: 20, linger: linger, maxLinger: testMaxLinger, holdLimit: 1000,
		// Jitter cannot be off (retry.Policy): a millisecond either way.
		policy:   retry.Policy{Initial: time.Second, Max: time.Second, Multiplier: 1, Jitter: 0.001},
		quotas:   map[string]Quota{ActionRemove: {Calls: 1000, Window: time.Minute}},
		retryMax: time.Hour, // the rows pick their own backoff
	}, f.clock, f.ledger.len, func() bool { return false }, f.emit, m)
	return f
}

func (f *schedFixture) emit(reps []report) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.reports = append(f.reports, reps...)
}

// outcomes returns the reports so far by request id.
func (f *schedFixture) outcomes() map[string]*messages.Outcome {
	f.mu.Lock()
	defer f.mu.Unlock()
	out := make(map[string]*messages.Outcome, len(f.reports))
	for _, rep := range f.reports {
		if _, dup := out[rep.outcome.RequestID]; dup {
			f.t.Errorf("request %s reported twice", rep.outcome.RequestID)
		}
		out[rep.outcome.RequestID] = rep.outcome
	}
	return out
}

// request holds a new request on group with the given servers and a
// deadline d from now, and adds it to the scheduler.
func (f *schedFixture) request(group string, d time.Duration, servers ...messages.BackendServer) *request {
	f.seq++
	r := testRequest(f.seq, group, f.clock.Now(), d, servers...)
	f.ledger.hold(r)
	f.s.add(r)
	return r
}

func testRequest(seq uint64, group string, now time.Time, deadline time.Duration, servers ...messages.BackendServer) *request {
	meta := &jetstream.MsgMetadata{Sequence: jetstream.SequencePair{Stream: seq}, Timestamp: now}
	return newRequest(delivery{}, meta, messages.DrainRequest{Version: 1, RequestID: fmt.Sprint("r", seq), RegionID: "cn-hangzhou",
		VServerGroupID: group, BackendServers: servers}, deadline, 0, now)
}

func server(i int) messages.BackendServer {
	return messages.BackendServer{ServerID: fmt.Sprintf("i-%05d", i), Port: 80, Type: "ecs"}
}

func servers(from, to int) []messages.BackendServer {
	var out []messages.BackendServer
	for i := from; i < to; i++ {
		out = append(out, server(i))
	}
	return out
}

// busy makes the region look like it is in a storm: a request just arrived.
func (f *schedFixture) busy() {
	f.s.mu.Lock()
	defer f.s.mu.Unlock()
	f.s.region("cn-hangzhou").lastArrival = f.clock.Now()
}

func (f *schedFixture) state(group string) groupState {
	return f.s.stateOf(groupKey{"cn-hangzhou", group})
}

func (f *schedFixture) expectState(group string, want groupState) {
	f.t.Helper()
	if got := f.state(group); got != want {
		f.t.Fatalf("group %s is %s, want %s", group, got, want)
	}
}

// take pops the next ready group and cuts its call; a group must be ready.
func (f *schedFixture) take() *call {
	f.t.Helper()
	g, window := f.s.pop(canceled)
	if g == nil {
		f.t.Fatal("no group is ready")
	}
	return f.s.take(g, window)
}

// canceled makes pop return at once when no group may call.
var canceled = func() context.Context {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	return ctx
}()

// readyLen counts the groups in the ready lists.
func (s *scheduler) readyLen() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	n := 0
	for _, rg := range s.regions {
		n += len(rg.ready)
	}
	return n
}

var (
	errThrottled        = sdkerrors.NewServerError(400, `{"Code":"Throttling.User","Message":"Request was denied due to user flow control.","RequestId":"api-throttled"}`, "")
	errServiceThrottled = sdkerrors.NewServerError(400, `{"Code":"Throttling","Message":"Request was denied due to request throttling.","RequestId":"api-service-throttled"}`, "")
	errNoGroup          = sdkerrors.NewServerError(404, `{"Code":"InvalidParameter","Message":"The specified VServerGroupId does not exist.","RequestId":"api-nogroup"}`, "")
	errBadServer        = sdkerrors.NewServerError(404, `{"Code":"InvalidServerId.NotFound","Message":"The specified ServerId does not exist.","RequestId":"api-bad"}`, "")
)

func ok(id string) callResult { return callResult{requestID: id} }

func throttled() callResult {
	return callResult{err: errThrottled, class: retry.Throttled, requestID: "api-throttled"}
}

// serviceThrottled is the service's own throttling (not the account's
// quota), as Alibaba answers it at random on a bad day.
func serviceThrottled() callResult {
	return callResult{err: errServiceThrottled, class: retry.Throttled, requestID: "api-service-throttled"}
}

func groupGone() callResult {
	return callResult{err: errNoGroup, class: retry.Permanent, requestID: "api-nogroup"}
}

func permanent() callResult {
	return callResult{err: errBadServer, class: retry.Permanent, requestID: "api-bad"}
}

// Every transition of the group state machine, one row each.
func TestSchedulerTransitions(t *testing.T) {
	for _, tc := range []struct {
		name string
		run  func(f *schedFixture)
	}{
		{"a lone request is ready at once: one round trip", func(f *schedFixture) {
			f.request("rsp-a", time.Hour, server(1))
			f.expectState("rsp-a", groupReady)
			f.clock.Advance(time.Second)
			f.request("rsp-b", time.Hour, server(2)) // a second later: still alone
			f.expectState("rsp-b", groupReady)
		}},
		{"in a storm an idle group lingers, linger expiry makes it ready", func(f *schedFixture) {
			f.request("rsp-z", time.Hour, server(0)) // the region is busy
			f.take()
			f.request("rsp-a", time.Hour, server(1))
			f.expectState("rsp-a", groupLingering)
			f.clock.Advance(testLinger - time.Microsecond)
			f.expectState("rsp-a", groupLingering)
			f.clock.Advance(time.Microsecond)
			f.expectState("rsp-a", groupReady)
			cl := f.take()
			f.expectState("rsp-a", groupCalling)
			if len(cl.servers) != 1 {
				t.Fatalf("call carries %d servers, want 1", len(cl.servers))
			}
			f.s.complete(cl, ok("api-1"))
			f.expectState("rsp-a", groupIdle)
			if o := f.outcomes()["r2"]; o == nil || o.Status != messages.StatusCompleted {
				t.Fatalf("outcome %+v, want completed", o)
			}
		}},
		{"without linger an idle group is ready at once", func(f *schedFixture) {
			f.s.cfg.linger = 0
			f.request("rsp-a", time.Hour, server(1))
			f.expectState("rsp-a", groupReady)
		}},
		{"a full batch ends the linger", func(f *schedFixture) {
			f.busy()
			f.request("rsp-a", time.Hour, servers(0, 5)...)
			f.expectState("rsp-a", groupLingering)
			f.request("rsp-a", time.Hour, servers(5, 20)...)
			f.expectState("rsp-a", groupReady)
			if cl := f.take(); len(cl.servers) != 20 {
				t.Fatalf("call carries %d servers, want 20", len(cl.servers))
			}
			if n := f.clock.pending(); n != 1 {
				t.Errorf("%d timers armed after the linger ended early, want only the ledger's deadline timer", n)
			}
		}},
		{"company keeps a group lingering up to max linger", func(f *schedFixture) {
			f.busy()
			f.request("rsp-a", time.Hour, server(0))
			for i := 1; i < 19; i++ { // one arrival per 4ms: always within a linger of the last
				f.clock.Advance(4 * time.Millisecond)
				if f.state("rsp-a") != groupLingering {
					break
				}
				f.request("rsp-a", time.Hour, server(i))
			}
			f.expectState("rsp-a", groupReady) // max linger (50ms) reached before 19 arrivals (72ms)
			if cl := f.take(); len(cl.servers) != 13 {
				t.Fatalf("call carries %d servers, want the 13 that arrived within max linger", len(cl.servers))
			}
		}},
		{"a backlog keeps a partial batch lingering", func(f *schedFixture) {
			f.s.backlog.Store(true)
			f.request("rsp-a", time.Hour, server(0))
			f.clock.Advance(testMaxLinger - time.Millisecond)
			f.expectState("rsp-a", groupLingering)
			f.clock.Advance(time.Millisecond)
			f.expectState("rsp-a", groupReady)
		}},
		{"group commit: requests during a call ride the next call, a repeated server once", func(f *schedFixture) {
			f.s.cfg.linger = 0
			first := f.request("rsp-a", time.Hour, server(0))
			cl := f.take()
			var reqs []*request
			for i := 1; i <= 30; i++ {
				s := server(i)
				if i == 30 {
					s = server(1)
				}
				reqs = append(reqs, f.request("rsp-a", time.Hour, s))
			}
			f.expectState("rsp-a", groupCalling)
			if n := f.s.readyLen(); n != 0 {
				t.Fatalf("group in the ready queue %d times while its call is out", n)
			}
			f.s.complete(cl, ok("api-1"))
			if !first.isDecided() {
				t.Error("first request not done after its call")
			}
			f.expectState("rsp-a", groupReady)
			cl = f.take()
			if len(cl.servers) != 20 {
				t.Errorf("second call carries %d servers, want a full 20", len(cl.servers))
			}
			f.s.complete(cl, ok("api-2"))
			cl = f.take()
			if len(cl.servers) != 9 {
				t.Errorf("third call carries %d servers, want 9 (29 unique after the first 20)", len(cl.servers))
			}
			f.s.complete(cl, ok("api-3"))
			f.expectState("rsp-a", groupIdle)
			got := f.outcomes()
			for _, r := range reqs {
				o := got[r.req.RequestID]
				if o == nil || o.Status != messages.StatusCompleted || o.Attempts != 1 {
					t.Errorf("%s: outcome %+v, want completed in 1 attempt", r.req.RequestID, o)
				}
			}
		}},
		{"a throttled call backs off, then retries topped up from the queue", func(f *schedFixture) {
			f.s.cfg.linger = 0
			r1 := f.request("rsp-b", time.Hour, server(0), server(1))
			cl := f.take()
			r2 := f.request("rsp-b", time.Hour, server(0), server(2)) // asks for a server of the call again, and a new one
			f.s.complete(cl, throttled())
			f.expectState("rsp-b", groupBackingOff)
			f.clock.Advance(998 * time.Millisecond)
			f.expectState("rsp-b", groupBackingOff)
			f.clock.Advance(4 * time.Millisecond)
			f.expectState("rsp-b", groupReady)
			cl = f.take()
			if fmt.Sprint(cl.servers) != fmt.Sprint([]messages.BackendServer{server(0), server(1), server(2)}) {
				t.Fatalf("retry carries %v, want servers 0, 1 (retried) and 2 (new), each once", cl.servers)
			}
			f.s.complete(cl, ok("api-ok"))
			got := f.outcomes()
			if o := got["r1"]; o == nil || o.Attempts != 2 || len(o.APIRequestIDs) != 2 {
				t.Errorf("r1 %+v, want 2 attempts with 2 api ids", o)
			}
			if o := got["r2"]; o == nil || o.Attempts != 1 {
				t.Errorf("r2 %+v, want 1 attempt", o)
			}
			_, _ = r1, r2
		}},
		{"a permanent error on a shared call isolates each request", func(f *schedFixture) {
			f.s.cfg.linger = 0
			f.request("rsp-c", time.Hour, server(0))
			cl := f.take()
			f.request("rsp-c", time.Hour, server(1))
			f.request("rsp-c", time.Hour, server(2))
			f.s.complete(cl, ok("api-1"))
			cl = f.take()
			if len(cl.reqs) != 2 {
				t.Fatalf("shared call carries %d requests, want 2", len(cl.reqs))
			}
			f.s.complete(cl, permanent())
			f.expectState("rsp-c", groupReady)
			cl = f.take()
			if fmt.Sprint(cl.servers) != fmt.Sprint([]messages.BackendServer{server(1)}) {
				t.Fatalf("first isolated call carries %v, want server 1 alone", cl.servers)
			}
			f.s.complete(cl, permanent())
			cl = f.take()
			if fmt.Sprint(cl.servers) != fmt.Sprint([]messages.BackendServer{server(2)}) {
				t.Fatalf("second isolated call carries %v, want server 2 alone", cl.servers)
			}
			f.s.complete(cl, ok("api-3"))
			f.expectState("rsp-c", groupIdle)
			got := f.outcomes()
			if o := got["r2"]; o == nil || o.Status != messages.StatusFailed || o.Error.Code != "InvalidServerId.NotFound" ||
				len(o.NotRemoved) != 1 {
				t.Errorf("r2 %+v, want failed with the API's code and its server not removed", o)
			}
			if o := got["r3"]; o == nil || o.Status != messages.StatusCompleted {
				t.Errorf("r3 %+v, want completed", o)
			}
		}},
		{"one bad server among 20 is found by splitting; the rest is removed", func(f *schedFixture) {
			f.s.cfg.linger = 0
			f.request("rsp-m", time.Hour, servers(0, 20)...)
			bad := server(13)
			calls := 0
			for f.s.readyLen() > 0 {
				cl := f.take()
				calls++
				if slices.Contains(cl.servers, bad) {
					f.s.complete(cl, permanent())
				} else {
					f.s.complete(cl, ok(fmt.Sprint("api-", calls)))
				}
			}
			if calls > 1+2*5 {
				t.Errorf("%d calls to find one bad server among 20, want at most 1 + 2·⌈log₂ 20⌉", calls)
			}
			o := f.outcomes()["r1"]
			if o == nil || o.Status != messages.StatusFailed || o.Error.Code != "InvalidServerId.NotFound" {
				t.Fatalf("outcome %+v, want failed with the API's code", o)
			}
			if len(o.Removed) != 19 || len(o.NotRemoved) != 1 || o.NotRemoved[0] != bad {
				t.Errorf("removed %d, not removed %v; want 19 and only %v", len(o.Removed), o.NotRemoved, bad)
			}
			if !strings.Contains(o.Error.Message, bad.ServerID) {
				t.Errorf("message %q does not name the refused server", o.Error.Message)
			}
			f.expectState("rsp-m", groupIdle)
		}},
		{"a server two requests share is accounted for in both after a split", func(f *schedFixture) {
			f.s.cfg.linger = 0
			f.request("rsp-n", time.Hour, server(0))
			cl := f.take()
			f.request("rsp-n", time.Hour, server(1), server(2)) // r2: server 2 is bad
			f.request("rsp-n", time.Hour, server(1))            // r3 shares server 1
			f.s.complete(cl, ok("api-1"))
			for f.s.readyLen() > 0 {
				cl := f.take()
				if slices.Contains(cl.servers, server(2)) {
					f.s.complete(cl, permanent())
				} else {
					f.s.complete(cl, ok("api"))
				}
			}
			got := f.outcomes()
			if o := got["r3"]; o == nil || o.Status != messages.StatusCompleted {
				t.Errorf("r3 %+v, want completed", o)
			}
			if o := got["r2"]; o == nil || o.Status != messages.StatusFailed || len(o.NotRemoved) != 1 || o.NotRemoved[0] != server(2) ||
				len(o.Removed) != 1 || o.Removed[0] != server(1) {
				t.Errorf("r2 %+v, want failed with only server 2 not removed", o)
			}
		}},
		{"a group-wide error fails every request at once, without splitting", func(f *schedFixture) {
			f.s.cfg.linger = 0
			f.request("rsp-o", time.Hour, server(0))
			cl := f.take()
			f.request("rsp-o", time.Hour, server(1), server(2))
			f.request("rsp-o", time.Hour, server(3))
			f.s.complete(cl, ok("api-1"))
			f.s.complete(f.take(), groupGone())
			if n := f.s.readyLen(); n != 0 {
				t.Errorf("%d more calls queued after a group-wide error", n)
			}
			for _, id := range []string{"r2", "r3"} {
				if o := f.outcomes()[id]; o == nil || o.Status != messages.StatusFailed || o.Error.Code != "InvalidParameter" {
					t.Errorf("%s %+v, want failed InvalidParameter", id, o)
				}
			}
		}},
		{"an isolated batch is never topped up", func(f *schedFixture) {
			f.s.cfg.linger = 0
			f.request("rsp-c", time.Hour, server(0))
			cl := f.take()
			f.request("rsp-c", time.Hour, server(1))
			f.request("rsp-c", time.Hour, server(2))
			f.s.complete(cl, ok("api-1"))
			f.s.complete(f.take(), permanent())
			cl = f.take()
			f.request("rsp-c", time.Hour, server(3)) // arrives while the isolated call is out
			f.s.complete(cl, throttled())
			f.clock.Advance(2 * time.Second)
			if cl = f.take(); len(cl.servers) != 1 {
				t.Fatalf("isolated retry carries %v, want its one server", cl.servers)
			}
		}},
		{"the call the ceiling lets out goes to the fullest batch of any region, not to the one popped while it waited", func(f *schedFixture) {
			f.s.cfg.linger = 0
			f.request("rsp-thin", time.Hour, server(0))
			g, window := f.s.pop(canceled) // a dispatcher pops it, then waits for the ceiling
			meta := &jetstream.MsgMetadata{Sequence: jetstream.SequencePair{Stream: 99}, Timestamp: f.clock.Now()}
			full := newRequest(delivery{}, meta, messages.DrainRequest{Version: 1, RequestID: "r-full", RegionID: "cn-beijing",
				VServerGroupID: "rsp-full", BackendServers: servers(1, 21)}, time.Hour, 0, f.clock.Now())
			f.ledger.hold(full)
			f.s.add(full)
			got, window, ok := f.s.stillCallable(g, window)
			if !ok || got.key != (groupKey{"cn-beijing", "rsp-full"}) {
				t.Fatalf("the call goes to %v (ok %v), want cn-beijing/rsp-full", got.key, ok)
			}
			if cl := f.s.take(got, window); len(cl.servers) != 20 {
				t.Errorf("call of %d servers, want 20", len(cl.servers))
			}
			f.expectState("rsp-thin", groupReady) // back in line, its place in the window refunded
		}},
		{"a server the group's latest answer showed gone rides only in room a call leaves", func(f *schedFixture) {
			f.s.cfg.linger, f.s.cfg.maxLinger = 0, time.Second
			f.request("rsp-r", time.Hour, server(0))
			members := servers(1, 22)
			f.s.complete(f.take(), weightsListed(100, members...)) // server 0 gone; the group holds 1..21
			again := f.request("rsp-r", time.Hour, server(0))      // a re-sent hook
			f.request("rsp-r", time.Hour, servers(1, 21)...)
			cl := f.take()
			if len(cl.servers) != 20 || slices.Contains(cl.servers, server(0)) {
				t.Fatalf("first call %v, want the 20 servers not known gone", cl.servers)
			}
			f.s.complete(cl, weightsListed(100, server(21)))
			f.request("rsp-r", time.Hour, server(21))
			cl = f.take()
			if fmt.Sprint(cl.servers) != fmt.Sprint([]messages.BackendServer{server(21), server(0)}) {
				t.Fatalf("next call %v, want server 21 and the rider in its room", cl.servers)
			}
			f.s.complete(cl, weightsListed(100))
			if o := f.outcomes()[again.req.RequestID]; o == nil || o.Status != messages.StatusCompleted {
				t.Errorf("the re-sent request: %+v, want completed by an answer after it", o)
			}
			if n := testutil.ToFloat64(f.s.m.riders); n != 1 {
				t.Errorf("%v riders, want 1", n)
			}
		}},
		{"riders with no removal to ride in are checked by one read; one the group holds after all is removed", func(f *schedFixture) {
			f.s.cfg.linger, f.s.cfg.maxLinger = 0, time.Second
			f.request("rsp-k", time.Hour, servers(0, 30)...)
			f.s.complete(f.take(), weightsListed(100, servers(20, 30)...)) // servers 0..19 gone
			back := f.request("rsp-k", time.Hour, servers(0, 19)...)       // re-sent: riders, all of them
			cl := f.take()
			if cl.op != opRemove || len(cl.servers) != 20 {
				t.Fatalf("call %s of %d servers, want the removal of 20..29 with 10 riders in its room", cl.op, len(cl.servers))
			}
			f.s.complete(cl, weightsListed(100))
			cl = f.take()
			if cl.op != opCheck || len(cl.servers) != 9 {
				t.Fatalf("call %s of %d servers, want one check of the 9 riders left", cl.op, len(cl.servers))
			}
			if o := f.outcomes()[back.req.RequestID]; o != nil {
				t.Fatalf("the re-sent request settled before its check: %+v", o)
			}
			f.s.complete(cl, weightsListed(100, server(15))) // server 15 was added back since
			cl = f.take()
			if cl.op != opRemove || fmt.Sprint(cl.servers) != fmt.Sprint([]messages.BackendServer{server(15)}) {
				t.Fatalf("after the check: %s of %v, want the removal of server 15", cl.op, cl.servers)
			}
			f.s.complete(cl, weightsListed(100))
			if o := f.outcomes()[back.req.RequestID]; o == nil || o.Status != messages.StatusCompleted || o.Attempts != 3 {
				t.Errorf("the re-sent request: %+v, want completed after the check and the removal", o)
			}
		}},
		{"riders never wait for a spent write quota: a read checks them", func(f *schedFixture) {
			f.s.cfg.linger, f.s.cfg.maxLinger = 0, time.Second
			f.s.cfg.quotas = map[string]Quota{ActionRemove: {Calls: 1, Window: time.Minute}}
			f.request("rsp-q", time.Hour, servers(0, 3)...)
			f.s.complete(f.take(), weightsListed(100, servers(3, 6)...)) // the window's one removal
			rider := f.request("rsp-q", time.Hour, server(0))
			f.request("rsp-q", time.Hour, server(4)) // a removal, waiting for the next window
			cl := f.take()
			if cl.op != opCheck || fmt.Sprint(cl.servers) != fmt.Sprint([]messages.BackendServer{server(0)}) {
				t.Fatalf("call %s of %v, want a check of the rider while the remove window is spent", cl.op, cl.servers)
			}
			f.s.complete(cl, weightsListed(100, servers(3, 6)...))
			if o := f.outcomes()[rider.req.RequestID]; o == nil || o.Status != messages.StatusCompleted {
				t.Errorf("rider: %+v, want completed by the read", o)
			}
		}},
		{"a rider is checked before a restore that came after it is added", func(f *schedFixture) {
			f.s.cfg.linger, f.s.cfg.maxLinger = 0, time.Second
			f.request("rsp-o", time.Hour, server(0))
			f.s.complete(f.take(), weightsListed(100, server(1)))
			rider := f.request("rsp-o", time.Hour, server(0))
			meta := &jetstream.MsgMetadata{Sequence: jetstream.SequencePair{Stream: 50}, Timestamp: f.clock.Now()}
			restore := newRequest(delivery{}, meta, messages.DrainRequest{Version: messages.Version2, RequestID: "restore", RegionID: "cn-hangzhou",
				VServerGroupID: "rsp-o", Action: messages.ActionRestore, BackendServers: []messages.BackendServer{server(0)}}, time.Hour, 0, f.clock.Now())
			restore.groups = map[groupKey]*GroupInfo{{"cn-hangzhou", "rsp-o"}: {Servers: []WeightedServer{{server(1), 100}}}}
			f.ledger.hold(restore)
			f.s.add(restore)
			if cl := f.take(); cl.op != opCheck {
				t.Fatalf("first call %s, want the rider's check before the restore", cl.op)
			} else {
				f.s.complete(cl, weightsListed(100, server(1)))
			}
			if o := f.outcomes()[rider.req.RequestID]; o == nil || o.Status != messages.StatusCompleted {
				t.Fatalf("rider: %+v, want completed", o)
			}
			if cl := f.take(); cl.op != opAdd {
				t.Fatalf("then %s, want the restore's add", cl.op)
			}
		}},
		{"a read refused makes its riders removals, not a bisection", func(f *schedFixture) {
			f.s.cfg.linger, f.s.cfg.maxLinger = 0, time.Second
			f.request("rsp-p", time.Hour, servers(0, 4)...)
			f.s.complete(f.take(), weightsListed(100, server(9)))
			f.request("rsp-p", time.Hour, servers(0, 4)...) // four riders
			cl := f.take()
			if cl.op != opCheck || len(cl.servers) != 4 {
				t.Fatalf("call %s of %d, want one check of the 4 riders", cl.op, len(cl.servers))
			}
			f.s.complete(cl, callResult{err: errBadServer, class: retry.Permanent, requestID: "api-bad"})
			if cl = f.take(); cl.op != opRemove || len(cl.servers) != 4 {
				t.Fatalf("then %s of %d, want the removal of all 4", cl.op, len(cl.servers))
			}
		}},
		{"one group that keeps failing beside healthy ones backs off after two quick retries", func(f *schedFixture) {
			f.s.cfg.linger = 0
			f.request("rsp-sick", time.Hour, server(0))
			for i := range 3 {
				f.request("rsp-well", time.Hour, servers(10*i+1, 10*i+4)...) // fuller: goes first
				f.s.complete(f.take(), ok("api-ok"))                         // the region's calls succeed
				f.s.complete(f.take(), serviceThrottled())                   // but rsp-sick's do not
				f.clock.Advance(0)
			}
			f.expectState("rsp-sick", groupBackingOff)
			if n := testutil.ToFloat64(f.s.m.quickRetries); n != 2 {
				t.Errorf("%v quick retries, want 2", n)
			}
		}},
		{"the service's throttling amid successes is noise: the batch is ready again at once; a run of it backs off", func(f *schedFixture) {
			f.s.cfg.linger = 0
			f.request("rsp-n", time.Hour, server(0))
			f.request("rsp-m", time.Hour, server(1))
			f.s.complete(f.take(), ok("api-ok")) // the region's calls succeed
			cl := f.take()
			f.s.complete(cl, serviceThrottled())
			f.clock.Advance(0)
			f.expectState(cl.g.key.id, groupReady)
			f.s.complete(f.take(), serviceThrottled())
			f.clock.Advance(0)
			f.expectState(cl.g.key.id, groupReady)
			f.s.complete(f.take(), serviceThrottled()) // the third in a row: no longer noise
			f.clock.Advance(0)
			f.expectState(cl.g.key.id, groupBackingOff)
			if n := testutil.ToFloat64(f.s.m.quickRetries); n != 2 {
				t.Errorf("%v quick retries, want 2", n)
			}
		}},
		{"a deadline while backing off fails the request on time and retires the group", func(f *schedFixture) {
			f.s.cfg.linger = 0
			f.s.cfg.policy = retry.Policy{Initial: time.Minute, Max: time.Minute, Multiplier: 1, Jitter: 0.001}
			f.request("rsp-d", 10*time.Second, server(0))
			f.s.complete(f.take(), throttled())
			f.expectState("rsp-d", groupBackingOff)
			f.clock.Advance(10 * time.Second)
			o := f.outcomes()["r1"]
			if o == nil || o.Status != messages.StatusFailed || o.Error.Code != messages.CodeDeadlineExceeded {
				t.Fatalf("outcome %+v, want failed DeadlineExceeded", o)
			}
			if !o.FinishedAt.Equal(f.clock.Now()) {
				t.Errorf("failed at %s, want at the deadline %s", o.FinishedAt, f.clock.Now())
			}
			f.expectState("rsp-d", groupIdle)
		}},
		{"a deadline already past fails at once", func(f *schedFixture) {
			f.request("rsp-d", -time.Second, server(0))
			if o := f.outcomes()["r1"]; o == nil || o.Error.Code != messages.CodeDeadlineExceeded {
				t.Fatalf("outcome %+v, want DeadlineExceeded", o)
			}
			f.expectState("rsp-d", groupIdle)
		}},
		{"a deadline while queued fails the request wherever it waits", func(f *schedFixture) {
			f.s.cfg.linger = 0
			f.request("rsp-e", time.Hour, server(0))
			cl := f.take()                               // a long call is out
			f.request("rsp-e", 2*time.Second, server(1)) // queued behind it
			f.clock.Advance(2 * time.Second)
			if o := f.outcomes()["r2"]; o == nil || o.Error.Code != messages.CodeDeadlineExceeded {
				t.Fatalf("queued request: outcome %+v, want DeadlineExceeded at its deadline", o)
			}
			f.s.complete(cl, ok("api-1"))
			if cl := f.take(); cl != nil { // the expired request's server is not sent
				t.Fatalf("call made for an expired request: %v", cl.servers)
			}
			f.expectState("rsp-e", groupIdle)
		}},
		{"a deadline during a call waits for the call's answer", func(f *schedFixture) {
			f.s.cfg.linger = 0
			f.request("rsp-e", time.Second, server(0))
			cl := f.take()
			f.clock.Advance(2 * time.Second)
			if len(f.outcomes()) != 0 {
				t.Fatal("request decided while its call was out")
			}
			f.s.complete(cl, ok("api-1"))
			if o := f.outcomes()["r1"]; o == nil || o.Status != messages.StatusCompleted {
				t.Fatalf("outcome %+v, want completed: the call removed its server", o)
			}
		}},
		{"flush sends lingering groups at once", func(f *schedFixture) {
			f.busy()
			f.request("rsp-f", time.Hour, server(0))
			f.expectState("rsp-f", groupLingering)
			f.s.startFlush()
			f.expectState("rsp-f", groupReady)
			f.request("rsp-g", time.Hour, server(1))
			f.expectState("rsp-g", groupReady) // no linger while flushing
		}},
		{"release empties every group but keeps a call's own", func(f *schedFixture) {
			f.busy()
			f.request("rsp-h", time.Hour, server(0)) // lingering
			f.s.cfg.linger = 0
			f.request("rsp-i", time.Hour, server(1))
			cl := f.take() // rsp-i calling
			f.request("rsp-i", time.Hour, server(2))
			f.request("rsp-j", time.Hour, server(3))
			f.s.complete(f.take(), throttled()) // rsp-j backing off
			if left := f.ledger.release(); len(left) != 4 {
				t.Fatalf("ledger handed back %d deliveries, want 4", len(left))
			}
			f.s.release()
			f.expectState("rsp-h", groupIdle)
			f.expectState("rsp-j", groupIdle)
			f.expectState("rsp-i", groupCalling)
			if n := f.clock.pending(); n != 0 {
				t.Errorf("%d timers armed after release", n)
			}
			f.s.complete(cl, ok("api-1"))
			f.expectState("rsp-i", groupIdle)
			if got := f.outcomes(); len(got) != 0 {
				t.Errorf("handed-back requests reported: %v", got)
			}
		}},
		{"a group popped after release is not called", func(f *schedFixture) {
			f.s.cfg.linger = 0
			f.request("rsp-k", time.Hour, server(0))
			f.ledger.release()
			f.s.release()
			if cl := f.take(); cl != nil {
				t.Fatalf("released group made a call of %v", cl.servers)
			}
		}},
		{"credentials failure ends the call without deciding", func(f *schedFixture) {
			f.s.cfg.linger = 0
			r := f.request("rsp-l", time.Hour, server(0))
			f.s.complete(f.take(), callResult{err: errors.New("InvalidAccessKeyId.NotFound"), class: retry.Credentials})
			if r.isDecided() {
				t.Fatal("request decided by a credentials failure")
			}
			if r.attempts != 1 {
				t.Errorf("attempts %d, want 1", r.attempts)
			}
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tc.run(newSchedFixture(t, testLinger))
		})
	}
}

func BenchmarkSchedulerAddTake(b *testing.B) {
	clock := newFakeClock()
	m := newMetrics(nil)
	s := newScheduler(schedulerConfig{maxBatch: 20, holdLimit: 1000, policy: retry.DefaultPolicy(),
		quotas: map[string]Quota{ActionRemove: {Calls: 1 << 30, Window: time.Minute}}},
		clock, func() int { return 0 }, func() bool { return false }, func([]report) {}, m)
	ctx := context.Background()
	const groups = 1000
	reqs := make([]*request, b.N)
	for i := range reqs {
		reqs[i] = testRequest(uint64(i+1), fmt.Sprintf("rsp-%04d", i%groups), clock.Now(), time.Hour, server(i))
	}
	b.ReportAllocs()
	b.ResetTimer()
	for i, r := range reqs {
		s.add(r)
		if i%groups == groups-1 || i == len(reqs)-1 {
			for s.readyLen() > 0 {
				if cl := s.take(s.pop(ctx)); cl != nil {
					s.complete(cl, callResult{requestID: "x"})
				}
			}
		}
	}
}
