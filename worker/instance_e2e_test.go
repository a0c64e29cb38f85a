package worker

import (
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/slbdrain/slbdrain/internal/slbsim"
	"github.com/slbdrain/slbdrain/messages"
)

func instanceReq(id string, servers ...messages.BackendServer) messages.DrainRequest {
	r := reqV2(id, "", servers...)
	r.RegionID = testRegion
	return r
}

func instance(id string) messages.BackendServer {
	return messages.BackendServer{ServerID: id, Type: "ecs"}
}

// groupsOfEvent is what an event's groups say was done: group → server:port.
func groupsOfEvent(o messages.Outcome) map[string][]string {
	out := map[string][]string{}
	for _, g := range o.Groups {
		for _, s := range g.BackendServers {
			out[g.VServerGroupID] = append(out[g.VServerGroupID], fmt.Sprintf("%s:%d", s.ServerID, s.Port))
		}
		slices.Sort(out[g.VServerGroupID])
	}
	return out
}

func holds(t *testing.T, sim *slbsim.Sim, group, server string, port int) bool {
	t.Helper()
	list, _ := sim.Backends(testRegion, group)
	return slices.ContainsFunc(list, func(b slbsim.Backend) bool { return b.ServerID == server && b.Port == port })
}

// An instance in several groups of two load balancers, on several ports,
// is removed from all of them and nothing else; port narrows; an instance
// no group holds completes with empty groups.
func TestInstanceScopeDrainsEveryGroupThatHoldsIt(t *testing.T) {
	h := newHarness(t, slbsim.Config{})
	h.sim.CreateGroupOn(testRegion, "lb-one", "rsp-web", []slbsim.Backend{{ServerID: "i-x", Port: 80}, {ServerID: "i-x", Port: 8080}, {ServerID: "i-y", Port: 80}})
	h.sim.CreateGroupOn(testRegion, "lb-one", "rsp-api", []slbsim.Backend{{ServerID: "i-x", Port: 9000}, {ServerID: "i-y", Port: 9000}})
	h.sim.CreateGroupOn(testRegion, "lb-two", "rsp-admin", []slbsim.Backend{{ServerID: "i-x", Port: 443}, {ServerID: "i-z", Port: 443}})
	h.sim.CreateGroupOn(testRegion, "lb-two", "rsp-other", []slbsim.Backend{{ServerID: "i-y", Port: 443}, {ServerID: "i-z", Port: 443}})
	h.startWorker(testConfig())

	h.publish(instanceReq("inst-x", instance("i-x")))
	o := h.waitOutcomes(20*time.Second, "inst-x")["inst-x"]
	if o.Status != messages.StatusCompleted || o.VServerGroupID != "" {
		t.Fatalf("outcome %+v, want completed in instance scope", o)
	}
	want := map[string][]string{"rsp-web": {"i-x:80", "i-x:8080"}, "rsp-api": {"i-x:9000"}, "rsp-admin": {"i-x:443"}}
	if got := groupsOfEvent(o); fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("event groups %v, want %v", got, want)
	}
	for _, g := range o.Groups {
		if g.LoadBalancerID == "" || g.RemovedAt.IsZero() {
			t.Errorf("group %+v: want its load balancer and removed_at", g)
		}
	}
	for _, c := range []struct {
		group, server string
		port          int
		held          bool
	}{{"rsp-web", "i-x", 80, false}, {"rsp-web", "i-x", 8080, false}, {"rsp-api", "i-x", 9000, false}, {"rsp-admin", "i-x", 443, false},
		{"rsp-web", "i-y", 80, true}, {"rsp-api", "i-y", 9000, true}, {"rsp-other", "i-y", 443, true}, {"rsp-admin", "i-z", 443, true}} {
		if got := holds(t, h.sim, c.group, c.server, c.port); got != c.held {
			t.Errorf("%s holds %s:%d: %v, want %v", c.group, c.server, c.port, got, c.held)
		}
	}

	narrow := instance("i-y")
	narrow.Port = 9000
	h.publish(instanceReq("inst-y-9000", narrow))
	h.publish(instanceReq("inst-none", instance("i-nowhere")))
	outs := h.waitOutcomes(20*time.Second, "inst-y-9000", "inst-none")
	if got := groupsOfEvent(outs["inst-y-9000"]); fmt.Sprint(got) != fmt.Sprint(map[string][]string{"rsp-api": {"i-y:9000"}}) {
		t.Errorf("port 9000: groups %v, want rsp-api i-y:9000 only", got)
	}
	if !holds(t, h.sim, "rsp-web", "i-y", 80) {
		t.Error("port 9000 drained i-y:80 too")
	}
	if o := outs["inst-none"]; o.Status != messages.StatusCompleted || o.Groups == nil || len(o.Groups) != 0 {
		t.Errorf("instance in no group: %+v, want completed with empty groups", o)
	}
	if st := h.sim.Stats(); st.Overlaps != 0 {
		t.Errorf("%d overlapping writes", st.Overlaps)
	}
}

// A storm of single-instance requests behind one load balancer with two
// groups is served with full batches per group; the reads of the load
// balancer's groups are cached.
func TestInstanceStormCoalesces(t *testing.T) {
	h := newHarness(t, slbsim.Config{Latency: 5 * time.Millisecond})
	var web, api []slbsim.Backend
	var reqs []messages.DrainRequest
	var ids []string
	for i := range 40 {
		id := fmt.Sprintf("i-storm-%02d", i)
		web = append(web, slbsim.Backend{ServerID: id, Port: 80})
		api = append(api, slbsim.Backend{ServerID: id, Port: 9000})
		if i < 20 {
			reqs = append(reqs, instanceReq("storm-"+id, instance(id)))
			ids = append(ids, "storm-"+id)
		}
	}
	h.sim.CreateGroupOn(testRegion, "lb-storm", "rsp-storm-web", web)
	h.sim.CreateGroupOn(testRegion, "lb-storm", "rsp-storm-api", api)
	h.ensureStreams()
	h.publishAsync(reqs)
	cfg := testConfig()
	cfg.Linger = 20 * time.Millisecond
	h.startWorker(cfg)
	assertAllCompleted(t, h.waitOutcomes(30*time.Second, ids...))
	removes := len(callsOf(h.sim, ActionRemove, "rsp-storm-web")) + len(callsOf(h.sim, ActionRemove, "rsp-storm-api"))
	lists := 0
	for _, c := range h.sim.Calls() {
		if c.Action == ActionListGroups {
			lists++
		}
	}
	t.Logf("20 instances in 2 groups: %d remove calls (ideal 2), %d DescribeVServerGroups calls", removes, lists)
	if removes > 4 {
		t.Errorf("%d remove calls for 20 instances in 2 groups, want about 2 (at most 4)", removes)
	}
	if lists != 1 {
		t.Errorf("%d DescribeVServerGroups calls for one load balancer, want 1 (cached, one read at a time)", lists)
	}
}

// A dry run in instance scope lists every group and port it found, with
// weights, and makes no write call; a graceful instance drain goes through
// weight 0 in every group.
func TestInstanceScopeDryRunAndGraceful(t *testing.T) {
	h := newHarness(t, slbsim.Config{})
	h.sim.CreateGroupOn(testRegion, "lb-g", "rsp-g1", []slbsim.Backend{{ServerID: "i-g", Port: 80, Weight: 30}, {ServerID: "i-keep", Port: 80}})
	h.sim.CreateGroupOn(testRegion, "lb-g", "rsp-g2", []slbsim.Backend{{ServerID: "i-g", Port: 81, Weight: 70}, {ServerID: "i-keep", Port: 81}})
	h.startWorker(testConfig())
	dry := instanceReq("inst-dry", instance("i-g"))
	dry.DryRun = true
	h.publish(dry)
	o := h.waitOutcomes(20*time.Second, "inst-dry")["inst-dry"]
	if o.Status != messages.StatusPlanned || len(o.Groups) != 2 {
		t.Fatalf("dry run %+v, want planned with both groups", o)
	}
	if n := writeCalls(h.sim.Calls()); n != 0 {
		t.Fatalf("%d write calls for a dry run", n)
	}
	g := gracefulReq("inst-graceful", "", 200*time.Millisecond, instance("i-g"))
	g.RegionID = testRegion
	h.publish(g)
	o = h.waitOutcomes(20*time.Second, "inst-graceful")["inst-graceful"]
	if o.Status != messages.StatusCompleted || len(o.Groups) != 2 {
		t.Fatalf("graceful %+v, want completed in both groups", o)
	}
	weights := map[string]int{}
	for _, g := range o.Groups {
		if g.WeightZeroAt.IsZero() || g.RemovedAt.Before(g.WeightZeroAt.Add(200*time.Millisecond)) {
			t.Errorf("group %+v: want weight_zero_at and removed_at after the wait", g)
		}
		w, _ := g.BackendServers[0].Weight.Get()
		weights[g.VServerGroupID] = w
	}
	if weights["rsp-g1"] != 30 || weights["rsp-g2"] != 70 {
		t.Errorf("weights in the event %v, want rsp-g1 30 and rsp-g2 70", weights)
	}
	if n := len(callsOf(h.sim, ActionSetAttribute, "rsp-g1")) + len(callsOf(h.sim, ActionSetAttribute, "rsp-g2")); n != 2 {
		t.Errorf("%d weight calls, want one per group", n)
	}
}

// Members that change between the resolution and the removal, behind the
// worker's back, are handled by the API's answers: a port of the instance
// added to a group meanwhile is found in the removal's answer and removed
// too; one removed by someone else meanwhile is simply gone.
func TestInstanceMembersChangingBehindTheWorkersBack(t *testing.T) {
	h := newHarness(t, slbsim.Config{})
	h.sim.CreateGroupOn(testRegion, "lb-c", "rsp-c1", []slbsim.Backend{{ServerID: "i-c", Port: 80, Weight: 40}, {ServerID: "i-stay", Port: 80}})
	h.sim.CreateGroupOn(testRegion, "lb-c", "rsp-c2", []slbsim.Backend{{ServerID: "i-c", Port: 81}, {ServerID: "i-stay", Port: 81}})
	h.startWorker(testConfig())
	g := gracefulReq("inst-changing", "", 2*time.Second, instance("i-c"))
	g.RegionID = testRegion
	h.publish(g)
	waitUntil(t, 10*time.Second, "both weight calls", func() bool {
		return len(callsOf(h.sim, ActionSetAttribute, "rsp-c1"))+len(callsOf(h.sim, ActionSetAttribute, "rsp-c2")) == 2
	})
	// During the wait: another tool adds i-c on port 8080 of rsp-c1 and
	// takes i-c:81 out of rsp-c2.
	if err := h.sim.AddBackends(testRegion, "rsp-c1", slbsim.Backend{ServerID: "i-c", Port: 8080, Weight: 100}); err != nil {
		t.Fatal(err)
	}
	if err := h.sim.RemoveBackends(testRegion, "rsp-c2", slbsim.Backend{ServerID: "i-c", Port: 81}); err != nil {
		t.Fatal(err)
	}
	o := h.waitOutcomes(20*time.Second, "inst-changing")["inst-changing"]
	if o.Status != messages.StatusCompleted {
		t.Fatalf("outcome %+v, want completed", o)
	}
	want := map[string][]string{"rsp-c1": {"i-c:80", "i-c:8080"}, "rsp-c2": {"i-c:81"}}
	if got := groupsOfEvent(o); fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("event groups %v, want %v", got, want)
	}
	for _, port := range []int{80, 8080} {
		if holds(t, h.sim, "rsp-c1", "i-c", port) {
			t.Errorf("rsp-c1 still holds i-c:%d", port)
		}
	}
	if !holds(t, h.sim, "rsp-c1", "i-stay", 80) || !holds(t, h.sim, "rsp-c2", "i-stay", 81) {
		t.Error("a server nobody asked for was drained")
	}
	if n := len(callsOf(h.sim, ActionRemove, "rsp-c1")); n != 2 {
		t.Errorf("%d remove calls on rsp-c1, want 2: the resolved port, then the one its answer showed", n)
	}
}
