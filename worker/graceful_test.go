package worker

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/slbdrain/slbdrain/messages"
)

// gracefulRequest holds a graceful drain of servers on group, whose group
// the API listed with every server at weight 100, and adds it.
func (f *schedFixture) gracefulRequest(group string, wait, deadline time.Duration, servers ...messages.BackendServer) *request {
	f.seq++
	now := f.clock.Now()
	meta := &jetstream.MsgMetadata{Sequence: jetstream.SequencePair{Stream: f.seq}, Timestamp: now}
	r := newRequest(delivery{}, meta, messages.DrainRequest{Version: messages.Version2, RequestID: "g" + time.Duration(f.seq).String(),
		RegionID: "cn-hangzhou", VServerGroupID: group, BackendServers: servers, Mode: messages.ModeGraceful, DrainTimeout: &wait}, 0, 0, now)
	r.deadline = now.Add(deadline)
	info := &GroupInfo{LoadBalancerID: "lb-" + group}
	for _, s := range servers {
		info.Servers = append(info.Servers, WeightedServer{s, 100})
	}
	r.groups = map[groupKey]*GroupInfo{{"cn-hangzhou", group}: info}
	f.ledger.hold(r)
	f.s.add(r)
	return r
}

// weightsListed is the API's list of a group's servers after a weight call that
// set every one of servers to weight w.
func weightsListed(w int, servers ...messages.BackendServer) callResult {
	res := callResult{requestID: "api-set"}
	for _, s := range servers {
		res.remaining = append(res.remaining, WeightedServer{s, w})
	}
	return res
}

// A graceful drain: weight call (weight 0) → waiting until drain_timeout
// after it → removal; two drains published together share both calls.
func TestSchedulerGracefulDrain(t *testing.T) {
	f := newSchedFixture(t, 0)
	a := f.gracefulRequest("rsp-g", time.Second, time.Minute, server(1), server(2))
	b := f.gracefulRequest("rsp-g", time.Second, time.Minute, server(3))
	cl := f.take()
	if cl.op != opWeight || len(cl.servers) != 3 {
		t.Fatalf("first call: %s of %d servers, want one weight call of all 3", cl.op, len(cl.servers))
	}
	for _, sl := range cl.slots {
		if sl.weight != 0 {
			t.Fatalf("weight call sets %s to %d, want 0", sl.server.ServerID, sl.weight)
		}
	}
	zeroAt := f.clock.Now()
	notes := f.s.complete(cl, weightsListed(0, server(1), server(2), server(3)))
	if len(notes) != 2 || notes[0].progress.Phase != messages.PhaseWaiting || !notes[0].progress.Until.Equal(zeroAt.Add(time.Second)) || notes[0].wait == nil {
		t.Fatalf("notes %+v, want both waiting until %s, with a wait record", notes, zeroAt.Add(time.Second))
	}
	if n := f.s.readyLen(); n != 0 {
		t.Fatalf("%d groups ready during the wait, want none", n)
	}
	f.clock.Advance(999 * time.Millisecond)
	if n := f.s.readyLen(); n != 0 {
		t.Fatal("removal ready before the wait ended")
	}
	f.clock.Advance(time.Millisecond)
	cl = f.take()
	if cl.op != opRemove || len(cl.servers) != 3 || len(cl.reqs) != 2 {
		t.Fatalf("after the wait: %s of %d servers for %d requests, want one remove call of 3 for both", cl.op, len(cl.servers), len(cl.reqs))
	}
	f.s.complete(cl, ok("api-remove"))
	outs := f.outcomes()
	for _, r := range []*request{a, b} {
		o := outs[r.req.RequestID]
		if o == nil || o.Status != messages.StatusCompleted || len(o.Groups) != 1 || !o.Groups[0].WeightZeroAt.Equal(zeroAt) {
			t.Fatalf("%s: %+v, want completed with weight_zero_at %s", r.req.RequestID, o, zeroAt)
		}
		if w, _ := o.Groups[0].BackendServers[0].Weight.Get(); w != 100 {
			t.Errorf("%s: event weight %d, want the 100 before the drain", r.req.RequestID, w)
		}
	}
}

// A weight call whose answer still lists a server at its old weight is
// retried; a deadline inside the wait fails the request then, and says so.
func TestSchedulerGracefulRetryAndDeadlineInWait(t *testing.T) {
	f := newSchedFixture(t, 0)
	r := f.gracefulRequest("rsp-w", time.Hour, 10*time.Second, server(1))
	cl := f.take()
	f.s.complete(cl, weightsListed(100, server(1)))
	f.expectState("rsp-w", groupBackingOff)
	f.clock.Advance(1100 * time.Millisecond) // the backoff: a second, jitter 0.1%
	cl = f.take()
	if cl.op != opWeight {
		t.Fatalf("retry is a %s call, want the weight call again", cl.op)
	}
	f.s.complete(cl, weightsListed(0, server(1)))
	if r.phase != messages.PhaseWaiting {
		t.Fatalf("phase %q, want waiting", r.phase)
	}
	f.clock.Advance(8900 * time.Millisecond) // the deadline
	o := f.outcomes()[r.req.RequestID]
	if o == nil || o.Status != messages.StatusFailed || o.Error.Code != messages.CodeDeadlineExceeded {
		t.Fatalf("outcome %+v, want failed DeadlineExceeded at the deadline", o)
	}
	if n := f.s.readyLen(); n != 0 {
		t.Error("a failed drain's removal became ready")
	}
}

// Servers at weight 0 already (a redelivery after the weight call) skip it:
// the wait starts at once, from the remembered weight_zero_at if known.
func TestSchedulerGracefulWeightAlreadyZero(t *testing.T) {
	f := newSchedFixture(t, 0)
	f.seq++
	now := f.clock.Now()
	wait := time.Second
	meta := &jetstream.MsgMetadata{Sequence: jetstream.SequencePair{Stream: f.seq}, Timestamp: now}
	r := newRequest(delivery{}, meta, messages.DrainRequest{Version: messages.Version2, RequestID: "g-again", RegionID: "cn-hangzhou",
		VServerGroupID: "rsp-z", BackendServers: []messages.BackendServer{server(1)}, Mode: messages.ModeGraceful, DrainTimeout: &wait}, time.Minute, 0, now)
	r.groups = map[groupKey]*GroupInfo{{"cn-hangzhou", "rsp-z"}: {Servers: []WeightedServer{{server(1), 0}}}}
	r.weightZeroAt = now.Add(-400 * time.Millisecond) // from the wait record
	r.priorWeights = map[partKey]int{{groupKey{"cn-hangzhou", "rsp-z"}, serverPort{server(1).ServerID, 80}}: 70}
	f.ledger.hold(r)
	f.s.add(r)
	if n := f.s.readyLen(); n != 0 || r.phase != messages.PhaseWaiting || !r.until.Equal(now.Add(600*time.Millisecond)) {
		t.Fatalf("ready %d, phase %q until %s; want no weight call and a wait until %s", n, r.phase, r.until, now.Add(600*time.Millisecond))
	}
	f.clock.Advance(600 * time.Millisecond)
	cl := f.take()
	if cl.op != opRemove {
		t.Fatalf("%s call, want the removal", cl.op)
	}
	f.s.complete(cl, ok("api-remove"))
	o := f.outcomes()["g-again"]
	if w, _ := o.Groups[0].BackendServers[0].Weight.Get(); o.Status != messages.StatusCompleted || w != 70 {
		t.Fatalf("outcome %+v (weight %d), want completed with the remembered weight 70", o, w)
	}
}

// A restore adds the servers the group does not hold and sets the weight
// of those it holds at another weight; one at its weight needs no call.
func TestSchedulerRestore(t *testing.T) {
	f := newSchedFixture(t, 0)
	f.seq++
	now := f.clock.Now()
	meta := &jetstream.MsgMetadata{Sequence: jetstream.SequencePair{Stream: f.seq}, Timestamp: now}
	in := []messages.BackendServer{server(1), server(2), server(3)}
	in[1].Weight = messages.WeightOf(50)
	in[2].Weight = messages.WeightOf(30)
	r := newRequest(delivery{}, meta, messages.DrainRequest{Version: messages.Version2, RequestID: "restore", RegionID: "cn-hangzhou",
		VServerGroupID: "rsp-r", BackendServers: in, Action: messages.ActionRestore}, time.Minute, 0, now)
	r.groups = map[groupKey]*GroupInfo{{"cn-hangzhou", "rsp-r"}: {Servers: []WeightedServer{{server(2), 0}, {server(3), 30}}}}
	r.restoreWeights = map[serverPort]int{{server(1).ServerID, 80}: 40}
	f.ledger.hold(r)
	f.s.add(r)
	cl := f.take()
	if cl.op != opWeight || len(cl.slots) != 1 || cl.slots[0].server.ServerID != server(2).ServerID || cl.slots[0].weight != 50 {
		t.Fatalf("first call %s %+v, want a weight call setting server 2 to 50", cl.op, cl.slots)
	}
	f.s.complete(cl, weightsListed(50, server(2)))
	cl = f.take()
	if cl.op != opAdd || len(cl.slots) != 1 || cl.slots[0].server.ServerID != server(1).ServerID || cl.slots[0].weight != 40 {
		t.Fatalf("second call %s %+v, want an add call of server 1 at its drained weight 40", cl.op, cl.slots)
	}
	f.s.complete(cl, callResult{requestID: "api-add", remaining: []WeightedServer{{server(1), 40}, {server(2), 50}, {server(3), 30}}})
	if o := f.outcomes()["restore"]; o == nil || o.Status != messages.StatusCompleted || o.Action != messages.ActionRestore {
		t.Fatalf("outcome %+v, want a completed restore", o)
	}
}

// Each group of an event has its own removed_at: when the API's answer
// showed that group's servers gone. A failed request names the groups it
// did empty, and only those.
func TestOutcomeGroupsRemovedAtApart(t *testing.T) {
	f := newSchedFixture(t, 0)
	f.s.cfg.linger = 0
	now := f.clock.Now()
	meta := &jetstream.MsgMetadata{Sequence: jetstream.SequencePair{Stream: 1}, Timestamp: now}
	r := newRequest(delivery{}, meta, messages.DrainRequest{Version: messages.Version2, RequestID: "inst", RegionID: "cn-hangzhou",
		BackendServers: []messages.BackendServer{{ServerID: server(1).ServerID, Type: "ecs"}}}, time.Minute, 0, now)
	a, b := groupKey{"cn-hangzhou", "rsp-a"}, groupKey{"cn-hangzhou", "rsp-b"}
	r.setParts([]part{{a, server(1)}, {b, server(1)}})
	member := []WeightedServer{{server(1), 100}}
	r.groups = map[groupKey]*GroupInfo{a: {LoadBalancerID: "lb-1", Servers: member}, b: {LoadBalancerID: "lb-1", Servers: member}}
	f.ledger.hold(r)
	f.s.add(r)
	first := f.take()
	f.s.complete(first, ok("api-1"))
	emptiedAt := f.clock.Now()
	f.clock.Advance(time.Second)
	f.s.complete(f.take(), groupGone())
	o := f.outcomes()["inst"]
	if o == nil || o.Status != messages.StatusFailed || len(o.Groups) != 2 {
		t.Fatalf("outcome %+v, want failed with both groups", o)
	}
	for _, g := range o.Groups {
		switch emptied := g.VServerGroupID == first.g.key.id; {
		case emptied && !g.RemovedAt.Equal(emptiedAt):
			t.Errorf("group %s emptied at %s: removed_at %s", g.VServerGroupID, emptiedAt, g.RemovedAt)
		case !emptied && !g.RemovedAt.IsZero():
			t.Errorf("group %s refused the call: removed_at %s, want none", g.VServerGroupID, g.RemovedAt)
		}
	}
}

// A port of the instance that a weight call's answer lists, and that the
// resolution had not seen, joins the request: its weight goes to 0 too
// before the wait starts, and the event says the weight it had.
func TestSchedulerInstancePortFoundByTheWeightAnswer(t *testing.T) {
	f := newSchedFixture(t, 0)
	f.s.cfg.linger = 0
	now := f.clock.Now()
	wait := time.Second
	meta := &jetstream.MsgMetadata{Sequence: jetstream.SequencePair{Stream: 1}, Timestamp: now}
	r := newRequest(delivery{}, meta, messages.DrainRequest{Version: messages.Version2, RequestID: "inst", RegionID: "cn-hangzhou",
		Mode: messages.ModeGraceful, DrainTimeout: &wait,
		BackendServers: []messages.BackendServer{{ServerID: server(1).ServerID, Type: "ecs"}}}, time.Minute, 0, now)
	key := groupKey{"cn-hangzhou", "rsp-i"}
	r.setParts([]part{{key, server(1)}})
	r.groups = map[groupKey]*GroupInfo{key: {LoadBalancerID: "lb-1", Servers: []WeightedServer{{server(1), 100}}}}
	f.ledger.hold(r)
	f.s.add(r)
	newPort := server(1)
	newPort.Port = 8080
	f.s.complete(f.take(), weightsListed(0, server(1)).with(WeightedServer{newPort, 50}, WeightedServer{server(2), 100}))
	cl := f.take()
	if cl.op != opWeight || len(cl.servers) != 1 || cl.servers[0] != newPort {
		t.Fatalf("next call: %s of %v, want a weight call of %v", cl.op, cl.servers, newPort)
	}
	f.s.complete(cl, weightsListed(0, server(1), newPort))
	f.clock.Advance(wait)
	cl = f.take()
	if cl.op != opRemove || len(cl.servers) != 2 {
		t.Fatalf("after the wait: %s of %v, want the removal of both ports", cl.op, cl.servers)
	}
	f.s.complete(cl, ok("api-remove"))
	o := f.outcomes()["inst"]
	if o == nil || o.Status != messages.StatusCompleted || len(o.Groups) != 1 || len(o.Groups[0].BackendServers) != 2 {
		t.Fatalf("outcome %+v, want completed with both ports", o)
	}
	if w, _ := o.Groups[0].BackendServers[1].Weight.Get(); w != 50 {
		t.Errorf("the port found later: weight %d in the event, want the 50 it had", w)
	}
	if strings.Contains(fmt.Sprint(o.Groups), server(2).ServerID) {
		t.Errorf("groups %+v name a server nobody asked for", o.Groups)
	}
}

// with adds servers to a call's answer.
func (res callResult) with(servers ...WeightedServer) callResult {
	res.remaining = append(res.remaining, servers...)
	return res
}

// An instance-scope request that fails before its groups were found (the
// reads failed) names every instance not removed; once found, an instance
// in no group is removed already.
func TestFailedInstanceRequestBeforeResolution(t *testing.T) {
	now := time.Now()
	meta := &jetstream.MsgMetadata{Sequence: jetstream.SequencePair{Stream: 1}, Timestamp: now}
	r := newRequest(delivery{}, meta, messages.DrainRequest{Version: messages.Version2, RequestID: "inst", RegionID: "cn-hangzhou",
		BackendServers: []messages.BackendServer{{ServerID: "i-a", Type: "ecs"}}}, time.Minute, 0, now)
	failure := &messages.Error{Code: messages.CodeDeadlineExceeded, Message: "reads failed"}
	if o := r.outcome(messages.StatusFailed, failure, now); len(o.NotRemoved) != 1 || len(o.Removed) != 0 {
		t.Errorf("before resolution: removed %v, not removed %v; want i-a not removed", o.Removed, o.NotRemoved)
	}
	r.groups = map[groupKey]*GroupInfo{} // found: no group holds it
	if o := r.outcome(messages.StatusFailed, failure, now); len(o.Removed) != 1 || len(o.NotRemoved) != 0 {
		t.Errorf("after resolution: removed %v, not removed %v; want i-a removed (in no group)", o.Removed, o.NotRemoved)
	}
}
