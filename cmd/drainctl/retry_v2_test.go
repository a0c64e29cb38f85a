package main

import (
	"context"
	"strings"
	"testing"

	"github.com/nats-io/nats.go"

	"github.com/slbdrain/slbdrain/internal/natstest"
	"github.com/slbdrain/slbdrain/internal/slbsim"
	"github.com/slbdrain/slbdrain/messages"
)

// requestTap sees every request published to the requests stream (a
// JetStream publish is a core NATS message on its subject too), so that a
// test can read what drainctl sent although the worker consumes it.
type requestTap struct {
	t    *testing.T
	msgs chan *nats.Msg
}

func (e *env) tapRequests() *requestTap {
	e.t.Helper()
	nc, _ := natstest.Connect(e.t, e.url)
	msgs := make(chan *nats.Msg, 1024)
	if _, err := nc.ChanSubscribe(messages.RequestSubjects, msgs); err != nil {
		e.t.Fatal(err)
	}
	if err := nc.Flush(); err != nil { // subscribed before the test goes on
		e.t.Fatal(err)
	}
	return &requestTap{t: e.t, msgs: msgs}
}

// request is the request id's published message, as the worker reads it:
// its subject, its body and the body decoded. It fails the test when none
// came within waitLimit.
func (tap *requestTap) request(id string) (string, string, messages.DrainRequest) {
	tap.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), waitLimit)
	defer cancel()
	for {
		select {
		case m := <-tap.msgs:
			if m.Header.Get(messages.MsgIDHeader) != id {
				continue
			}
			req, err := messages.Decode(m.Subject, m.Data)
			if err != nil {
				tap.t.Fatalf("request %s %s: the worker would reject it: %v", id, m.Data, err)
			}
			return m.Subject, string(m.Data), req
		case <-ctx.Done():
			tap.t.Fatalf("no request %s published within %s", id, waitLimit)
		}
	}
}

// A failed version-1 drain is retried as the version-1 request it was,
// byte for byte; the version-2 flags of retry do not apply to it.
func TestRetryVersion1IsVersion1(t *testing.T) {
	e := newEnv(t)
	e.startWorker()
	tap := e.tapRequests()
	e.group("rsp-v1deny", 3)
	e.sim.DenyGroup(testRegion, "rsp-v1deny")
	r := e.drainctl("", "drain", "--region", testRegion, "--group", "rsp-v1deny", "--server", "i-v1deny-0000:80", "--server", "i-v1deny-0001:80",
		"--request-id", "v1-1", "--reason", "scale-in", "--source", "hook/asg-42", "--wait")
	if r.code != exitFailed {
		t.Fatalf("drain of a denied group: want exit 1\n%s", r)
	}
	for _, args := range [][]string{{"--force"}, {"--drain-timeout", "10s"}} {
		r = e.drainctl("", append([]string{"retry", "v1-1"}, args...)...)
		if r.code != exitUsage || !strings.Contains(r.stderr, "was a version-1 drain") {
			t.Errorf("retry %v of a version-1 drain: want exit 2 and why\n%s", args, r)
		}
	}
	e.sim.AllowGroup(testRegion, "rsp-v1deny")
	r = e.drainctl("", "retry", "v1-1", "--wait")
	if r.code != exitOK || strings.Contains(r.stderr, "note:") {
		t.Fatalf("retry: want exit 0 and no note\n%s", r)
	}
	subject, body, _ := tap.request("v1-1-retry-1")
	want := `{"version":1,"request_id":"v1-1-retry-1","region_id":"cn-hangzhou","vserver_group_id":"rsp-v1deny",` +
		`"backend_servers":[{"server_id":"i-v1deny-0000","port":80,"type":"ecs"},{"server_id":"i-v1deny-0001","port":80,"type":"ecs"}],` +
		`"reason":"retry of v1-1: scale-in","source":"hook/asg-42"}`
	if body != want || subject != "slb.drain.request.cn-hangzhou.rsp-v1deny" {
		t.Errorf("retry on %s:\n%s\nwant on slb.drain.request.cn-hangzhou.rsp-v1deny:\n%s", subject, body, want)
	}
}

// A failed graceful, forced version-2 drain is retried as a version-2
// graceful drain. Its event records the mode but not drain_timeout or
// force: retry says so, and its flags restate them.
func TestRetryGracefulDrain(t *testing.T) {
	e := newEnv(t)
	e.startWorker()
	tap := e.tapRequests()
	servers := e.group("rsp-grdeny", 3)
	e.sim.DenyGroup(testRegion, "rsp-grdeny")
	r := e.drainctl("", append([]string{"drain", "--region", testRegion, "--group", "rsp-grdeny", "--request-id", "gr-1", "--reason", "scale-in",
		"--graceful", "--drain-timeout", "0s", "--force", "--wait", "--json"}, serverFlags(servers)...)...)
	outs := decodeOutcomes(t, r.stdout)
	if r.code != exitFailed || len(outs) != 1 || outs[0].Status != messages.StatusFailed || outs[0].Version != messages.Version2 ||
		outs[0].Mode != messages.ModeGraceful || len(outs[0].NotRemoved) != 3 {
		t.Fatalf("graceful drain of a denied group: want exit 1 and a failed version-2 graceful event, 3 not removed\n%s", r)
	}
	e.sim.AllowGroup(testRegion, "rsp-grdeny")

	// Without the flags: a graceful drain that leaves drain_timeout to the
	// worker and keeps the guard, which refuses to empty the group.
	r = e.drainctl("", "retry", "gr-1", "--wait")
	if r.code != exitFailed || !strings.Contains(r.stdout, "GuardRefused") {
		t.Errorf("retry without --force: want exit 1, GuardRefused\n%s", r)
	}
	if want := "drainctl: note: the event of gr-1 does not record drain_timeout or whether it said force: gr-1-retry-1 waits the worker's " +
		"--drain-timeout at weight 0 and keeps the worker's --min-remaining guard (restate with --drain-timeout D, --force)"; !strings.Contains(r.stderr, want) {
		t.Errorf("stderr lacks %q\n%s", want, r)
	}
	subject, body, req := tap.request("gr-1-retry-1")
	if subject != "slb.drain.request.cn-hangzhou.rsp-grdeny" || req.Version != messages.Version2 || req.Action != messages.ActionDrain ||
		req.Mode != messages.ModeGraceful || req.DrainTimeout != nil || req.Force || req.DryRun || len(req.BackendServers) != 3 ||
		req.Reason != "retry of gr-1: scale-in" {
		t.Errorf("retry on %s: %s, want version 2, graceful, no drain_timeout, no force, 3 servers", subject, body)
	}
	if n := e.left("rsp-grdeny"); n != 3 {
		t.Errorf("%d servers left after a refused retry, want 3", n)
	}

	// With them: the same drain as gr-1, which now completes; the retry of
	// a retry numbers on from the original.
	r = e.drainctl("", "retry", "gr-1-retry-1", "--drain-timeout", "0s", "--force", "--wait")
	if r.code != exitOK || !strings.Contains(r.stdout, "request gr-1-retry-2: completed") || !strings.Contains(squeeze(r.stdout), "action drain graceful") {
		t.Fatalf("retry with --force: want exit 0, gr-1-retry-2 completed gracefully\n%s", r)
	}
	if strings.Contains(r.stderr, "note:") {
		t.Errorf("a note although the flags said everything\n%s", r)
	}
	_, body, req = tap.request("gr-1-retry-2")
	if req.Version != messages.Version2 || req.Mode != messages.ModeGraceful || req.DrainTimeout == nil || *req.DrainTimeout != 0 || !req.Force ||
		req.DryRun || len(req.BackendServers) != 3 || !strings.Contains(body, `"drain_timeout":"0s"`) || !strings.Contains(body, `"force":true`) {
		t.Errorf("retry %s: want version 2, graceful, drain_timeout 0s, force, 3 servers", body)
	}
	if n := e.left("rsp-grdeny"); n != 0 {
		t.Errorf("%d servers left in the group, want 0", n)
	}
	t.Logf("transcript:\n$ drainctl retry gr-1-retry-1 --drain-timeout 0s --force --wait\n%s%s", r.stderr, r.stdout)
}

// A version-2 drain that removed some of its servers is retried for the
// others only, in its mode.
func TestRetryVersion2NotRemoved(t *testing.T) {
	e := newEnv(t)
	e.startWorker()
	tap := e.tapRequests()
	servers := e.group("rsp-stick", 4)
	e.sim.StickServer(testRegion, "rsp-stick", "i-stick-0002", 80, slbsim.Forever)
	r := e.drainctl("", append([]string{"drain", "--region", testRegion, "--group", "rsp-stick", "--request-id", "st-1", "--force",
		"--deadline", "1s", "--wait", "--json"}, serverFlags(servers[:3])...)...)
	outs := decodeOutcomes(t, r.stdout)
	if r.code != exitFailed || len(outs) != 1 || len(outs[0].NotRemoved) != 1 || outs[0].NotRemoved[0].ServerID != "i-stick-0002" {
		t.Fatalf("drain with a sticky server: want exit 1, i-stick-0002 not removed\n%s", r)
	}
	e.sim.StickServer(testRegion, "rsp-stick", "i-stick-0002", 80, 0)
	r = e.drainctl("", "retry", "st-1", "--force", "--wait")
	if r.code != exitOK || !strings.Contains(r.stdout, "request st-1-retry-1: completed") {
		t.Fatalf("retry: want exit 0\n%s", r)
	}
	_, body, req := tap.request("st-1-retry-1")
	if req.Version != messages.Version2 || req.Mode != messages.ModeRemove || req.DrainTimeout != nil || !req.Force ||
		len(req.BackendServers) != 1 || req.BackendServers[0].String() != "i-stick-0002:80:ecs" {
		t.Errorf("retry %s: want version 2, mode remove, force, i-stick-0002:80 only", body)
	}
	e.wantMembers("rsp-stick", "i-stick-0003:80=100")
}

// A failed instance-scope drain is retried in instance scope, for the
// instances some of whose servers were not removed: by id, with the port
// when the drain named one.
func TestRetryInstanceDrain(t *testing.T) {
	e := newEnv(t)
	e.startWorker()
	tap := e.tapRequests()
	e.instanceFleet()

	// i-x is in three groups; rsp-admin keeps it. i-nowhere is in none:
	// already drained.
	e.sim.StickServer(testRegion, "rsp-admin", "i-x", 443, slbsim.Forever)
	r := e.drainctl("", "drain", "--region", testRegion, "--instance", "i-x", "--instance", "i-nowhere", "--request-id", "inst-1",
		"--graceful", "--drain-timeout", "0s", "--deadline", "1s", "--wait", "--json")
	outs := decodeOutcomes(t, r.stdout)
	if r.code != exitFailed || len(outs) != 1 || outs[0].VServerGroupID != "" || len(outs[0].NotRemoved) != 1 || outs[0].NotRemoved[0].ServerID != "i-x" {
		t.Fatalf("instance drain with a sticky server: want exit 1, i-x not removed\n%s", r)
	}
	e.wantMembers("rsp-web", "i-y:80=100")
	e.sim.StickServer(testRegion, "rsp-admin", "i-x", 443, 0)

	args := []string{"retry", "inst-1", "--drain-timeout", "0s", "--wait"}
	r = e.drainctl("", args...)
	if r.code != exitOK {
		t.Fatalf("retry: want exit 0\n%s", r)
	}
	out := squeeze(r.stdout)
	for _, want := range []string{"request inst-1-retry-1: completed", "instances i-x in cn-hangzhou, every port of every group that holds them",
		"drain graceful", "group rsp-admin on lb-two: i-x:443:ecs weight"} {
		if !strings.Contains(out, want) {
			t.Errorf("stdout lacks %q\n%s", want, r)
		}
	}
	if !strings.Contains(r.stderr, "published inst-1-retry-1: 1 instance to slb.drain.request.cn-hangzhou.instances") {
		t.Errorf("stderr lacks the published line\n%s", r)
	}
	subject, body, req := tap.request("inst-1-retry-1")
	if subject != "slb.drain.request.cn-hangzhou.instances" || strings.Contains(body, "vserver_group_id") || !req.InstanceScope() ||
		req.Mode != messages.ModeGraceful || req.DrainTimeout == nil || *req.DrainTimeout != 0 || req.Force ||
		len(req.BackendServers) != 1 || req.BackendServers[0].ServerID != "i-x" || req.BackendServers[0].Port != 0 {
		t.Errorf("retry on %s: %s, want instance scope, graceful, drain_timeout 0s, i-x on every port", subject, body)
	}
	e.wantMembers("rsp-admin", "i-z:443=100")
	t.Logf("transcript:\n$ drainctl %s\n%s%s", strings.Join(args, " "), r.stderr, r.stdout)

	// A drain narrowed to a port is retried on that port.
	e.sim.StickServer(testRegion, "rsp-other", "i-y", 443, slbsim.Forever)
	r = e.drainctl("", "drain", "--region", testRegion, "--instance", "i-y", "--port", "443", "--request-id", "inst-2",
		"--deadline", "1s", "--wait")
	if r.code != exitFailed {
		t.Fatalf("instance drain on a port with a sticky server: want exit 1\n%s", r)
	}
	e.sim.StickServer(testRegion, "rsp-other", "i-y", 443, 0)
	r = e.drainctl("", "retry", "inst-2", "--wait")
	if r.code != exitOK || !strings.Contains(squeeze(r.stdout), "instances i-y in cn-hangzhou, port 443 of every group that holds them") {
		t.Fatalf("retry: want exit 0, i-y on port 443\n%s", r)
	}
	subject, body, req = tap.request("inst-2-retry-1")
	if subject != "slb.drain.request.cn-hangzhou.instances" || !req.InstanceScope() || req.Mode != messages.ModeRemove ||
		len(req.BackendServers) != 1 || req.BackendServers[0].String() != "i-y:443:ecs" {
		t.Errorf("retry on %s: %s, want instance scope, i-y on port 443", subject, body)
	}
	e.wantMembers("rsp-other", "i-z:443=100")
	e.wantMembers("rsp-web", "i-y:80=100")
	e.wantMembers("rsp-api", "i-y:9000=100")

	// The next retry of inst-1 takes the next free id on the instances
	// subject.
	r = e.drainctl("", "retry", "inst-1", "--json")
	if r.code != exitOK || !strings.Contains(r.stdout, `"request_id":"inst-1-retry-2"`) {
		t.Errorf("second retry: want inst-1-retry-2 published\n%s", r)
	}
}

// A dry run is not retried (bad usage), nor is a restore (exit 1, with
// the command that does it).
func TestRetryRefusesDryRunAndRestore(t *testing.T) {
	e := newEnv(t)
	e.startWorker()
	e.group("rsp-refuse", 3)

	r := e.drainctl("", "drain", "--region", testRegion, "--group", "rsp-refuse", "--server", "i-refuse-0000:80", "--request-id", "plan-1",
		"--dry-run", "--wait")
	if r.code != exitOK || !strings.Contains(r.stdout, "request plan-1: planned") {
		t.Fatalf("dry run: want exit 0, planned\n%s", r)
	}
	r = e.drainctl("", "retry", "plan-1")
	if r.code != exitUsage || !strings.Contains(r.stderr, "request plan-1 was a dry run (status planned)") || !strings.Contains(r.stderr, "without --dry-run") {
		t.Errorf("retry of a dry run: want exit 2 and why\n%s", r)
	}

	r = e.drainctl("", "drain", "--region", testRegion, "--group", "rsp-refuse", "--server", "i-refuse-0001:80", "--request-id", "rs-1",
		"--graceful", "--drain-timeout", "0s", "--wait")
	if r.code != exitOK {
		t.Fatalf("graceful drain: want exit 0\n%s", r)
	}
	e.sim.DenyGroup(testRegion, "rsp-refuse")
	r = e.drainctl("", "restore", "rs-1", "--wait")
	if r.code != exitFailed {
		t.Fatalf("restore to a denied group: want exit 1\n%s", r)
	}
	r = e.drainctl("", "retry", "rs-1-restore")
	if r.code != exitFailed || !strings.Contains(r.stderr, "request rs-1-restore is a restore, not a drain") ||
		!strings.Contains(r.stderr, "drainctl restore rs-1 --request-id NEW_ID") {
		t.Errorf("retry of a restore: want exit 1 and the restore to run\n%s", r)
	}
	if n := e.left("rsp-refuse"); n != 2 {
		t.Errorf("%d servers in the group, want 2 (nothing published)", n)
	}

	// A failed remove-mode drain takes no --drain-timeout.
	r = e.drainctl("", "drain", "--region", testRegion, "--group", "rsp-refuse", "--server", "i-refuse-0002:80", "--request-id", "rm-1",
		"--force", "--wait")
	if r.code != exitFailed {
		t.Fatalf("drain of a denied group: want exit 1\n%s", r)
	}
	r = e.drainctl("", "retry", "rm-1", "--drain-timeout", "5s")
	if r.code != exitUsage || !strings.Contains(r.stderr, "--drain-timeout 5s: request rm-1 was a drain of mode remove, not a graceful one") {
		t.Errorf("--drain-timeout on a remove drain: want exit 2 and why\n%s", r)
	}
}

func TestRetryV2BadUsage(t *testing.T) {
	url := closedURL(t) // bad usage is found before connecting
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"--drain-timeout", "61m"}, "--drain-timeout 1h1m0s: must be 0s..1h0m0s"},
		{[]string{"--drain-timeout", "-1s"}, "must be 0s..1h"},
		{[]string{"--force=maybe"}, "--force"},
	} {
		r := runCLI(t, "", append([]string{"--nats-url", url, "retry", "x-1"}, tc.args...)...)
		if r.code != exitUsage || !strings.Contains(r.stderr, tc.want) {
			t.Errorf("retry %v: want exit 2 and %q\n%s", tc.args, tc.want, r)
		}
	}
}
