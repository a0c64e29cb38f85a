package worker

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/slbdrain/slbdrain/internal/slbsim"
	"github.com/slbdrain/slbdrain/messages"
)

func reqV2(id, group string, servers ...messages.BackendServer) messages.DrainRequest {
	r := req(id, group, servers...)
	r.Version = messages.Version2
	return r
}

// publishTraced publishes req with a traceparent header.
func (h *harness) publishTraced(req messages.DrainRequest, traceparent string) {
	h.t.Helper()
	msg, err := messages.NewRequestMsg(req)
	if err != nil {
		h.t.Fatal(err)
	}
	msg.Header.Set(messages.TraceParentHeader, traceparent)
	if _, err := h.js.PublishMsg(context.Background(), msg); err != nil {
		h.t.Fatal(err)
	}
}

func writeCalls(calls []slbsim.Call) (n int) {
	for _, c := range calls {
		if !strings.HasPrefix(c.Action, "Describe") {
			n++
		}
	}
	return n
}

// A version-2 drain: a version-2 event with the group, the servers' weights
// before the drain, removed_at and the request's trace; a version-1 request
// beside it keeps its version-1 event.
func TestVersion2DrainCarriesGroupWeightsAndTrace(t *testing.T) {
	h := newHarness(t, slbsim.Config{})
	servers := h.seedGroup("rsp-vtwo", 4)
	h.startWorker(testConfig())
	const trace = "4bf92f3577b34da6a3ce929d0e0e4736"
	h.publishTraced(reqV2("v2-drain", "rsp-vtwo", servers[0], servers[1]), "00-"+trace+"-00f067aa0ba902b7-01")
	h.publish(req("v1-beside", "rsp-vtwo", servers[2]))
	outs := h.waitOutcomes(10*time.Second, "v2-drain", "v1-beside")

	o := outs["v2-drain"]
	if o.Version != 2 || o.Status != messages.StatusCompleted || o.Action != messages.ActionDrain || o.Mode != messages.ModeRemove {
		t.Fatalf("v2 outcome %+v, want a version-2 completed drain, mode remove", o)
	}
	if o.TraceID != trace {
		t.Errorf("trace_id %q, want %s", o.TraceID, trace)
	}
	if len(o.Groups) != 1 || o.Groups[0].VServerGroupID != "rsp-vtwo" || o.Groups[0].LoadBalancerID == "" ||
		len(o.Groups[0].BackendServers) != 2 || o.Groups[0].RemovedAt.IsZero() {
		t.Fatalf("groups %+v, want rsp-vtwo with its load balancer, both servers and removed_at", o.Groups)
	}
	for _, s := range o.Groups[0].BackendServers {
		if w, ok := s.Weight.Get(); !ok || w != 100 {
			t.Errorf("%s: weight %v, want the 100 it had", s.ServerID, s.Weight)
		}
	}
	if v1 := outs["v1-beside"]; v1.Version != 1 || v1.Groups != nil || v1.TraceID != "" {
		t.Errorf("v1 outcome %+v, want version 1 with no version-2 fields", v1)
	}
}

// --min-remaining refuses a drain that would empty a group, counting the
// drains on their way; force lifts it; --allow-group fences groups.
func TestGuardAllowListAndForce(t *testing.T) {
	h := newHarness(t, slbsim.Config{})
	two := h.seedGroup("rsp-two", 2)
	fenced := h.seedGroup("rsp-fenced", 2)
	cfg := testConfig()
	cfg.AllowGroups = []string{"^rsp-two$"}
	h.startWorker(cfg)

	h.publish(reqV2("guard-first", "rsp-two", two[0]))
	if o := h.waitOutcomes(10*time.Second, "guard-first")["guard-first"]; o.Status != messages.StatusCompleted {
		t.Fatalf("first of two: %+v, want completed (one server left)", o)
	}
	h.publish(reqV2("guard-last", "rsp-two", two[1]))
	o := h.waitOutcomes(10*time.Second, "guard-last")["guard-last"]
	if o.Status != messages.StatusFailed || o.Error.Code != messages.CodeGuardRefused ||
		!strings.Contains(o.Error.Message, "rsp-two") || !strings.Contains(o.Error.Message, "--min-remaining 1") {
		t.Fatalf("last server: %+v, want failed GuardRefused naming the group and the rule", o)
	}
	if left, _ := h.sim.Backends(testRegion, "rsp-fenced"); len(left) != 2 {
		t.Errorf("fenced group holds %d servers, want both", len(left))
	}
	if left, _ := h.sim.Backends(testRegion, "rsp-two"); len(left) != 1 {
		t.Fatalf("group holds %d servers after a refused drain, want 1", len(left))
	}
	forced := reqV2("guard-forced", "rsp-two", two[1])
	forced.Force = true
	h.publish(forced)
	if o := h.waitOutcomes(10*time.Second, "guard-forced")["guard-forced"]; o.Status != messages.StatusCompleted {
		t.Fatalf("forced: %+v, want completed", o)
	}
	h.publish(req("fenced", "rsp-fenced", fenced[0]))
	h.publish(reqV2("fenced-v2", "rsp-fenced", fenced[1]))
	for id, o := range h.waitOutcomes(10*time.Second, "fenced", "fenced-v2") {
		if o.Status != messages.StatusFailed || o.Error.Code != messages.CodeNotAllowed {
			t.Errorf("%s: %+v, want failed NotAllowed", id, o)
		}
	}
}

// A dry run reads the group, applies the guard and ends planned, with the
// servers and weights it would touch; the emulator sees no write call.
func TestDryRunMakesNoWriteCall(t *testing.T) {
	h := newHarness(t, slbsim.Config{})
	servers := h.seedGroup("rsp-dry", 3)
	h.startWorker(testConfig())
	dry := reqV2("dry-ok", "rsp-dry", servers[0], servers[1])
	dry.DryRun = true
	h.publish(dry)
	all := reqV2("dry-refused", "rsp-dry", servers...)
	all.DryRun = true
	h.publish(all)
	outs := h.waitOutcomes(10*time.Second, "dry-ok", "dry-refused")
	if o := outs["dry-ok"]; o.Status != messages.StatusPlanned || o.Error != nil || !o.DryRun ||
		len(o.Groups) != 1 || len(o.Groups[0].BackendServers) != 2 || !o.Groups[0].RemovedAt.IsZero() {
		t.Errorf("dry run: %+v, want planned, no error, the group with 2 servers and nothing removed", o)
	}
	if o := outs["dry-refused"]; o.Status != messages.StatusPlanned || o.Error == nil || o.Error.Code != messages.CodeGuardRefused {
		t.Errorf("dry run of every server: %+v, want planned with the guard's refusal", o)
	}
	if n := writeCalls(h.sim.Calls()); n != 0 {
		t.Errorf("%d write calls for dry runs, want none", n)
	}
	if left, _ := h.sim.Backends(testRegion, "rsp-dry"); len(left) != 3 {
		t.Errorf("group holds %d servers after dry runs, want 3", len(left))
	}
}
