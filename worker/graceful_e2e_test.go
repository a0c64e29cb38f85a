package worker

import (
	"strings"
	"testing"
	"time"

	"github.com/slbdrain/slbdrain/internal/slbsim"
	"github.com/slbdrain/slbdrain/messages"
)

func gracefulReq(id, group string, timeout time.Duration, servers ...messages.BackendServer) messages.DrainRequest {
	r := reqV2(id, group, servers...)
	r.Mode = messages.ModeGraceful
	r.DrainTimeout = &timeout
	return r
}

// callsOf are the emulator's successful calls of action on group, in order.
func callsOf(sim *slbsim.Sim, action, group string) []slbsim.Call {
	var out []slbsim.Call
	for _, c := range sim.Calls() {
		if c.Action == action && c.GroupID == group && c.Code == "" {
			out = append(out, c)
		}
	}
	return out
}

func weightsIn(t *testing.T, sim *slbsim.Sim, group string) map[string]int {
	t.Helper()
	left, ok := sim.Backends(testRegion, group)
	if !ok {
		t.Fatalf("no group %s", group)
	}
	out := map[string]int{}
	for _, b := range left {
		out[b.ServerID] = b.Weight
	}
	return out
}

// A graceful drain of 45 servers: their weights go to 0 in 3 coalesced
// weight calls, the worker waits drain_timeout, then removes them in 3
// calls, none before its time; the event carries the weights they had,
// weight_zero_at and removed_at.
func TestGracefulDrainOf45Servers(t *testing.T) {
	h := newHarness(t, slbsim.Config{})
	servers := h.seedGroup("rsp-grace", 50)
	h.startWorker(testConfig())
	const wait = 400 * time.Millisecond
	h.publish(gracefulReq("graceful-45", "rsp-grace", wait, servers[:45]...))
	o := h.waitOutcomes(20*time.Second, "graceful-45")["graceful-45"]
	if o.Status != messages.StatusCompleted || o.Mode != messages.ModeGraceful || len(o.Groups) != 1 {
		t.Fatalf("outcome %+v, want completed, mode graceful, one group", o)
	}
	g := o.Groups[0]
	if len(g.BackendServers) != 45 || g.WeightZeroAt.IsZero() || g.RemovedAt.Before(g.WeightZeroAt.Add(wait)) {
		t.Fatalf("group %+v: want 45 servers, weight_zero_at, and removed_at at least %s after it", g, wait)
	}
	for _, s := range g.BackendServers {
		if w, ok := s.Weight.Get(); !ok || w != 100 {
			t.Fatalf("%s: weight %v in the event, want the 100 it had", s.ServerID, s.Weight)
		}
	}
	sets := callsOf(h.sim, ActionSetAttribute, "rsp-grace")
	removes := callsOf(h.sim, ActionRemove, "rsp-grace")
	describes := callsOf(h.sim, ActionDescribe, "rsp-grace")
	t.Logf("graceful drain of 45 servers: %d weight calls, %d remove calls, %d reads", len(sets), len(removes), len(describes))
	if len(sets) != 3 || len(removes) != 3 || len(describes) != 1 {
		t.Errorf("%d weight, %d remove, %d describe calls; want 3, 3 and 1", len(sets), len(removes), len(describes))
	}
	lastSet := sets[len(sets)-1].End
	for _, c := range removes {
		if c.Start.Before(lastSet.Add(wait)) {
			t.Errorf("remove call at %s, before the wait ended (%s after the last weight call at %s)", c.Start, wait, lastSet)
		}
	}
	if st := h.sim.Stats(); st.Overlaps != 0 {
		t.Errorf("%d overlapping write calls", st.Overlaps)
	}
	left := weightsIn(t, h.sim, "rsp-grace")
	if len(left) != 5 {
		t.Errorf("group holds %d servers, want the 5 not drained", len(left))
	}
}

// Two graceful drains of one group published together share the weight
// call and the remove call.
func TestGracefulDrainsShareCalls(t *testing.T) {
	h := newHarness(t, slbsim.Config{})
	servers := h.seedGroup("rsp-share", 6)
	cfg := testConfig()
	cfg.Linger = 500 * time.Millisecond // both arrive before the weight call leaves, even on a loaded machine
	h.startWorker(cfg)
	h.publishAsync([]messages.DrainRequest{
		withRegion(gracefulReq("share-a", "rsp-share", 300*time.Millisecond, servers[0], servers[1])),
		withRegion(gracefulReq("share-b", "rsp-share", 300*time.Millisecond, servers[2], servers[3])),
	})
	assertAllCompleted(t, h.waitOutcomes(20*time.Second, "share-a", "share-b"))
	sets, removes := callsOf(h.sim, ActionSetAttribute, "rsp-share"), callsOf(h.sim, ActionRemove, "rsp-share")
	if len(sets) != 1 || len(removes) != 1 {
		t.Errorf("%d weight calls and %d remove calls for two drains published together, want one of each", len(sets), len(removes))
	}
}

func withRegion(r messages.DrainRequest) messages.DrainRequest {
	r.RegionID = testRegion
	return r
}

// A deadline inside the wait fails the request at the deadline, says so,
// and leaves the servers at weight 0, not removed.
func TestGracefulDeadlineInsideTheWait(t *testing.T) {
	h := newHarness(t, slbsim.Config{})
	servers := h.seedGroup("rsp-late", 3)
	h.startWorker(testConfig())
	r := gracefulReq("graceful-late", "rsp-late", time.Hour, servers[0])
	deadline := time.Now().Add(time.Second)
	r.Deadline = &deadline
	h.publish(r)
	o := h.waitOutcomes(20*time.Second, "graceful-late")["graceful-late"]
	if o.Status != messages.StatusFailed || o.Error.Code != messages.CodeDeadlineExceeded ||
		!strings.Contains(o.Error.Message, "waiting at weight 0") {
		t.Fatalf("outcome %+v, want failed DeadlineExceeded while waiting at weight 0", o)
	}
	if len(o.Groups) != 1 || o.Groups[0].WeightZeroAt.IsZero() || !o.Groups[0].RemovedAt.IsZero() {
		t.Errorf("groups %+v, want weight_zero_at and no removed_at", o.Groups)
	}
	if w, ok := weightsIn(t, h.sim, "rsp-late")[servers[0].ServerID]; !ok || w != 0 {
		t.Errorf("server %s: weight %d (held %v), want held at weight 0", servers[0].ServerID, w, ok)
	}
	if n := len(callsOf(h.sim, ActionRemove, "rsp-late")); n != 0 {
		t.Errorf("%d remove calls, want none", n)
	}
}

// A shutdown during the wait hands the request back; the next worker finds
// the weight at 0 already (no second weight call) and finishes the drain.
func TestGracefulShutdownDuringTheWait(t *testing.T) {
	h := newHarness(t, slbsim.Config{})
	servers := h.seedGroup("rsp-handback", 3)
	cfg := testConfig()
	cfg.ShutdownTimeout = 200 * time.Millisecond
	_, stop, _ := h.startWorker(cfg)
	h.publish(gracefulReq("graceful-handback", "rsp-handback", 2*time.Second, servers[0]))
	waitUntil(t, 10*time.Second, "the weight call", func() bool {
		return len(callsOf(h.sim, ActionSetAttribute, "rsp-handback")) == 1
	})
	if err := stop(); err != nil {
		t.Fatal(err)
	}
	if n := len(callsOf(h.sim, ActionRemove, "rsp-handback")); n != 0 {
		t.Fatalf("%d remove calls before the wait ended", n)
	}
	h.startWorker(cfg)
	o := h.waitOutcomes(30*time.Second, "graceful-handback")["graceful-handback"]
	if o.Status != messages.StatusCompleted {
		t.Fatalf("outcome %+v, want completed", o)
	}
	if n := len(callsOf(h.sim, ActionSetAttribute, "rsp-handback")); n != 1 {
		t.Errorf("%d weight calls, want 1: the redelivery finds the weight at 0", n)
	}
	if n := len(callsOf(h.sim, ActionRemove, "rsp-handback")); n != 1 {
		t.Errorf("%d remove calls, want 1", n)
	}
	assertOneEventEach(t, h, 1)
}

// A restore after a graceful drain puts the servers back with the weights
// they had, taken from the drain's remembered outcome (restore_of).
func TestRestorePutsTheWeightsBack(t *testing.T) {
	h := newHarness(t, slbsim.Config{})
	h.sim.CreateGroup(testRegion, "rsp-back", []slbsim.Backend{
		{ServerID: "i-back-0", Port: 80, Weight: 40}, {ServerID: "i-back-1", Port: 80, Weight: 60}, {ServerID: "i-back-2", Port: 80, Weight: 100}})
	a := messages.BackendServer{ServerID: "i-back-0", Port: 80, Type: "ecs"}
	b := messages.BackendServer{ServerID: "i-back-1", Port: 80, Type: "ecs"}
	h.startWorker(testConfig())
	h.publish(gracefulReq("drain-back", "rsp-back", 0, a, b))
	if o := h.waitOutcomes(20*time.Second, "drain-back")["drain-back"]; o.Status != messages.StatusCompleted {
		t.Fatalf("drain: %+v, want completed", o)
	}
	restore := reqV2("restore-back", "rsp-back", a, b)
	restore.Action, restore.RestoreOf = messages.ActionRestore, "drain-back"
	h.publish(restore)
	o := h.waitOutcomes(20*time.Second, "restore-back")["restore-back"]
	if o.Status != messages.StatusCompleted || o.Action != messages.ActionRestore {
		t.Fatalf("restore: %+v, want completed", o)
	}
	got := weightsIn(t, h.sim, "rsp-back")
	if got["i-back-0"] != 40 || got["i-back-1"] != 60 || len(got) != 3 {
		t.Errorf("weights after restore %v, want i-back-0 40, i-back-1 60 and the third untouched", got)
	}
	if n := len(callsOf(h.sim, ActionAdd, "rsp-back")); n != 1 {
		t.Errorf("%d add calls, want one for both servers", n)
	}

	// A restore of a server the group holds at weight 0 sets its weight;
	// one it holds at the weight named needs no call.
	h.publish(gracefulReq("drain-again", "rsp-back", time.Hour, a))
	waitUntil(t, 10*time.Second, "weight 0", func() bool { return weightsIn(t, h.sim, "rsp-back")["i-back-0"] == 0 })
	reweigh := reqV2("restore-weight", "rsp-back", a, b)
	reweigh.Action = messages.ActionRestore
	reweigh.BackendServers[0].Weight = messages.WeightOf(70)
	reweigh.BackendServers[1].Weight = messages.WeightOf(60)
	h.publish(reweigh)
	if o := h.waitOutcomes(20*time.Second, "restore-weight")["restore-weight"]; o.Status != messages.StatusCompleted {
		t.Fatalf("restore of a weight: %+v, want completed", o)
	}
	if got := weightsIn(t, h.sim, "rsp-back"); got["i-back-0"] != 70 || got["i-back-1"] != 60 {
		t.Errorf("weights %v, want i-back-0 70 and i-back-1 untouched at 60", got)
	}
}

// A graceful drain of a server the group holds at weight 0 (a standby, or
// left so on purpose) reports 0 as its weight before the drain: a restore
// must not send it traffic it never had.
func TestGracefulDrainOfAServerAtWeightZeroReportsZero(t *testing.T) {
	h := newHarness(t, slbsim.Config{})
	servers := h.seedGroup("rsp-zero", 3)
	if err := h.sim.SetWeight(testRegion, "rsp-zero", servers[0].ServerID, servers[0].Port, 0); err != nil {
		t.Fatal(err)
	}
	h.startWorker(testConfig())
	h.publish(gracefulReq("graceful-zero", "rsp-zero", 0, servers[0], servers[1]))
	o := h.waitOutcomes(20*time.Second, "graceful-zero")["graceful-zero"]
	if o.Status != messages.StatusCompleted || len(o.Groups) != 1 {
		t.Fatalf("outcome %+v, want completed", o)
	}
	want := map[string]int{servers[0].ServerID: 0, servers[1].ServerID: messages.DefaultWeight}
	for _, s := range o.Groups[0].BackendServers {
		if w, ok := s.Weight.Get(); !ok || w != want[s.ServerID] {
			t.Errorf("server %s: weight %d (%v) in the event, want %d", s.ServerID, w, ok, want[s.ServerID])
		}
	}
}
