package worker

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aliyun/alibaba-cloud-sdk-go/sdk/auth"
	"github.com/aliyun/alibaba-cloud-sdk-go/sdk/auth/credentials"
	"github.com/nats-io/nats.go"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"

	"github.com/slbdrain/slbdrain/internal/slbsim"
	"github.com/slbdrain/slbdrain/messages"
)

// End-to-end tests of issue 9: Alibaba's windowed, per-region quotas shared
// with other tools, verified removal, and STS credentials. Embedded
// JetStream, the emulator over HTTP, the real SDK.

// TestWindowedQuotaAllComplete drains a few hundred one-server requests under
// a fixed-window quota of 5 remove calls per second, which the worker is told
// about, alone and with another tool of the account spending 40 % of every
// window first. Every request completes, no group ever has two calls in
// flight, and the worker stops knocking on spent windows: throttled answers
// stay a small minority once it has seen a window or two.
func TestWindowedQuotaAllComplete(t *testing.T) {
	quota := Quota{Calls: 5, Window: time.Second}
	for _, tc := range []struct {
		name    string
		foreign float64
	}{
		{"alone", 0},
		{"foreign consumer takes 40%", 0.4},
	} {
		t.Run(tc.name, func(t *testing.T) {
			simQuota := slbsim.Quota{Calls: quota.Calls, Window: quota.Window, ForeignShare: tc.foreign}
			// The API's answers take 2..22 ms: concurrent calls are answered
			// in any order, not in the order the quota admitted them.
			h := newHarness(t, slbsim.Config{Quotas: slbsim.Quotas{ActionRemove: simQuota},
				Latency: 2 * time.Millisecond, LatencyJitter: 20 * time.Millisecond, Seed: 9})
			h.ensureStreams()
			const groups, perGroup = 10, 30
			var reqs []messages.DrainRequest
			var ids []string
			for g := range groups {
				group := fmt.Sprintf("rsp-wq%02d", g)
				for i, s := range h.seedGroup(group, perGroup) {
					id := fmt.Sprintf("wq-%02d-%03d", g, i)
					reqs = append(reqs, req(id, group, s))
					ids = append(ids, id)
				}
			}
			// Interleaved over groups, as in a scale-in storm.
			storm := make([]messages.DrainRequest, 0, len(reqs))
			for i := range perGroup {
				for g := range groups {
					storm = append(storm, reqs[g*perGroup+i])
				}
			}
			cfg := testConfig()
			cfg.Quotas = map[string]Quota{ActionRemove: quota}
			// 10 servers a call: at least 30 calls, so the drain spans several
			// windows however the worker batches.
			cfg.MaxBatch = 10
			reg := prometheus.NewRegistry()
			w, _, _ := h.startWorker(cfg, WithRegisterer(reg))
			h.publishAsync(storm) // arrives while the worker runs

			outs := h.waitOutcomes(120*time.Second, ids...)
			for id, o := range outs {
				if o.Status != messages.StatusCompleted || o.Error != nil {
					t.Errorf("%s: %s %+v, want completed", id, o.Status, o.Error)
				}
			}
			h.assertOneEventEach(ids)
			for g := range groups {
				if left, _ := h.sim.Backends(testRegion, fmt.Sprintf("rsp-wq%02d", g)); len(left) != 0 {
					t.Errorf("group %d still holds %d servers", g, len(left))
				}
			}

			// The worker's counts of its calls and the emulator's agree.
			ok := w.m.apiCalls.WithLabelValues("ok", testRegion, ActionRemove)
			throttled := w.m.apiCalls.WithLabelValues("throttled", testRegion, ActionRemove)
			h.waitCallsLogged(w, testRegion)
			st := h.sim.Stats()
			if st.Overlaps != 0 {
				t.Errorf("%d calls started while another call on the same group was in flight", st.Overlaps)
			}
			if st.MaxBatch > cfg.MaxBatch {
				t.Errorf("a call carried %d servers, max batch %d", st.MaxBatch, cfg.MaxBatch)
			}
			if got := testutil.ToFloat64(throttled); got != float64(st.Throttled) {
				t.Errorf("worker counted %g throttled answers, the emulator gave %d", got, st.Throttled)
			}
			if got := testutil.ToFloat64(ok); got != float64(st.Succeeded) {
				t.Errorf("worker counted %g successful calls, the emulator answered %d", got, st.Succeeded)
			}
			if want := int64(groups * perGroup); st.ServersRemoved != want {
				t.Errorf("%d servers removed, want %d", st.ServersRemoved, want)
			}

			// Throttled answers after the first two windows: the worker has
			// had the chance to learn its share by then.
			calls := removeCalls(h.sim.Calls())
			first := calls[0].Start.Truncate(quota.Window)
			settled := first.Add(2 * quota.Window)
			var late, lateThrottled int
			for _, c := range calls {
				if !c.Start.Before(settled) {
					late++
					if isThrottled(c) {
						lateThrottled++
					}
				}
			}
			t.Logf("%d remove calls (%d throttled) over %s; after the first two windows %d calls, %d throttled; share %g, windows spent %g",
				len(calls), st.Throttled, calls[len(calls)-1].End.Sub(first).Round(time.Millisecond), late, lateThrottled,
				testutil.ToFloat64(w.m.quotaShare.WithLabelValues(testRegion, ActionRemove)),
				testutil.ToFloat64(w.m.quotaWindowsSpent.WithLabelValues(testRegion, ActionRemove)))
			if late == 0 {
				t.Fatalf("every call fell in the first two windows: the quota was not tested")
			}
			if 4*lateThrottled >= late {
				t.Errorf("%d of %d calls after the first two windows throttled, want under 25%%; answers per window, in the order they were given (S ok, T throttled):\n%s",
					lateThrottled, late, answerTrace(calls, quota.Window))
				t.Logf("the answers in the order the worker handled them:\n%s", workerTrace(h.logs.String(), testRegion, quota.Window))
			}

			share := testutil.ToFloat64(w.m.quotaShare.WithLabelValues(testRegion, ActionRemove))
			spent := testutil.ToFloat64(w.m.quotaWindowsSpent.WithLabelValues(testRegion, ActionRemove))
			if tc.foreign > 0 {
				// The other tool leaves 3 of 5: throttled answers must have
				// taught the worker that its share is below the quota.
				if st.Throttled == 0 {
					t.Error("no call was throttled: the foreign consumer was not felt")
				}
				if spent < 1 {
					t.Errorf("quota windows spent %g, want at least 1 (the foreign consumer's windows fill up)", spent)
				}
				if share < 1 || share >= float64(quota.Calls) {
					t.Errorf("learnt share %g calls per window, want 1..%d (the other tool takes %d of %d)",
						share, quota.Calls-1, simQuota.Foreign(), quota.Calls)
				}
			} else if share < 1 || share > float64(quota.Calls) {
				t.Errorf("share %g calls per window, want 1..%d", share, quota.Calls)
			}
			if err := w.Ready(); err != nil {
				t.Errorf("worker not ready after a throttled drain: %v", err)
			}
		})
	}
}

// TestThrottledRegionDoesNotSlowAnother: every remove call in one region is
// throttled (another tool spends its whole quota); the other region's
// requests all complete while the throttled region's still wait, and those
// then fail DeadlineExceeded at their deadline, not long after it.
func TestThrottledRegionDoesNotSlowAnother(t *testing.T) {
	const throttledRegion = "cn-beijing"
	firstThrottled := make(chan struct{})
	var once sync.Once
	h := newHarness(t, slbsim.Config{
		RegionQuotas: map[string]slbsim.Quotas{throttledRegion: {
			ActionRemove: {Calls: 1, Window: time.Hour, ForeignShare: 1},
		}},
		OnCallEnd: func(c slbsim.Call) {
			if c.RegionID == throttledRegion && isThrottled(c) {
				once.Do(func() { close(firstThrottled) })
			}
		},
	})
	reg := prometheus.NewRegistry()
	w, _, _ := h.startWorker(testConfig(), WithRegisterer(reg))

	// The throttled region's requests go first, with a short deadline.
	deadline := time.Now().Add(4 * time.Second)
	var stuck []messages.DrainRequest
	var stuckIDs []string
	for g := range 2 {
		group := fmt.Sprintf("rsp-stuck%d", g)
		servers := seedGroupIn(h, throttledRegion, group, 10)
		for i, s := range servers {
			r := req(fmt.Sprintf("stuck-%d-%02d", g, i), group, s)
			r.RegionID = throttledRegion
			r.Deadline = &deadline
			stuck = append(stuck, r)
			stuckIDs = append(stuckIDs, r.RequestID)
		}
	}
	h.publishAsync(stuck)
	select {
	case <-firstThrottled:
	case <-time.After(time.Until(deadline)):
		t.Fatalf("no throttled call in %s before the deadline", throttledRegion)
	}

	// Now the healthy region's drain, while the other region is throttled.
	var healthy []messages.DrainRequest
	var healthyIDs []string
	for g := range 5 {
		group := fmt.Sprintf("rsp-healthy%d", g)
		for i, s := range h.seedGroup(group, 20) {
			r := req(fmt.Sprintf("healthy-%d-%02d", g, i), group, s)
			healthy = append(healthy, r)
			healthyIDs = append(healthyIDs, r.RequestID)
		}
	}
	h.publishAsync(healthy)
	outs, missing := h.events.waitAll(time.Until(deadline)-500*time.Millisecond, healthyIDs...)
	if len(missing) > 0 {
		t.Fatalf("%d of %d requests of the healthy region not done before the throttled region's deadline (e.g. %s)",
			len(missing), len(healthyIDs), missing[0])
	}
	done, _ := h.events.waitAll(0, stuckIDs...)
	if len(done) != 0 {
		t.Fatalf("%d requests of the throttled region ended before their deadline, while still throttled", len(done))
	}
	assertAllCompleted(t, outs)
	if err := w.Ready(); err != nil {
		t.Errorf("worker not ready while a region is throttled: %v", err)
	}

	// Then the throttled region's requests fail at their deadline.
	stuckOuts := h.waitOutcomes(time.Until(deadline)+5*time.Second, stuckIDs...)
	for id, o := range stuckOuts {
		if o.Status != messages.StatusFailed || o.Error == nil || o.Error.Code != messages.CodeDeadlineExceeded {
			t.Errorf("%s: %s %+v, want failed DeadlineExceeded", id, o.Status, o.Error)
			continue
		}
		if o.FinishedAt.Before(deadline.Truncate(time.Millisecond)) { // events carry milliseconds
			t.Errorf("%s finished at %s, before its deadline %s", id, o.FinishedAt, deadline)
		}
		if late := o.FinishedAt.Sub(deadline); late > 3*time.Second {
			t.Errorf("%s failed %s after its deadline", id, late)
		}
		if len(o.NotRemoved) != 1 || len(o.Removed) != 0 {
			t.Errorf("%s: removed %v, not_removed %v, want its one server not removed", id, o.Removed, o.NotRemoved)
		}
		if len(o.APIRequestIDs) != o.Attempts {
			t.Errorf("%s: %d api_request_ids for %d attempts: throttled tries are listed too", id, len(o.APIRequestIDs), o.Attempts)
		}
	}
	h.assertOneEventEach(stuckIDs)

	h.waitCallsLogged(w, throttledRegion)
	h.waitCallsLogged(w, testRegion)
	var healthyFailed, stuckCalls int
	perWindow := map[time.Time]int{} // the throttled region's calls, by window of the worker's quota
	window := testConfig().Quotas[ActionRemove].Window
	for _, c := range removeCalls(h.sim.Calls()) {
		switch {
		case c.RegionID == testRegion && c.Code != "":
			healthyFailed++
		case c.RegionID == throttledRegion:
			stuckCalls++
			perWindow[c.Start.Truncate(window)]++
			if c.Code != slbsim.CodeThrottlingUser {
				t.Errorf("a call in %s answered %q, want Throttling.User", throttledRegion, c.Code)
			}
		}
	}
	if healthyFailed != 0 {
		t.Errorf("%d failed calls in the healthy region", healthyFailed)
	}
	// Two throttled answers in a row say the window is spent: the worker
	// then waits for the next one rather than retrying at every backoff (5
	// to 50 ms here, which would be dozens of calls a window). A few more
	// may be in flight or straddle a window's end.
	for at, n := range perWindow {
		if n > 5 {
			t.Errorf("%d calls in %s in the window of %s, all throttled: want the spent window left alone after 2",
				n, throttledRegion, at.Format("15:04:05"))
		}
	}
	m := w.m
	configured := float64(testConfig().Quotas[ActionRemove].Calls)
	for _, c := range []struct {
		name      string
		got, want float64
	}{
		{"throttled calls counted in the throttled region", testutil.ToFloat64(m.apiCalls.WithLabelValues("throttled", throttledRegion, ActionRemove)), float64(stuckCalls)},
		{"throttled calls counted in the healthy region", testutil.ToFloat64(m.apiCalls.WithLabelValues("throttled", testRegion, ActionRemove)), 0},
		{"share in the healthy region", testutil.ToFloat64(m.quotaShare.WithLabelValues(testRegion, ActionRemove)), configured},
		{"windows spent in the healthy region", testutil.ToFloat64(m.quotaWindowsSpent.WithLabelValues(testRegion, ActionRemove)), 0},
	} {
		if c.got != c.want {
			t.Errorf("%s: %g, want %g", c.name, c.got, c.want)
		}
	}
	spent := testutil.ToFloat64(m.quotaWindowsSpent.WithLabelValues(throttledRegion, ActionRemove))
	if spent < 1 {
		t.Errorf("windows spent in the throttled region: %g, want at least 1", spent)
	}
	// The worker does not know the other tool's share: each spent window
	// lowers its own (by half at most, so chance costs little).
	if share := testutil.ToFloat64(m.quotaShare.WithLabelValues(throttledRegion, ActionRemove)); share >= configured || share < 1 {
		t.Errorf("share in the throttled region %g after %g spent windows, want lowered from %g", share, spent, configured)
	}
	t.Logf("%d throttled calls in %s over %d windows (%g found spent) for %d requests",
		stuckCalls, throttledRegion, len(perWindow), spent, len(stuckIDs))
}

// TestStickyServerVerifiedRemoval: a remove call that succeeds but whose
// answer still lists a requested server did not remove it. A server that
// goes after two such calls completes on the third; one that never goes
// fails NotRemoved at its deadline and never completes.
func TestStickyServerVerifiedRemoval(t *testing.T) {
	t.Run("goes after two calls", func(t *testing.T) {
		h := newHarness(t, slbsim.Config{})
		s := h.seedGroup("rsp-sticky", 2)
		h.sim.StickServer(testRegion, "rsp-sticky", s[0].ServerID, s[0].Port, 2)
		w, _, _ := h.startWorker(testConfig(), WithRegisterer(prometheus.NewRegistry()))
		h.publish(req("sticky-2", "rsp-sticky", s[0]))

		o := h.waitOutcomes(10*time.Second, "sticky-2")["sticky-2"]
		if o.Status != messages.StatusCompleted || o.Error != nil {
			t.Fatalf("outcome %s %+v, want completed", o.Status, o.Error)
		}
		if o.Attempts < 3 || len(o.APIRequestIDs) != o.Attempts {
			t.Errorf("attempts %d, api_request_ids %v: want 3 or more calls, each listed", o.Attempts, o.APIRequestIDs)
		}
		st := h.sim.Stats()
		if st.RemoveCalls != int64(o.Attempts) || st.Succeeded != st.RemoveCalls {
			t.Errorf("emulator: %d remove calls, %d successful; the event says %d attempts", st.RemoveCalls, st.Succeeded, o.Attempts)
		}
		if left, _ := h.sim.Backends(testRegion, "rsp-sticky"); len(left) != 1 || left[0].ServerID != s[1].ServerID {
			t.Errorf("group holds %v, want only %s", left, s[1].ServerID)
		}
		if n := testutil.ToFloat64(w.m.notRemoved); n != 2 {
			t.Errorf("servers not removed counted %g times, want 2 (the two calls whose answer still listed it)", n)
		}
	})

	t.Run("never goes", func(t *testing.T) {
		h := newHarness(t, slbsim.Config{})
		s := h.seedGroup("rsp-forever", 3)
		h.sim.StickServer(testRegion, "rsp-forever", s[0].ServerID, s[0].Port, slbsim.Forever)
		w, _, _ := h.startWorker(testConfig(), WithRegisterer(prometheus.NewRegistry()))
		deadline := time.Now().Add(1500 * time.Millisecond)
		r := req("sticky-forever", "rsp-forever", s[0], s[1])
		r.Deadline = &deadline
		h.publish(r)

		o := h.waitOutcomes(10*time.Second, "sticky-forever")["sticky-forever"]
		if o.Status != messages.StatusFailed || o.Error == nil || o.Error.Code != codeNotRemoved {
			t.Fatalf("outcome %s %+v, want failed NotRemoved", o.Status, o.Error)
		}
		if fmt.Sprint(o.NotRemoved) != fmt.Sprint([]messages.BackendServer{s[0]}) || fmt.Sprint(o.Removed) != fmt.Sprint([]messages.BackendServer{s[1]}) {
			t.Errorf("removed %v, not_removed %v: want %s removed and %s not", o.Removed, o.NotRemoved, s[1].ServerID, s[0].ServerID)
		}
		if o.FinishedAt.Before(deadline.Truncate(time.Millisecond)) {
			t.Errorf("failed at %s, before its deadline %s", o.FinishedAt, deadline)
		}
		if o.Attempts < 2 || len(o.APIRequestIDs) != o.Attempts {
			t.Errorf("attempts %d, %d api_request_ids: want it retried, every call listed", o.Attempts, len(o.APIRequestIDs))
		}
		waitUntil(t, 5*time.Second, "the emulator logged every call", func() bool {
			return h.sim.Stats().RemoveCalls == int64(o.Attempts)
		})
		if st := h.sim.Stats(); st.Succeeded != st.RemoveCalls {
			t.Errorf("%d of %d calls succeeded, want all: the API never refused, it kept the server", st.Succeeded, st.RemoveCalls)
		}
		if n := testutil.ToFloat64(w.m.notRemoved); n != float64(o.Attempts) {
			t.Errorf("servers not removed counted %g times, want %d (every call's answer listed it)", n, o.Attempts)
		}

		// Later work on the group goes on, and the failed request never
		// gets a second, completed event.
		h.publish(req("after-forever", "rsp-forever", s[2]))
		if after := h.waitOutcomes(10*time.Second, "after-forever")["after-forever"]; after.Status != messages.StatusCompleted {
			t.Errorf("a later request on the group: %s %+v", after.Status, after.Error)
		}
		h.assertOneEventEach([]string{"sticky-forever", "after-forever"})
		if left, _ := h.sim.Backends(testRegion, "rsp-forever"); len(left) != 1 || left[0].ServerID != s[0].ServerID {
			t.Errorf("group holds %v, want only the sticky %s", left, s[0].ServerID)
		}
		if err := w.Ready(); err != nil {
			t.Errorf("worker not ready: %v", err)
		}
	})
}

const (
	stsAK     = "STS.worker-test-ak"
	stsSecret = "sts-secret-do-not-log-91c2"
	stsToken  = "sts-token-do-not-log-5d0e"
)

// TestSTSCredentials: the worker signs with an STS AccessKey and its
// SecurityToken; requests complete. A token the API no longer takes
// (rotated, expired) makes the worker not ready, holding the requests, until
// the API takes it again; then they complete.
func TestSTSCredentials(t *testing.T) {
	good := slbsim.STSCredential{AccessKeyID: stsAK, AccessKeySecret: stsSecret, SecurityToken: stsToken}
	h := newHarness(t, slbsim.Config{STSCredentials: []slbsim.STSCredential{good}})
	s := h.seedGroup("rsp-sts", 3)
	w := h.startWorkerSigningWith(testConfig(), credentials.NewStsTokenCredential(stsAK, stsSecret, stsToken),
		WithRegisterer(prometheus.NewRegistry()))

	h.publish(req("sts-1", "rsp-sts", s[0]))
	if o := h.waitOutcomes(10*time.Second, "sts-1")["sts-1"]; o.Status != messages.StatusCompleted {
		t.Fatalf("with a valid STS credential: %s %+v", o.Status, o.Error)
	}
	for _, c := range removeCalls(h.sim.Calls()) {
		if c.AccessKeyID != stsAK || c.Code != "" {
			t.Errorf("remove call signed with %q answered %q, want %s accepted", c.AccessKeyID, c.Code, stsAK)
		}
	}

	for i, tc := range []struct {
		name  string
		wrong slbsim.STSCredential // what the API holds while the worker's token is wrong
	}{
		{"token rotated away", slbsim.STSCredential{AccessKeyID: stsAK, AccessKeySecret: stsSecret, SecurityToken: "sts-token-rotated"}},
		{"token expired", slbsim.STSCredential{AccessKeyID: stsAK, AccessKeySecret: stsSecret, SecurityToken: stsToken, Expiration: time.Now()}},
	} {
		id := fmt.Sprintf("sts-%d", i+2)
		events := h.events.len()
		h.sim.SetSTSCredential(tc.wrong)
		h.publish(req(id, "rsp-sts", s[i+1]))
		waitUntil(t, 10*time.Second, tc.name+": worker not ready", func() bool {
			err := w.Ready()
			return err != nil && strings.Contains(err.Error(), "credentials")
		})
		if n := h.events.len(); n != events {
			t.Fatalf("%s: %d events while the credentials fail, want none", tc.name, n-events)
		}
		if got := testutil.ToFloat64(w.m.credentialsFailing); got != 1 {
			t.Errorf("%s: credentials failing gauge %g, want 1", tc.name, got)
		}
		h.sim.SetSTSCredential(good) // the API takes the worker's token again
		if o := h.waitOutcomes(20*time.Second, id)[id]; o.Status != messages.StatusCompleted {
			t.Fatalf("%s, after recovery: %s %+v", tc.name, o.Status, o.Error)
		}
		h.waitReady(w)
		if got := testutil.ToFloat64(w.m.credentialsFailing); got != 0 {
			t.Errorf("%s: credentials failing gauge %g after recovery, want 0", tc.name, got)
		}
	}
	h.assertOneEventEach([]string{"sts-1", "sts-2", "sts-3"})
	h.assertLogsHide(stsSecret, stsToken)
}

// TestSTSKeyWithoutTokenHoldsRequests: the worker signs with an STS key pair
// but without its SecurityToken (ALIBABA_CLOUD_SECURITY_TOKEN left out), and
// the API answers MissingSecurityToken, as Alibaba does. That is the
// worker's identity being broken, not the request's fault: the worker must
// report not ready and hold the request, not fail it.
func TestSTSKeyWithoutTokenHoldsRequests(t *testing.T) {
	h := newHarness(t, slbsim.Config{STSCredentials: []slbsim.STSCredential{
		{AccessKeyID: stsAK, AccessKeySecret: stsSecret, SecurityToken: stsToken}}})
	s := h.seedGroup("rsp-notoken", 1)
	w := h.startWorkerSigningWith(testConfig(), staticAK(stsAK, stsSecret))
	h.publish(req("notoken-1", "rsp-notoken", s[0]))
	waitUntil(t, 10*time.Second, "worker not ready", func() bool {
		if outs, _ := h.events.waitAll(0, "notoken-1"); len(outs) > 0 {
			o := outs["notoken-1"]
			t.Fatalf("the request ended %s %+v while the worker's own credentials lack their token, want it held and the worker not ready",
				o.Status, o.Error)
		}
		err := w.Ready()
		return err != nil && strings.Contains(err.Error(), "credentials")
	})
	if n := h.events.len(); n != 0 {
		t.Fatalf("%d events while the credentials fail, want none", n)
	}
	h.assertLogsHide(stsSecret, stsToken)
}

// startWorkerSigningWith is startWorker with the worker signing its calls
// with cred instead of the harness's long-term AccessKey. The worker stops
// when the test ends.
func (h *harness) startWorkerSigningWith(cfg Config, cred auth.Credential, opts ...Option) *Worker {
	h.t.Helper()
	nc, err := nats.Connect(h.url, nats.MaxReconnects(-1), nats.ReconnectWait(100*time.Millisecond))
	if err != nil {
		h.t.Fatal(err)
	}
	h.t.Cleanup(nc.Close) // after the worker stopped: cleanups run last first
	factory, err := NewSDKRemoverFactory(SDKConfig{
		Endpoint: h.simURL, ReadTimeout: 2 * time.Second, ConnectTimeout: time.Second, Credential: cred})
	if err != nil {
		h.t.Fatal(err)
	}
	core := zapcore.NewCore(zapcore.NewJSONEncoder(zap.NewProductionEncoderConfig()), zapcore.AddSync(h.logs), zap.DebugLevel)
	w, err := New(cfg, nc, factory, append([]Option{WithLogger(zap.New(core))}, opts...)...)
	if err != nil {
		h.t.Fatal(err)
	}
	if h.events == nil {
		h.ensureStreamsWith(cfg)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- w.Run(ctx) }()
	h.t.Cleanup(func() {
		cancel()
		select {
		case err := <-done:
			if err != nil {
				h.t.Errorf("worker: %v", err)
			}
		case <-time.After(30 * time.Second):
			h.t.Error("worker did not stop within 30s")
		}
	})
	h.waitReady(w)
	return w
}

// seedGroupIn is seedGroup in another region than the harness's.
func seedGroupIn(h *harness, region, group string, n int) []messages.BackendServer {
	servers := make([]messages.BackendServer, n)
	backends := make([]slbsim.Backend, n)
	for i := range n {
		id := fmt.Sprintf("i-%s-%04d", group[4:], i)
		servers[i] = messages.BackendServer{ServerID: id, Port: 80, Type: "ecs"}
		backends[i] = slbsim.Backend{ServerID: id, Port: 80, Type: "ecs", Weight: 100}
	}
	h.sim.CreateGroup(region, group, backends)
	return servers
}

// assertOneEventEach checks that each request got exactly one event.
func (h *harness) assertOneEventEach(ids []string) {
	h.t.Helper()
	h.events.mu.Lock()
	defer h.events.mu.Unlock()
	for _, id := range ids {
		if n := h.events.count[id]; n != 1 {
			h.t.Errorf("%s: %d events, want exactly 1", id, n)
		}
	}
}

// assertLogsHide checks that none of secrets appears in the worker's logs.
func (h *harness) assertLogsHide(secrets ...string) {
	h.t.Helper()
	logs := h.logs.String()
	for _, s := range secrets {
		if strings.Contains(logs, s) {
			h.t.Errorf("a secret (%.6s...) appears in the worker's logs", s)
		}
	}
}

func removeCalls(calls []slbsim.Call) []slbsim.Call {
	var out []slbsim.Call
	for _, c := range calls {
		if c.Action == ActionRemove {
			out = append(out, c)
		}
	}
	return out
}

func isThrottled(c slbsim.Call) bool {
	return c.Code == slbsim.CodeThrottlingUser || c.Code == slbsim.CodeThrottling
}

// answerTrace writes the remove calls' answers window by window, in the
// order the emulator gave them: S for a success, T for a throttled answer.
func answerTrace(calls []slbsim.Call, window time.Duration) string {
	calls = slices.Clone(calls)
	slices.SortStableFunc(calls, func(a, b slbsim.Call) int { return a.End.Compare(b.End) })
	var b strings.Builder
	var current time.Time
	for _, c := range calls {
		if w := c.Start.Truncate(window); !w.Equal(current) {
			if !current.IsZero() {
				b.WriteByte('\n')
			}
			current = w
			b.WriteString(w.Format("15:04:05.000 "))
		}
		if isThrottled(c) {
			b.WriteByte('T')
		} else {
			b.WriteByte('S')
		}
	}
	return b.String()
}

// workerTrace is answerTrace from the worker's side: its "slb call" log
// lines, in the order it logged them, just before the scheduler learnt from
// each answer.
func workerTrace(logs, region string, window time.Duration) string {
	var b strings.Builder
	var current time.Time
	for line := range strings.Lines(logs) {
		var entry struct {
			Msg    string  `json:"msg"`
			TS     float64 `json:"ts"`
			Class  string  `json:"class"`
			Region string  `json:"region_id"`
		}
		if json.Unmarshal([]byte(line), &entry) != nil || entry.Msg != "slb call" || entry.Region != region {
			continue
		}
		at := time.Unix(0, int64(entry.TS*1e9))
		if w := at.Truncate(window); !w.Equal(current) {
			if !current.IsZero() {
				b.WriteByte('\n')
			}
			current = w
			b.WriteString(w.Format("15:04:05.000 "))
		}
		switch entry.Class {
		case "ok":
			b.WriteByte('S')
		case "throttled":
			b.WriteByte('T')
		default:
			b.WriteByte('?')
		}
	}
	return b.String()
}

// waitCallsLogged waits until the emulator has logged as many remove calls
// in region as the worker counted (the emulator logs a call just after
// answering it), failing the test with both counts if they never agree.
func (h *harness) waitCallsLogged(w *Worker, region string) {
	h.t.Helper()
	counted := func() (n float64) {
		for _, class := range []string{"ok", "throttled", "transient", "credentials", "permanent"} {
			n += testutil.ToFloat64(w.m.apiCalls.WithLabelValues(class, region, ActionRemove))
		}
		return n
	}
	logged := func() (n int) {
		for _, c := range removeCalls(h.sim.Calls()) {
			if c.RegionID == region {
				n++
			}
		}
		return n
	}
	deadline := time.Now().Add(5 * time.Second)
	tick := time.NewTicker(10 * time.Millisecond)
	defer tick.Stop()
	for float64(logged()) != counted() {
		if time.Now().After(deadline) {
			h.t.Fatalf("the emulator logged %d remove calls in %s, the worker counted %g", logged(), region, counted())
		}
		<-tick.C
	}
}
