package worker

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/aliyun/alibaba-cloud-sdk-go/sdk/auth"
	"github.com/aliyun/alibaba-cloud-sdk-go/sdk/auth/credentials"

	"github.com/slbdrain/slbdrain/internal/slbsim"
	"github.com/slbdrain/slbdrain/messages"
)

func staticAK(id, secret string) auth.Credential {
	return credentials.NewAccessKeyCredential(id, secret)
}

func req(id, group string, servers ...messages.BackendServer) messages.DrainRequest {
	return messages.DrainRequest{Version: 1, RequestID: id, RegionID: testRegion, VServerGroupID: group,
		BackendServers: servers, Reason: "test", Source: "worker_e2e_test"}
}

func TestSingleRequestCompletes(t *testing.T) {
	h := newHarness(t, slbsim.Config{})
	servers := h.seedGroup("rsp-single", 3)
	h.startWorker(testConfig())
	h.publish(req("single-1", "rsp-single", servers[0], servers[1]))

	o := h.waitOutcomes(10*time.Second, "single-1")["single-1"]
	if o.Status != messages.StatusCompleted || o.Error != nil {
		t.Fatalf("outcome %+v, want completed without error", o)
	}
	if o.Attempts != 1 || len(o.APIRequestIDs) != 1 || o.APIRequestIDs[0] == "" {
		t.Errorf("attempts %d, api_request_ids %v: want one call", o.Attempts, o.APIRequestIDs)
	}
	if o.StreamSequence == 0 || o.ReceivedAt.IsZero() || o.FinishedAt.Before(o.ReceivedAt) {
		t.Errorf("stream_sequence %d, received_at %s, finished_at %s", o.StreamSequence, o.ReceivedAt, o.FinishedAt)
	}
	if o.Source != "worker_e2e_test" || o.Reason != "test" || len(o.BackendServers) != 2 {
		t.Errorf("event does not carry the request: %+v", o)
	}
	if got := h.events.msgIDs["single-1"]; got != "event:single-1" {
		t.Errorf("Nats-Msg-Id %q, want event:single-1", got)
	}
	left, _ := h.sim.Backends(testRegion, "rsp-single")
	if len(left) != 1 || left[0].ServerID != servers[2].ServerID {
		t.Errorf("group holds %v, want only %s", left, servers[2].ServerID)
	}
	if strings.Contains(h.logs.String(), testSecret) {
		t.Error("the AccessKey secret appears in the logs")
	}
}

func TestBurstCoalescesPerGroup(t *testing.T) {
	h := newHarness(t, slbsim.Config{})
	h.ensureStreams()
	const groups, perGroup = 40, 50
	var reqs []messages.DrainRequest
	var ids []string
	ideal := 0
	for g := range groups {
		group := fmt.Sprintf("rsp-burst%02d", g)
		servers := h.seedGroup(group, perGroup)
		ideal += (perGroup + 19) / 20
		for i, s := range servers {
			id := fmt.Sprintf("burst-%02d-%03d", g, i)
			reqs = append(reqs, req(id, group, s))
			ids = append(ids, id)
		}
	}
	// Requests interleave over groups, as in a scale-in storm.
	interleaved := make([]messages.DrainRequest, 0, len(reqs))
	for i := range perGroup {
		for g := range groups {
			interleaved = append(interleaved, reqs[g*perGroup+i])
		}
	}
	// The burst is in the stream when the worker starts (as after a restart
	// in a storm): deterministic on a loaded machine. drainbench measures a
	// burst that arrives while the worker runs.
	h.publishAsync(interleaved)
	cfg := testConfig()
	cfg.SLBQPS = 20 // the account's quota paces calls; queues fill meanwhile
	h.startWorker(cfg)

	outs := h.waitOutcomes(60*time.Second, ids...)
	for id, o := range outs {
		if o.Status != messages.StatusCompleted {
			t.Fatalf("%s: %s %+v", id, o.Status, o.Error)
		}
	}
	st := h.sim.Stats()
	if st.MaxBatch > 20 {
		t.Errorf("a call carried %d servers, limit 20", st.MaxBatch)
	}
	if st.Overlaps != 0 {
		t.Errorf("%d overlapping calls on one group", st.Overlaps)
	}
	t.Logf("%d remove calls for %d servers, ideal %d", st.RemoveCalls, groups*perGroup, ideal)
	if limit := float64(ideal) * 1.02; float64(st.RemoveCalls) > limit {
		t.Errorf("%d remove calls, ideal %d (limit %.0f)", st.RemoveCalls, ideal, limit)
	}
	for g := range groups {
		if left, _ := h.sim.Backends(testRegion, fmt.Sprintf("rsp-burst%02d", g)); len(left) != 0 {
			t.Fatalf("group %d still holds %d servers", g, len(left))
		}
	}
}

func TestSameServerInSeveralRequestsIsSentOnce(t *testing.T) {
	h := newHarness(t, slbsim.Config{})
	h.ensureStreams()
	s := h.seedGroup("rsp-shared", 4)
	h.publish(req("shared-a", "rsp-shared", s[0], s[1]))
	h.publish(req("shared-b", "rsp-shared", s[1], s[2]))
	h.publish(req("shared-c", "rsp-shared", s[1]))
	cfg := testConfig()
	cfg.Linger = 500 * time.Millisecond // all three arrive before the call leaves, even on a loaded machine
	h.startWorker(cfg)

	outs := h.waitOutcomes(10*time.Second, "shared-a", "shared-b", "shared-c")
	for id, o := range outs {
		if o.Status != messages.StatusCompleted {
			t.Errorf("%s: %s", id, o.Status)
		}
	}
	calls := h.sim.Calls()
	sent := 0
	for _, c := range calls {
		if c.Action == "RemoveVServerGroupBackendServers" {
			sent += c.Servers
		}
	}
	if sent != 3 {
		t.Errorf("%d servers sent over %d calls, want 3 (s1 folded)", sent, len(calls))
	}
}

func TestLargeRequestSpansCalls(t *testing.T) {
	h := newHarness(t, slbsim.Config{})
	servers := h.seedGroup("rsp-large", 45)
	h.startWorker(testConfig())
	h.publish(req("large-45", "rsp-large", servers...))

	o := h.waitOutcomes(10*time.Second, "large-45")["large-45"]
	if o.Status != messages.StatusCompleted {
		t.Fatalf("status %s %+v", o.Status, o.Error)
	}
	if o.Attempts != 3 || len(o.APIRequestIDs) != 3 {
		t.Errorf("attempts %d, api_request_ids %d, want 3 calls (20+20+5)", o.Attempts, len(o.APIRequestIDs))
	}
	var sizes []int
	for _, c := range h.sim.Calls() {
		sizes = append(sizes, c.Servers)
	}
	if fmt.Sprint(sizes) != "[20 20 5]" {
		t.Errorf("call sizes %v, want [20 20 5]", sizes)
	}
	if left, _ := h.sim.Backends(testRegion, "rsp-large"); len(left) != 0 {
		t.Errorf("%d servers left", len(left))
	}
}

func TestThrottlingQuotaAndRandomThrottlesAllComplete(t *testing.T) {
	h := newHarness(t, slbsim.Config{QPS: 30, Burst: 5, Faults: slbsim.Faults{Throttling: 0.2}, Seed: 7})
	ids := h.publishSpread(t, "thr", 8, 30)
	cfg := testConfig()
	cfg.SLBQPS = 200 // above the quota: the adaptive rate must find it
	h.startWorker(cfg)
	assertAllCompleted(t, h.waitOutcomes(60*time.Second, ids...))
	if h.sim.Stats().Throttled == 0 {
		t.Error("the emulator throttled nothing: the test did not test throttling")
	}
}

func TestUnavailableAndTimeoutsAreRetried(t *testing.T) {
	h := newHarness(t, slbsim.Config{Seed: 3, Faults: slbsim.Faults{ServiceUnavailable: 0.2, Slow: 0.1, SlowDelay: 5 * time.Second, Drop: 0.05}})
	ids := h.publishSpread(t, "flaky", 6, 20)
	h.startWorker(testConfig())
	assertAllCompleted(t, h.waitOutcomes(60*time.Second, ids...))
	st := h.sim.Stats()
	if st.Faulted == 0 {
		t.Error("no fault was injected")
	}
}

// publishSpread seeds groups of n servers and publishes one single-server
// request per server, before any worker runs.
func (h *harness) publishSpread(t *testing.T, prefix string, groups, n int) []string {
	h.ensureStreams()
	var reqs []messages.DrainRequest
	var ids []string
	for g := range groups {
		group := fmt.Sprintf("rsp-%s%02d", prefix, g)
		for i, s := range h.seedGroup(group, n) {
			id := fmt.Sprintf("%s-%02d-%03d", prefix, g, i)
			reqs = append(reqs, req(id, group, s))
			ids = append(ids, id)
		}
	}
	h.publishAsync(reqs)
	return ids
}

func assertAllCompleted(t *testing.T, outs map[string]messages.Outcome) {
	t.Helper()
	for id, o := range outs {
		if o.Status != messages.StatusCompleted {
			t.Errorf("%s: %s %+v", id, o.Status, o.Error)
		}
	}
}

func TestUnknownGroupFails(t *testing.T) {
	h := newHarness(t, slbsim.Config{})
	h.sim.AddInstances(testRegion, "i-ghost")
	h.startWorker(testConfig())
	h.publish(req("ghost-1", "rsp-doesnotexist", messages.BackendServer{ServerID: "i-ghost", Port: 80}))
	o := h.waitOutcomes(10*time.Second, "ghost-1")["ghost-1"]
	if o.Status != messages.StatusFailed || o.Error == nil || o.Error.Code != "InvalidParameter" {
		t.Fatalf("outcome %s %+v, want failed with InvalidParameter", o.Status, o.Error)
	}
	if len(o.APIRequestIDs) == 0 {
		t.Error("failed event lacks the API request id")
	}
}

func TestOneBadServerFailsOnlyItsRequest(t *testing.T) {
	h := newHarness(t, slbsim.Config{})
	h.ensureStreams()
	s := h.seedGroup("rsp-mixed", 3)
	h.publish(req("mixed-good-1", "rsp-mixed", s[0]))
	h.publish(req("mixed-bad", "rsp-mixed", s[1], messages.BackendServer{ServerID: "i-neverexisted", Port: 80}))
	h.publish(req("mixed-good-2", "rsp-mixed", s[2]))
	cfg := testConfig()
	cfg.Linger = 50 * time.Millisecond
	h.startWorker(cfg)

	outs := h.waitOutcomes(10*time.Second, "mixed-good-1", "mixed-bad", "mixed-good-2")
	if outs["mixed-good-1"].Status != messages.StatusCompleted || outs["mixed-good-2"].Status != messages.StatusCompleted {
		t.Errorf("good requests: %s, %s", outs["mixed-good-1"].Status, outs["mixed-good-2"].Status)
	}
	bad := outs["mixed-bad"]
	if bad.Status != messages.StatusFailed || bad.Error == nil || bad.Error.Code != "InvalidServerId.NotFound" {
		t.Fatalf("bad request: %s %+v", bad.Status, bad.Error)
	}
	// The call is split until the refused server stands alone: the good
	// server of the same request is removed, and only the bad one is not.
	if len(bad.NotRemoved) != 1 || bad.NotRemoved[0].ServerID != "i-neverexisted" ||
		len(bad.Removed) != 1 || bad.Removed[0] != s[1] {
		t.Errorf("removed %v, not_removed %v; want %v removed and only i-neverexisted not", bad.Removed, bad.NotRemoved, s[1])
	}
	if !strings.Contains(bad.Error.Message, "i-neverexisted") {
		t.Errorf("message %q does not name the refused server", bad.Error.Message)
	}
	if h.sim.Stats().RemoveCalls < 2 {
		t.Error("the shared call was not split")
	}
}

func TestInvalidRequestsAreRejectedAndDoNotBlock(t *testing.T) {
	h := newHarness(t, slbsim.Config{})
	h.ensureStreams()
	good := h.seedGroup("rsp-good", 1)
	subj := messages.RequestSubject(testRegion, "rsp-bad")
	cases := []struct {
		id, subject, body string
	}{
		{"bad-json", subj, `{"version":1,`},
		{"bad-unknown-field", subj, `{"version":1,"request_id":"bad-unknown-field","region_id":"cn-hangzhou","vserver_group_id":"rsp-bad","backend_servers":[{"server_id":"i-1","port":80}],"reasn":"x"}`},
		{"bad-version", subj, `{"version":3,"request_id":"bad-version","region_id":"cn-hangzhou","vserver_group_id":"rsp-bad","backend_servers":[{"server_id":"i-1","port":80}]}`},
		{"bad-port", subj, `{"version":1,"request_id":"bad-port","region_id":"cn-hangzhou","vserver_group_id":"rsp-bad","backend_servers":[{"server_id":"i-1","port":0}]}`},
		{"bad-type", subj, `{"version":1,"request_id":"bad-type","region_id":"cn-hangzhou","vserver_group_id":"rsp-bad","backend_servers":[{"server_id":"i-1","port":80,"type":"vm"}]}`},
		{"bad-empty", subj, `{"version":1,"request_id":"bad-empty","region_id":"cn-hangzhou","vserver_group_id":"rsp-bad","backend_servers":[]}`},
		{"bad-subject", messages.RequestSubject(testRegion, "rsp-other"), `{"version":1,"request_id":"bad-subject","region_id":"cn-hangzhou","vserver_group_id":"rsp-bad","backend_servers":[{"server_id":"i-1","port":80}]}`},
		{"bad-deadline", subj, `{"version":1,"request_id":"bad-deadline","region_id":"cn-hangzhou","vserver_group_id":"rsp-bad","backend_servers":[{"server_id":"i-1","port":80}],"deadline":"tomorrow"}`},
	}
	for _, c := range cases {
		h.publishRaw(c.subject, []byte(c.body), "")
	}
	// Unreadable request_id and subject tokens: named by sequence, subject unknown.
	h.publishRaw("slb.drain.request.NOT_A_REGION.x", []byte(`not json`), "")
	h.publish(req("good-behind", "rsp-good", good[0]))
	h.startWorker(testConfig())

	ids := []string{"good-behind"}
	for _, c := range cases {
		if c.id != "bad-json" {
			ids = append(ids, c.id)
		}
	}
	outs := h.waitOutcomes(10*time.Second, ids...)
	if outs["good-behind"].Status != messages.StatusCompleted {
		t.Errorf("valid request behind the bad ones: %s", outs["good-behind"].Status)
	}
	for _, id := range ids[1:] {
		o := outs[id]
		if o.Status != messages.StatusRejected || o.Error == nil || o.Error.Code != messages.CodeInvalidRequest {
			t.Errorf("%s: %s %+v, want rejected InvalidRequest", id, o.Status, o.Error)
		}
	}
	if msg := outs["bad-port"].Error.Message; !strings.Contains(msg, "backend_servers[0].port") {
		t.Errorf("rejection message %q does not name the field", msg)
	}
	h.events.waitCount(t, 10*time.Second, len(ids)+2)
	h.events.mu.Lock()
	defer h.events.mu.Unlock()
	var unknown, bySeq int
	for key, o := range h.events.byID {
		if o.RequestID == "" {
			bySeq++
			if !strings.HasPrefix(h.events.msgIDs[key], "event:seq:") {
				t.Errorf("unnamed rejection has Msg-Id %q", h.events.msgIDs[key])
			}
			if o.Subject() == "slb.drain.event.rejected.unknown.unknown" {
				unknown++
			}
		}
	}
	if bySeq != 2 || unknown != 1 {
		t.Errorf("%d rejections named by sequence (want 2: bad JSON, bad subject), %d on rejected.unknown.unknown (want 1)", bySeq, unknown)
	}
}

func TestDeadlineExpiresWhileBackingOff(t *testing.T) {
	h := newHarness(t, slbsim.Config{Faults: slbsim.Faults{ServiceUnavailable: 1}})
	s := h.seedGroup("rsp-deadline", 2)
	h.startWorker(testConfig())
	soon := time.Now().Add(300 * time.Millisecond)
	r := req("deadline-soon", "rsp-deadline", s[0])
	r.Deadline = &soon
	h.publish(r)
	past := time.Now().Add(-time.Minute)
	r2 := req("deadline-past", "rsp-deadline", s[1])
	r2.Deadline = &past
	h.publish(r2)

	outs := h.waitOutcomes(10*time.Second, "deadline-soon", "deadline-past")
	for id, o := range outs {
		if o.Status != messages.StatusFailed || o.Error == nil || o.Error.Code != messages.CodeDeadlineExceeded {
			t.Errorf("%s: %s %+v, want failed DeadlineExceeded", id, o.Status, o.Error)
		}
	}
	if o := outs["deadline-soon"]; o.Attempts < 2 || o.FinishedAt.Before(soon.Truncate(time.Millisecond)) { // events carry milliseconds
		t.Errorf("deadline-soon: %d attempts, finished %s before its deadline %s", o.Attempts, o.FinishedAt, soon)
	}
	if o := outs["deadline-past"]; o.Attempts != 0 {
		t.Errorf("deadline-past: %d attempts, want none", o.Attempts)
	}
}

func TestCredentialFailureThenRecovery(t *testing.T) {
	h := newHarness(t, slbsim.Config{})
	s := h.seedGroup("rsp-creds", 1)
	w, _, _ := h.startWorker(testConfig())
	h.sim.DisableAccessKey(testAK)
	h.publish(req("creds-1", "rsp-creds", s[0]))
	waitUntil(t, 10*time.Second, "worker not ready", func() bool {
		err := w.Ready()
		return err != nil && strings.Contains(err.Error(), "credentials")
	})
	if n := h.events.len(); n != 0 {
		t.Fatalf("%d events while credentials fail, want none", n)
	}
	h.sim.SetAccessKey(testAK, testSecret)
	o := h.waitOutcomes(20*time.Second, "creds-1")["creds-1"]
	if o.Status != messages.StatusCompleted {
		t.Fatalf("after recovery: %s %+v", o.Status, o.Error)
	}
	h.waitReady(w)
	if !strings.Contains(h.logs.String(), "credentials") {
		t.Error("no log line says the credentials fail")
	}
}

// The largest valid request, with the longest request id, fits the stream the
// worker creates (JetStream counts headers against the message size limit).
func TestLargestRequestFitsTheStream(t *testing.T) {
	h := newHarness(t, slbsim.Config{})
	h.startWorker(testConfig())
	id := strings.Repeat("r", 128)
	r := req(id, "rsp-huge")
	r.Reason, r.Source = strings.Repeat("x", 256), strings.Repeat("y", 256)
	for i := 0; ; i++ {
		r.BackendServers = append(r.BackendServers, messages.BackendServer{ServerID: fmt.Sprintf("i-%062d", i), Port: 65535, Type: "ecs"})
		data, err := r.MarshalJSON()
		if err != nil {
			t.Fatal(err)
		}
		if len(data) > messages.MaxRequestBytes {
			r.BackendServers = r.BackendServers[:len(r.BackendServers)-1]
			break
		}
	}
	h.publish(r)
	o := h.waitOutcomes(20*time.Second, id)[id]
	if o.Status != messages.StatusFailed || o.Error.Code != "InvalidParameter" {
		t.Errorf("%s %+v, want failed: the group does not exist", o.Status, o.Error)
	}
}

// An existing stream keeps its operators' configuration unless the worker is
// told to update it.
func TestExistingStreamsLeftAloneUnlessUpdated(t *testing.T) {
	h := newHarness(t, slbsim.Config{})
	cfg := testConfig()
	cfg.EventMaxAge = time.Hour
	h.createStreams(cfg)
	maxAge := func() time.Duration {
		s, err := h.js.Stream(context.Background(), messages.EventStream)
		if err != nil {
			t.Fatal(err)
		}
		return s.CachedInfo().Config.MaxAge
	}
	cfg.EventMaxAge = 2 * time.Hour
	_, stop, _ := h.startWorker(cfg)
	if got := maxAge(); got != time.Hour {
		t.Errorf("events max age %s after a worker start, want the existing 1h", got)
	}
	if err := stop(); err != nil {
		t.Fatal(err)
	}
	cfg.UpdateStreams = true
	h.startWorker(cfg)
	if got := maxAge(); got != 2*time.Hour {
		t.Errorf("events max age %s with UpdateStreams, want 2h", got)
	}
}

// A rejected request's over-long reason and source are cut in its event,
// which then follows outcome.v1.json (the event log checks every event).
func TestRejectedEventKeepsToItsSchema(t *testing.T) {
	h := newHarness(t, slbsim.Config{})
	h.ensureStreams()
	long := strings.Repeat("é", 300)
	body := `{"version":1,"request_id":"long-reason","region_id":"cn-hangzhou","vserver_group_id":"rsp-bad",` +
		`"backend_servers":[{"server_id":"i-1","port":80}],"reason":"` + long + `","source":"` + long + `"}`
	h.publishRaw(messages.RequestSubject(testRegion, "rsp-bad"), []byte(body), "")
	h.startWorker(testConfig())
	o := h.waitOutcomes(10*time.Second, "long-reason")["long-reason"]
	if o.Status != messages.StatusRejected {
		t.Fatalf("status %s, want rejected", o.Status)
	}
	if n := utf8.RuneCountInString(o.Reason); n != messages.MaxTextChars || !strings.HasPrefix(long, o.Reason) {
		t.Errorf("reason of %d characters in the event, want the first %d", n, messages.MaxTextChars)
	}
	if n := utf8.RuneCountInString(o.Source); n != messages.MaxTextChars {
		t.Errorf("source of %d characters in the event, want %d", n, messages.MaxTextChars)
	}
	for _, want := range []string{"reason: at most 256 characters", "reason truncated to 256 characters", "source truncated"} {
		if !strings.Contains(o.Error.Message, want) {
			t.Errorf("error message %q does not say %q", o.Error.Message, want)
		}
	}
}

// A request for a server that the group's latest answer showed gone (a
// re-sent hook) completes on a read's answer that comes after it: no second
// write call, and the event names the read's request id.
func TestResentRequestIsCheckedByARead(t *testing.T) {
	h := newHarness(t, slbsim.Config{})
	servers := h.seedGroup("rsp-resent", 3)
	h.startWorker(testConfig())
	h.publish(req("first", "rsp-resent", servers[0]))
	assertAllCompleted(t, h.waitOutcomes(20*time.Second, "first"))
	reads := len(callsOf(h.sim, ActionDescribe, "rsp-resent"))
	h.publish(req("resent", "rsp-resent", servers[0]))
	o := h.waitOutcomes(20*time.Second, "resent")["resent"]
	if o.Status != messages.StatusCompleted || len(o.APIRequestIDs) != 1 {
		t.Fatalf("outcome %+v, want completed on one API answer", o)
	}
	if n := len(callsOf(h.sim, ActionRemove, "rsp-resent")); n != 1 {
		t.Errorf("%d remove calls, want 1: the re-sent request needs no write", n)
	}
	checks := callsOf(h.sim, ActionDescribe, "rsp-resent")[reads:]
	if len(checks) != 1 || checks[0].RequestID != o.APIRequestIDs[0] {
		t.Errorf("reads after the re-sent request %+v, want the one its event names (%v)", checks, o.APIRequestIDs)
	}
}
