package main

import (
	"fmt"
	"slices"
	"strings"
	"testing"

	"github.com/slbdrain/slbdrain/internal/slbsim"
	"github.com/slbdrain/slbdrain/messages"
)

func TestDrainInstanceBadUsage(t *testing.T) {
	url := closedURL(t) // bad usage is found before connecting
	drain := []string{"--nats-url", url, "drain", "--region", testRegion}
	for _, tc := range []struct {
		name string
		args []string
		want string
	}{
		{"instance and group", []string{"--instance", "i-a", "--group", "rsp-a"}, "--instance and --group rsp-a are mutually exclusive"},
		{"instance and server", []string{"--instance", "i-a", "--server", "i-b:80"}, "--instance and --server/--servers-file are mutually exclusive"},
		{"instance and servers file", []string{"--instance", "i-a", "--servers-file", "-"}, "--instance and --server/--servers-file are mutually exclusive"},
		{"port without instance", []string{"--group", "rsp-a", "--server", "i-a:80", "--port", "80"}, "--port 80: only with --instance"},
		{"port 0", []string{"--instance", "i-a", "--port", "0"}, "--port 0: must be 1..65535"},
		{"port too big", []string{"--instance", "i-a", "--port", "65536"}, "--port 65536: must be 1..65535"},
		{"port not a number", []string{"--instance", "i-a", "--port", "http"}, "--port"},
		{"instance with a port", []string{"--instance", "i-a:80"}, `--instance "i-a:80": an instance is drained from every port; give the port with --port 80`},
		{"instance bad type", []string{"--instance", "i-a:vm"}, `type "vm": want ecs (default), eni or eci`},
		{"instance bad id", []string{"--instance", "i a"}, `--instance "i a": not an instance id`},
		{"neither group nor instance", []string{"--server", "i-a:80"}, "--group is required (the VServer group id, e.g. rsp-cige6j5e7p), or --instance ID"},
		{"instance drain timeout without graceful", []string{"--instance", "i-a", "--drain-timeout", "1s"}, "only with --graceful"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := runCLI(t, "i-b:80\n", append(slices.Clone(drain), tc.args...)...)
			if r.code != exitUsage || !strings.Contains(r.stderr, tc.want) {
				t.Errorf("want exit 2 and %q\n%s", tc.want, r)
			}
		})
	}
}

// --instance makes a version-2 instance-scope request: no
// vserver_group_id, one backend server per instance (type ecs unless
// given, port only with --port), on slb.drain.request.<region>.instances.
func TestDrainInstanceRequest(t *testing.T) {
	e := newEnv(t)
	e.createStreams()
	r := e.drainctl("", "drain", "--region", testRegion, "--instance", "i-a", "--instance", "i-b:eni", "--instance", "i-a",
		"--request-id", "inst-req-1", "--source", "hook/asg-42", "--reason", "scale-in")
	if r.code != exitOK || !strings.Contains(r.stdout, "published inst-req-1: 2 instances to slb.drain.request.cn-hangzhou.instances") {
		t.Fatalf("want exit 0 and the published line\n%s", r)
	}
	subject, body, req := e.queued(1)
	want := `{"version":2,"request_id":"inst-req-1","action":"drain","region_id":"cn-hangzhou",` +
		`"backend_servers":[{"server_id":"i-a","type":"ecs"},{"server_id":"i-b","type":"eni"}],"mode":"remove",` +
		`"reason":"scale-in","source":"hook/asg-42"}`
	if subject != "slb.drain.request.cn-hangzhou.instances" || body != want || !req.InstanceScope() {
		t.Errorf("request on %s:\n%s\nwant on slb.drain.request.cn-hangzhou.instances:\n%s", subject, body, want)
	}

	r = e.drainctl("", "drain", "--region", testRegion, "--instance", "i-c", "--port", "8080", "--request-id", "inst-req-2",
		"--graceful", "--drain-timeout", "5s", "--force")
	if r.code != exitOK {
		t.Fatalf("want exit 0\n%s", r)
	}
	_, body, req = e.queued(2)
	if !req.InstanceScope() || req.Mode != messages.ModeGraceful || !req.Force || req.DrainTimeout == nil ||
		!slices.Equal(req.BackendServers, []messages.BackendServer{{ServerID: "i-c", Port: 8080, Type: "ecs"}}) ||
		strings.Contains(body, "vserver_group_id") {
		t.Errorf("request %s: want instance scope, graceful, force, i-c port 8080", body)
	}
}

// instanceFleet seeds i-x in two load balancers, three groups and four
// ports (with weights), beside other servers so that the guard allows the
// drain:
//
//	lb-one rsp-web:   i-x:80 (70), i-x:8080 (100), i-y:80
//	lb-one rsp-api:   i-x:9000 (100), i-y:9000
//	lb-two rsp-admin: i-x:443 (30), i-z:443
//	lb-two rsp-other: i-y:443, i-z:443 (no i-x)
func (e *env) instanceFleet() {
	e.sim.CreateGroupOn(testRegion, "lb-one", "rsp-web", []slbsim.Backend{{ServerID: "i-x", Port: 80, Weight: 70},
		{ServerID: "i-x", Port: 8080}, {ServerID: "i-y", Port: 80}})
	e.sim.CreateGroupOn(testRegion, "lb-one", "rsp-api", []slbsim.Backend{{ServerID: "i-x", Port: 9000}, {ServerID: "i-y", Port: 9000}})
	e.sim.CreateGroupOn(testRegion, "lb-two", "rsp-admin", []slbsim.Backend{{ServerID: "i-x", Port: 443, Weight: 30}, {ServerID: "i-z", Port: 443}})
	e.sim.CreateGroupOn(testRegion, "lb-two", "rsp-other", []slbsim.Backend{{ServerID: "i-y", Port: 443}, {ServerID: "i-z", Port: 443}})
	e.sim.AddInstances(testRegion, "i-nowhere")
}

// members is what a group holds: server:port=weight, sorted.
func (e *env) members(group string) []string {
	e.t.Helper()
	list, ok := e.sim.Backends(testRegion, group)
	if !ok {
		e.t.Fatalf("group %s does not exist", group)
	}
	out := make([]string, len(list))
	for i, b := range list {
		out[i] = fmt.Sprintf("%s:%d=%d", b.ServerID, b.Port, b.Weight)
	}
	slices.Sort(out)
	return out
}

func (e *env) wantMembers(group string, want ...string) {
	e.t.Helper()
	slices.Sort(want)
	if got := e.members(group); !slices.Equal(got, want) {
		e.t.Errorf("group %s holds %v, want %v", group, got, want)
	}
}

// writeCalls are the emulator's write calls so far.
func (e *env) writeCalls() []slbsim.Call {
	var list []slbsim.Call
	for _, c := range e.sim.Calls() {
		switch c.Action {
		case "RemoveVServerGroupBackendServers", "AddVServerGroupBackendServers", "SetVServerGroupAttribute":
			list = append(list, c)
		}
	}
	return list
}

// An instance in two load balancers, three groups and four ports is
// drained from all of them by one drain --instance --wait, whose output
// lists the groups; restore puts it back in every group at its weights.
func TestDrainInstanceFromEveryGroupAndRestore(t *testing.T) {
	e := newEnv(t)
	e.startWorker()
	e.instanceFleet()

	args := []string{"drain", "--region", testRegion, "--instance", "i-x", "--request-id", "inst-x", "--wait"}
	r := e.drainctl("", args...)
	if r.code != exitOK {
		t.Fatalf("want exit 0\n%s", r)
	}
	out := squeeze(r.stdout)
	for _, want := range []string{
		"request inst-x: completed",
		"instances i-x in cn-hangzhou, every port of every group that holds them",
		"action drain remove",
		"removed 4 backend servers of 1 instance, from 3 groups on 2 load balancers",
		"group rsp-web on lb-one: i-x:80:ecs weight 70, i-x:8080:ecs weight 100",
		"group rsp-api on lb-one: i-x:9000:ecs weight 100",
		"group rsp-admin on lb-two: i-x:443:ecs weight 30",
		"removed at",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("stdout lacks %q\n%s", want, r)
		}
	}
	if strings.Contains(r.stdout, "rsp-other") || strings.Contains(r.stdout, "in no group") {
		t.Errorf("stdout names a group that does not hold i-x, or says it is in none\n%s", r)
	}
	if !strings.Contains(r.stderr, "published inst-x: 1 instance to slb.drain.request.cn-hangzhou.instances") {
		t.Errorf("stderr lacks the published line\n%s", r)
	}
	// The progress notes come per group; the note of the call that
	// completes the request may come after its event, so only the others
	// are sure to be shown.
	groupsShown := 0
	for _, g := range []string{"rsp-web", "rsp-api", "rsp-admin"} {
		if strings.Contains(r.stderr, "draining i-x in cn-hangzhou: "+g+": removed ") {
			groupsShown++
		}
	}
	if groupsShown < 2 {
		t.Errorf("progress lines of %d groups, want per group (at least 2 of 3)\n%s", groupsShown, r)
	}
	e.wantMembers("rsp-web", "i-y:80=100")
	e.wantMembers("rsp-api", "i-y:9000=100")
	e.wantMembers("rsp-admin", "i-z:443=100")
	e.wantMembers("rsp-other", "i-y:443=100", "i-z:443=100")
	t.Logf("transcript:\n$ drainctl %s\n%s%s", strings.Join(args, " "), r.stderr, r.stdout)

	// restore: one group-scope restore per group of the event, with the
	// weights i-x had.
	r = e.drainctl("", "restore", "inst-x", "--wait")
	if r.code != exitOK {
		t.Fatalf("restore: want exit 0\n%s", r)
	}
	if !strings.Contains(r.stderr, "restoring 4 backend servers in 3 groups") {
		t.Errorf("stderr does not say what is restored\n%s", r)
	}
	for i := 1; i <= 3; i++ {
		if want := fmt.Sprintf("request inst-x-restore-%d: completed", i); !strings.Contains(r.stdout, want) {
			t.Errorf("stdout lacks %q\n%s", want, r)
		}
	}
	if !strings.Contains(r.stdout, "3 of 3 requests completed; 4 of 4 backend servers restored") {
		t.Errorf("stdout lacks the restore's total\n%s", r)
	}
	e.wantMembers("rsp-web", "i-x:80=70", "i-x:8080=100", "i-y:80=100")
	e.wantMembers("rsp-api", "i-x:9000=100", "i-y:9000=100")
	e.wantMembers("rsp-admin", "i-x:443=30", "i-z:443=100")
	e.wantMembers("rsp-other", "i-y:443=100", "i-z:443=100")
	t.Logf("transcript:\n$ drainctl restore inst-x --wait\n%s%s", r.stderr, r.stdout)
}

// --port narrows an instance drain to that port; an instance no group
// holds completes with empty groups, and the output says so; --json prints
// the outcome event.
func TestDrainInstancePortAndNoGroup(t *testing.T) {
	e := newEnv(t)
	e.startWorker()
	e.instanceFleet()

	r := e.drainctl("", "drain", "--region", testRegion, "--instance", "i-y", "--port", "9000", "--request-id", "inst-y-9000", "--wait")
	if r.code != exitOK {
		t.Fatalf("want exit 0\n%s", r)
	}
	out := squeeze(r.stdout)
	for _, want := range []string{"request inst-y-9000: completed", "instances i-y in cn-hangzhou, port 9000 of every group that holds them",
		"removed 1 backend server of 1 instance, from 1 group on 1 load balancer", "group rsp-api on lb-one: i-y:9000:ecs weight 100"} {
		if !strings.Contains(out, want) {
			t.Errorf("stdout lacks %q\n%s", want, r)
		}
	}
	e.wantMembers("rsp-api", "i-x:9000=100")
	e.wantMembers("rsp-web", "i-x:80=70", "i-x:8080=100", "i-y:80=100")
	e.wantMembers("rsp-other", "i-y:443=100", "i-z:443=100")

	// A port i-z has in no group: nothing to do.
	r = e.drainctl("", "drain", "--region", testRegion, "--instance", "i-z", "--port", "80", "--request-id", "inst-z-80", "--wait")
	if r.code != exitOK || !strings.Contains(squeeze(r.stdout), "in no group i-z has port 80 in no VServer group of cn-hangzhou (already drained: nothing to do)") {
		t.Errorf("a port in no group: want exit 0 and why\n%s", r)
	}

	args := []string{"drain", "--region", testRegion, "--instance", "i-nowhere", "--request-id", "inst-none", "--wait"}
	r = e.drainctl("", args...)
	if r.code != exitOK {
		t.Fatalf("instance in no group: want exit 0\n%s", r)
	}
	out = squeeze(r.stdout)
	for _, want := range []string{"request inst-none: completed", "removed 0 backend servers of 1 instance, from 0 groups",
		"in no group i-nowhere is in no VServer group of cn-hangzhou (already drained: nothing to do)"} {
		if !strings.Contains(out, want) {
			t.Errorf("stdout lacks %q\n%s", want, r)
		}
	}
	t.Logf("transcript:\n$ drainctl %s\n%s%s", strings.Join(args, " "), r.stderr, r.stdout)

	// --json: the event as the worker published it, groups empty, not null.
	r = e.drainctl("", "drain", "--region", testRegion, "--instance", "i-nowhere", "--request-id", "inst-none", "--wait", "--json")
	outs := decodeOutcomes(t, r.stdout)
	if r.code != exitOK || len(outs) != 1 || outs[0].Status != messages.StatusCompleted || outs[0].Groups == nil || len(outs[0].Groups) != 0 ||
		outs[0].VServerGroupID != "" || !strings.Contains(r.stdout, `"groups":[]`) {
		t.Errorf("--json: %+v, want the completed inst-none with empty groups\n%s", outs, r)
	}
	// restore has nothing to put back.
	r = e.drainctl("", "restore", "inst-none")
	if r.code != exitFailed || !strings.Contains(r.stderr, "lists no backend server in any group") {
		t.Errorf("restore of a drain that found no group: want exit 1 and why\n%s", r)
	}
}

// --dry-run lists the groups it would drain, with no write call;
// --graceful goes through weight 0 in each group, shown per group.
func TestDrainInstanceDryRunAndGraceful(t *testing.T) {
	e := newEnv(t)
	e.startWorker()
	e.instanceFleet()

	args := []string{"drain", "--region", testRegion, "--instance", "i-x", "--instance", "i-nowhere", "--request-id", "inst-plan", "--dry-run", "--wait"}
	r := e.drainctl("", args...)
	if r.code != exitOK {
		t.Fatalf("dry run: want exit 0\n%s", r)
	}
	out := squeeze(r.stdout)
	for _, want := range []string{"request inst-plan: planned", "instances i-x, i-nowhere in cn-hangzhou", "drain remove, dry run",
		"would remove 4 backend servers of 2 instances in 3 groups on 2 load balancers (a dry run: nothing was changed)",
		"verdict nothing refuses it",
		"group rsp-web on lb-one: i-x:80:ecs weight 70, i-x:8080:ecs weight 100", "group rsp-api on lb-one: i-x:9000:ecs weight 100",
		"group rsp-admin on lb-two: i-x:443:ecs weight 30", "in no group i-nowhere is in no VServer group of cn-hangzhou"} {
		if !strings.Contains(out, want) {
			t.Errorf("stdout lacks %q\n%s", want, r)
		}
	}
	if calls := e.writeCalls(); len(calls) != 0 {
		t.Errorf("a dry run made %d write calls: %+v", len(calls), calls)
	}
	e.wantMembers("rsp-web", "i-x:80=70", "i-x:8080=100", "i-y:80=100")
	t.Logf("transcript:\n$ drainctl %s\n%s%s", strings.Join(args, " "), r.stderr, r.stdout)

	args = []string{"drain", "--region", testRegion, "--instance", "i-x", "--request-id", "inst-grace", "--graceful", "--drain-timeout", "0s", "--wait"}
	r = e.drainctl("", args...)
	if r.code != exitOK {
		t.Fatalf("graceful: want exit 0\n%s", r)
	}
	out = squeeze(r.stdout)
	for _, want := range []string{"request inst-grace: completed", "drain graceful", "removed 4 backend servers of 1 instance, from 3 groups on 2 load balancers",
		"group rsp-web on lb-one: i-x:80:ecs weight 70, i-x:8080:ecs weight 100", "group rsp-admin on lb-two: i-x:443:ecs weight 30",
		"weight 0 at", "removed at"} {
		if !strings.Contains(out, want) {
			t.Errorf("stdout lacks %q\n%s", want, r)
		}
	}
	// Each group's weight call sends a note before any removal: one line
	// per group, weight 0 or, for the last, the wait.
	for _, g := range []string{"rsp-web", "rsp-api", "rsp-admin"} {
		if !strings.Contains(r.stderr, "draining i-x in cn-hangzhou: "+g+": weight 0") &&
			!strings.Contains(r.stderr, "draining i-x in cn-hangzhou: "+g+": waiting until") {
			t.Errorf("stderr lacks the weight-0 phase of %s\n%s", g, r)
		}
	}
	if !strings.Contains(r.stderr, ": waiting until ") {
		t.Errorf("stderr lacks the wait\n%s", r)
	}
	var weights, removes int
	for _, c := range e.writeCalls() {
		switch c.Action {
		case "SetVServerGroupAttribute":
			weights++
		case "RemoveVServerGroupBackendServers":
			removes++
		}
	}
	if weights != 3 || removes != 3 {
		t.Errorf("%d weight and %d remove calls, want 3 and 3 (one each per group)", weights, removes)
	}
	e.wantMembers("rsp-web", "i-y:80=100")
	e.wantMembers("rsp-api", "i-y:9000=100")
	e.wantMembers("rsp-admin", "i-z:443=100")
	t.Logf("transcript:\n$ drainctl %s\n%s%s", strings.Join(args, " "), r.stderr, r.stdout)
}
