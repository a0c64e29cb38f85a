package main

import (
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/slbdrain/slbdrain/internal/slbsim"
	"github.com/slbdrain/slbdrain/messages"
)

func TestRestoreBadUsage(t *testing.T) {
	url := closedURL(t) // bad usage is found before connecting
	for _, tc := range []struct {
		name string
		args []string
		want string
	}{
		{"restore without id", []string{"restore"}, "want exactly one REQUEST_ID"},
		{"restore of two ids", []string{"restore", "a", "b"}, "want exactly one REQUEST_ID"},
		{"restore of a bad id", []string{"restore", "a b"}, "not a request id"},
		{"restore with a bad request id", []string{"restore", "d-1", "--request-id", "a/b"}, "--request-id"},
		{"restore with a long reason", []string{"restore", "d-1", "--reason", strings.Repeat("r", 257)}, "--reason: at most 256"},
		{"restore with zero timeout", []string{"restore", "d-1", "--timeout", "0s"}, "--timeout"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := runCLI(t, "", append([]string{"--nats-url", url}, tc.args...)...)
			if r.code != exitUsage || !strings.Contains(r.stderr, tc.want) {
				t.Errorf("want exit 2 and %q\n%s", tc.want, r)
			}
		})
	}
}

// drainOutcomeV2 is the completed event of a graceful version-2 drain of
// groups, as the worker writes it.
func drainOutcomeV2(id string, groups ...messages.Group) messages.Outcome {
	o := completedOutcome(id, "", 5)
	o.Version, o.Action, o.Mode, o.Groups = messages.Version2, messages.ActionDrain, messages.ModeGraceful, groups
	if len(groups) == 1 {
		o.VServerGroupID = groups[0].VServerGroupID
	}
	for _, g := range groups {
		for _, s := range g.BackendServers {
			s.Weight = messages.Weight{}
			o.BackendServers = append(o.BackendServers, s)
		}
	}
	return o
}

func weighted(id string, port, weight int) messages.BackendServer {
	return messages.BackendServer{ServerID: id, Port: port, Type: messages.TypeECS, Weight: messages.WeightOf(weight)}
}

func TestRestoreFromStoredOutcome(t *testing.T) {
	e := newEnv(t)
	e.createStreams()
	kv := e.createBucket()
	at := time.Date(2026, 11, 27, 10, 0, 0, 0, time.UTC)
	e.remember(kv, drainOutcomeV2("grace-9", messages.Group{LoadBalancerID: "lb-1", VServerGroupID: "rsp-web",
		BackendServers: []messages.BackendServer{weighted("i-a", 80, 70), weighted("i-b", 80, 0)}, WeightZeroAt: at, RemovedAt: at.Add(30 * time.Second)}))

	r := e.drainctl("", "restore", "grace-9", "--json")
	if r.code != exitOK {
		t.Fatalf("want exit 0\n%s", r)
	}
	var p published
	if err := json.Unmarshal([]byte(r.stdout), &p); err != nil || p.RequestID != "grace-9-restore" || p.Servers != 2 {
		t.Errorf("--json: %+v (%v), want the published grace-9-restore of 2 servers\n%s", p, err, r)
	}
	if !strings.Contains(r.stderr, "drain grace-9 ended completed") || !strings.Contains(r.stderr, "remembered in SLB_DRAIN_OUTCOMES") {
		t.Errorf("stderr does not say which outcome it restores\n%s", r)
	}
	subject, body, req := e.queued(1)
	want := []messages.BackendServer{weighted("i-a", 80, 70), weighted("i-b", 80, 0)}
	if subject != "slb.drain.request.cn-hangzhou.rsp-web" || req.Version != messages.Version2 || req.Action != messages.ActionRestore ||
		req.RequestID != "grace-9-restore" || req.RestoreOf != "grace-9" || req.Reason != "restore of grace-9" || req.Mode != "" ||
		!slices.Equal(req.BackendServers, want) || req.DryRun {
		t.Errorf("request on %s: %s\nwant the restore of grace-9 to rsp-web with weights 70 and 0", subject, body)
	}

	// Several groups: one restore each, numbered; --dry-run and --reason
	// are passed on.
	e.remember(kv, drainOutcomeV2("inst-1",
		messages.Group{LoadBalancerID: "lb-1", VServerGroupID: "rsp-one", BackendServers: []messages.BackendServer{weighted("i-c", 80, 10)}},
		messages.Group{LoadBalancerID: "lb-2", VServerGroupID: "rsp-none", BackendServers: []messages.BackendServer{}},
		messages.Group{LoadBalancerID: "lb-2", VServerGroupID: "rsp-two", BackendServers: []messages.BackendServer{weighted("i-c", 8080, 100)}}))
	r = e.drainctl("", "restore", "inst-1", "--dry-run", "--reason", "rollback")
	if r.code != exitOK || !strings.Contains(r.stdout, "published inst-1-restore-1") || !strings.Contains(r.stdout, "published inst-1-restore-2") ||
		!strings.Contains(r.stderr, "restoring 2 backend servers in 2 groups") {
		t.Fatalf("want exit 0 and two restores published\n%s", r)
	}
	for i, want := range []struct {
		group  string
		server messages.BackendServer
	}{{"rsp-one", weighted("i-c", 80, 10)}, {"rsp-two", weighted("i-c", 8080, 100)}} {
		_, body, req := e.queued(uint64(2 + i))
		if req.RequestID != fmt.Sprintf("inst-1-restore-%d", i+1) || req.VServerGroupID != want.group || !req.DryRun || req.Reason != "rollback" ||
			req.RestoreOf != "inst-1" || !slices.Equal(req.BackendServers, []messages.BackendServer{want.server}) {
			t.Errorf("restore %d: %s, want %s with %v", i+1, body, want.group, want.server)
		}
	}
}

func TestRestoreRefused(t *testing.T) {
	e := newEnv(t)
	e.createStreams()
	r := e.drainctl("", "restore", "nobody-1")
	if r.code != exitFailed || !strings.Contains(r.stderr, "no outcome of request nobody-1") {
		t.Errorf("unknown id without the bucket: want exit 1 and why\n%s", r)
	}
	kv := e.createBucket()
	r = e.drainctl("", "restore", "nobody-1", "--wait")
	if r.code != exitFailed || !strings.Contains(r.stderr, "no outcome of request nobody-1: not in the outcomes bucket SLB_DRAIN_OUTCOMES") {
		t.Errorf("unknown id: want exit 1 and why\n%s", r)
	}

	e.remember(kv, completedOutcome("v1-1", "rsp-v1", 3, messages.BackendServer{ServerID: "i-a", Port: 80, Type: "ecs"}))
	dry := drainOutcomeV2("dry-1", messages.Group{VServerGroupID: "rsp-d", BackendServers: []messages.BackendServer{weighted("i-a", 80, 100)}})
	dry.Status, dry.DryRun = messages.StatusPlanned, true
	e.remember(kv, dry)
	noGroups := drainOutcomeV2("nogroups-1")
	noGroups.VServerGroupID, noGroups.BackendServers = "rsp-n", []messages.BackendServer{{ServerID: "i-a", Port: 80, Type: "ecs"}}
	e.remember(kv, noGroups)
	e.remember(kv, drainOutcomeV2("empty-1", messages.Group{VServerGroupID: "rsp-e", BackendServers: []messages.BackendServer{}}))
	for id, want := range map[string]string{
		"v1-1":       "request v1-1 was a version-1 drain: its event has no groups, so the weights its servers had are unknown; restore needs a version-2 drain's event",
		"dry-1":      "was a dry run (status planned): nothing was drained",
		"nogroups-1": "has no groups, so the weights its servers had are unknown",
		"empty-1":    "lists no backend server in any group",
	} {
		r := e.drainctl("", "restore", id, "--json")
		if r.code != exitFailed || !strings.Contains(r.stderr, want) || r.stdout != "" {
			t.Errorf("restore %s: want exit 1, %q and nothing on stdout\n%s", id, want, r)
		}
	}
	if n := e.requestsPublished(); n != 0 {
		t.Errorf("%d requests published, want none", n)
	}
}

// Without the bucket (or past its TTL), restore finds the drain's event in
// the events stream, as retry does.
func TestRestoreFromEvent(t *testing.T) {
	e := newEnv(t)
	e.createStreams()
	o := drainOutcomeV2("evt-1", messages.Group{LoadBalancerID: "lb-1", VServerGroupID: "rsp-evt",
		BackendServers: []messages.BackendServer{weighted("i-e", 80, 40)}})
	data, err := json.Marshal(o)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := e.js.PublishMsg(t.Context(), &nats.Msg{Subject: o.Subject(), Data: data,
		Header: nats.Header{messages.MsgIDHeader: []string{o.MsgID()}}}); err != nil {
		t.Fatal(err)
	}
	r := e.drainctl("", "restore", "evt-1", "--request-id", "evt-1-undo")
	if r.code != exitOK || !strings.Contains(r.stderr, "its event in SLB_DRAIN_EVENTS") {
		t.Fatalf("want exit 0 and the event named\n%s", r)
	}
	if _, body, req := e.queued(1); req.RequestID != "evt-1-undo" || req.RestoreOf != "evt-1" ||
		!slices.Equal(req.BackendServers, []messages.BackendServer{weighted("i-e", 80, 40)}) {
		t.Errorf("restore %s, want evt-1-undo of i-e:80 at weight 40", body)
	}
}

// End to end with a worker: a graceful drain remembers the servers'
// weights, restore puts them back.
func TestGracefulDrainAndRestore(t *testing.T) {
	e := newEnv(t)
	e.startWorker()
	e.sim.CreateGroup(testRegion, "rsp-gr", []slbsim.Backend{{ServerID: "i-g1", Port: 80, Weight: 70}, {ServerID: "i-g2", Port: 80, Weight: 30},
		{ServerID: "i-g3", Port: 80, Weight: 100}})

	r := e.drainctl("", "drain", "--region", testRegion, "--group", "rsp-gr", "--server", "i-g1:80", "--server", "i-g2:80",
		"--request-id", "gr-1", "--graceful", "--drain-timeout", "0s", "--wait")
	if r.code != exitOK {
		t.Fatalf("graceful drain: want exit 0\n%s", r)
	}
	for _, want := range []string{"request gr-1: completed", "action", "drain graceful", "removed 2 of 2 backend servers",
		"rsp-gr on lb-rsp-gr: i-g1:80:ecs weight 70, i-g2:80:ecs weight 30", "weight 0 at", "removed at"} {
		if !strings.Contains(squeeze(r.stdout), want) {
			t.Errorf("stdout lacks %q\n%s", want, r)
		}
	}
	if n := e.left("rsp-gr"); n != 1 {
		t.Fatalf("%d servers left, want 1", n)
	}
	t.Logf("transcript:\n$ drainctl drain ... --graceful --drain-timeout 0s --wait\n%s%s", r.stderr, r.stdout)

	// A dry run of the restore changes nothing and exits 0.
	r = e.drainctl("", "restore", "gr-1", "--dry-run", "--request-id", "gr-1-plan", "--wait")
	if r.code != exitOK {
		t.Fatalf("restore --dry-run: want exit 0\n%s", r)
	}
	for _, want := range []string{"request gr-1-plan: planned", "restore, dry run", "add back 2 backend servers at the weights listed",
		"nothing refuses it", "i-g1:80:ecs weight 70, i-g2:80:ecs weight 30"} {
		if !strings.Contains(r.stdout, want) {
			t.Errorf("stdout lacks %q\n%s", want, r)
		}
	}
	if n := e.left("rsp-gr"); n != 1 {
		t.Fatalf("a dry run changed the group: %d servers, want 1", n)
	}

	r = e.drainctl("", "restore", "gr-1", "--wait", "--json")
	if r.code != exitOK {
		t.Fatalf("restore: want exit 0\n%s", r)
	}
	outs := decodeOutcomes(t, r.stdout)
	if len(outs) != 1 || outs[0].RequestID != "gr-1-restore" || outs[0].Status != messages.StatusCompleted || outs[0].Action != messages.ActionRestore {
		t.Fatalf("--json: %+v, want the completed restore gr-1-restore\n%s", outs, r)
	}
	list, _ := e.sim.Backends(testRegion, "rsp-gr")
	weights := map[string]int{}
	for _, b := range list {
		weights[b.ServerID] = b.Weight
	}
	if want := map[string]int{"i-g1": 70, "i-g2": 30, "i-g3": 100}; fmt.Sprint(weights) != fmt.Sprint(want) {
		t.Errorf("group after the restore: %v, want %v", weights, want)
	}

	// The same restore again is the same request: its outcome is shown.
	r = e.drainctl("", "restore", "gr-1", "--wait")
	if r.code != exitOK || !strings.Contains(r.stderr, "request gr-1-restore already has an outcome (completed") ||
		!strings.Contains(squeeze(r.stdout), "restored 2 of 2 backend servers") {
		t.Errorf("restore again: want exit 0 and the remembered outcome\n%s", r)
	}
}
