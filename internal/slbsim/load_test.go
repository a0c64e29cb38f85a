package slbsim

import (
	"errors"
	"net"
	"net/http"
	"testing"
	"time"

	sdkerrors "github.com/aliyun/alibaba-cloud-sdk-go/sdk/errors"
	"github.com/aliyun/alibaba-cloud-sdk-go/services/slb"
)

func TestQuotaThrottlesPerAPI(t *testing.T) {
	clock := newFakeClock()
	h := start(t, Config{QPS: 1, Burst: 1, Clock: clock.Now})
	seedGroup(h.sim, "rsp-a", 5)
	cl := h.client()

	// The clock stands still: one call per API fits the burst, the rest of
	// the back-to-back calls are over quota.
	throttled := 0
	for i := range 3 {
		_, err := remove(cl, "rsp-a", servers("i-1:80"))
		if i == 0 {
			if err != nil {
				t.Fatalf("first call: %v", err)
			}
			continue
		}
		se := serverError(t, err, http.StatusBadRequest, CodeThrottlingUser)
		if se.Message() != "Request was denied due to user flow control." {
			t.Errorf("message %q", se.Message())
		}
		throttled++
	}
	// Another API has its own quota.
	describe := slb.CreateDescribeVServerGroupAttributeRequest()
	describe.VServerGroupId = "rsp-a"
	if _, err := cl.DescribeVServerGroupAttribute(describe); err != nil {
		t.Errorf("describe under Remove's exhausted quota: %v", err)
	}
	if st := h.sim.Stats(); st.Throttled != int64(throttled) || st.Faulted != 0 {
		t.Errorf("stats %+v, want %d throttled, none faulted", st, throttled)
	}

	clock.Advance(time.Second)
	if _, err := remove(cl, "rsp-a", servers("i-2:80")); err != nil {
		t.Fatalf("a second later: %v", err)
	}
	h.sim.SetQPS(0, 0)
	for range 3 {
		if _, err := remove(cl, "rsp-a", servers("i-3:80")); err != nil {
			t.Fatalf("unlimited: %v", err)
		}
	}
}

func TestInjectedErrorFaults(t *testing.T) {
	h := start(t, Config{})
	seedGroup(h.sim, "rsp-a", 1)
	cl := h.client()
	for _, tc := range []struct {
		faults Faults
		status int
		code   string
	}{
		{Faults{Throttling: 1}, http.StatusBadRequest, CodeThrottling},
		{Faults{ServiceUnavailable: 1}, http.StatusServiceUnavailable, CodeServiceUnavailable},
		{Faults{SystemBusy: 1}, http.StatusBadRequest, CodeSystemBusy},
	} {
		h.sim.SetFaults(tc.faults)
		_, err := remove(cl, "rsp-a", servers("i-1:80"))
		serverError(t, err, tc.status, tc.code)
		if c := h.waitCall(); c.Fault != tc.code || c.Code != tc.code {
			t.Errorf("call log: fault %q code %q, want %s", c.Fault, c.Code, tc.code)
		}
	}
	if got, _ := h.sim.Backends(testRegion, "rsp-a"); len(got) != 1 {
		t.Errorf("a faulted call applied its action")
	}
	if st := h.sim.Stats(); st.Faulted != 3 || st.Throttled != 1 || st.Succeeded != 0 {
		t.Errorf("stats %+v", st)
	}
	h.sim.SetFaults(Faults{})
	if _, err := remove(cl, "rsp-a", servers("i-1:80")); err != nil {
		t.Fatalf("faults off: %v", err)
	}
}

func TestDropFaultIsAClientError(t *testing.T) {
	h := start(t, Config{Faults: Faults{Drop: 1}})
	seedGroup(h.sim, "rsp-a", 1)
	_, err := remove(h.client(), "rsp-a", servers("i-1:80"))
	if err == nil {
		t.Fatal("dropped call succeeded")
	}
	var se *sdkerrors.ServerError
	if errors.As(err, &se) {
		t.Fatalf("dropped call answered %v", se)
	}
	c := h.waitCall()
	if c.Code != CodeDropped || c.Fault != "Drop" || c.HTTPStatus != 0 {
		t.Errorf("call log %+v", c)
	}
	if got, _ := h.sim.Backends(testRegion, "rsp-a"); len(got) != 1 {
		t.Errorf("a dropped request applied its action")
	}
}

func TestSlowFaultTimesOutTheClient(t *testing.T) {
	h := start(t, Config{Faults: Faults{Slow: 1, SlowDelay: time.Minute}})
	seedGroup(h.sim, "rsp-a", 2)
	_, err := remove(h.clientWith(testAK, testSecret, 200*time.Millisecond), "rsp-a", servers("i-1:80"))
	var netErr net.Error
	if !errors.As(err, &netErr) || !netErr.Timeout() {
		t.Fatalf("want a client timeout, got %T: %v", err, err)
	}
	// The handler gives up its minute-long wait when the client goes away.
	c := h.waitCall()
	if c.Fault != "Slow" {
		t.Errorf("call log %+v", c)
	}
	// The action ran; only the answer was late.
	if got, _ := h.sim.Backends(testRegion, "rsp-a"); backendIDs(got) != "i-2:80" {
		t.Errorf("group holds %q, want i-2:80", backendIDs(got))
	}
}

func TestCloseReleasesSlowCalls(t *testing.T) {
	started := make(chan struct{}, 1)
	h := start(t, Config{
		Faults:      Faults{Slow: 1, SlowDelay: time.Hour},
		OnCallStart: func(Call) { started <- struct{}{} },
	})
	seedGroup(h.sim, "rsp-a", 1)
	cl := h.clientWith(testAK, testSecret, time.Hour)
	done := make(chan error, 1)
	go func() {
		_, err := remove(cl, "rsp-a", servers("i-1:80"))
		done <- err
	}()
	select {
	case <-started:
	case <-time.After(waitLimit):
		t.Fatal("call never arrived")
	}
	closed := make(chan error, 1)
	go func() { closed <- h.srv.Close() }()
	select {
	case err := <-closed:
		if err != nil {
			t.Errorf("close: %v", err)
		}
	case <-time.After(waitLimit):
		t.Fatal("Close did not return")
	}
	// The handler is released from its hour-long wait...
	if c := h.waitCall(); c.Fault != "Slow" {
		t.Errorf("call log %+v", c)
	}
	// ...and the client is not left hanging on a closed server.
	select {
	case err := <-done:
		var se *sdkerrors.ServerError
		if errors.As(err, &se) {
			t.Errorf("unexpected API error %v", se)
		}
	case <-time.After(waitLimit):
		t.Fatal("the client is still waiting after Close")
	}
}

func TestFaultsAreReproducibleFromSeed(t *testing.T) {
	draw := func(seed int64) []fault {
		s := New(Config{Seed: seed, Faults: Faults{Throttling: 0.25, ServiceUnavailable: 0.25}})
		out := make([]fault, 200)
		for i := range out {
			out[i], _ = s.rollFault()
		}
		return out
	}
	a, b, c := draw(7), draw(7), draw(8)
	counts := map[fault]int{}
	same := true
	for i := range a {
		if a[i] != b[i] {
			t.Fatalf("draw %d differs under the same seed", i)
		}
		same = same && a[i] == c[i]
		counts[a[i]]++
	}
	if same {
		t.Error("another seed gave the same draws")
	}
	if counts[noFault] == 0 || counts[faultThrottling] == 0 || counts[faultServiceUnavailable] == 0 || len(counts) != 3 {
		t.Errorf("draws %v: want a mix of exactly none, Throttling and ServiceUnavailable", counts)
	}
}

func TestOverlappingRemovesOnAGroupAreCounted(t *testing.T) {
	arrived := make(chan Call, 4)
	release := make(chan struct{})
	h := start(t, Config{OnCallStart: func(c Call) {
		arrived <- c
		<-release // hold every call open until both are in
	}})
	seedGroup(h.sim, "rsp-a", 4)
	seedGroup(h.sim, "rsp-b", 4)

	run := func(group, server string) chan error {
		done := make(chan error, 1)
		cl := h.client() // one client per goroutine: the SDK client is not safe for concurrent use
		go func() {
			_, err := remove(cl, group, servers(server))
			done <- err
		}()
		return done
	}
	waitArrivals := func(n int) {
		for range n {
			select {
			case <-arrived:
			case <-time.After(waitLimit):
				t.Fatal("call never arrived")
			}
		}
	}

	// Two Removes on rsp-a and one on rsp-b at once: one overlap.
	calls := []chan error{run("rsp-a", "i-1:80"), run("rsp-a", "i-2:80"), run("rsp-b", "i-1:80")}
	waitArrivals(3)
	close(release)
	for _, done := range calls {
		if err := <-done; err != nil {
			t.Fatalf("remove: %v", err)
		}
	}
	if st := h.sim.Stats(); st.Overlaps != 1 {
		t.Errorf("overlaps %d, want 1", st.Overlaps)
	}
	flagged := 0
	for _, c := range h.sim.Calls() {
		if c.Overlap {
			flagged++
			if c.GroupID != "rsp-a" {
				t.Errorf("overlap flagged on %s", c.GroupID)
			}
		}
	}
	if flagged != 1 {
		t.Errorf("%d calls flagged as overlapping, want 1", flagged)
	}

	// One after the other: no overlap.
	h.sim.Reset()
	for _, s := range []string{"i-3:80", "i-4:80"} {
		done := run("rsp-a", s)
		waitArrivals(1)
		if err := <-done; err != nil {
			t.Fatalf("remove: %v", err)
		}
	}
	if st := h.sim.Stats(); st.Overlaps != 0 || st.Calls != 2 {
		t.Errorf("sequential calls: stats %+v", st)
	}
}

func TestAWeightCallDuringARemoveIsAnOverlapButAReadIsNot(t *testing.T) {
	arrived := make(chan Call, 4)
	release := make(chan struct{})
	h := start(t, Config{OnCallStart: func(c Call) {
		arrived <- c
		<-release
	}})
	seedGroup(h.sim, "rsp-a", 2)
	calls := []func(cl *slb.Client) error{
		func(cl *slb.Client) error { _, err := remove(cl, "rsp-a", servers("i-1:80")); return err },
		func(cl *slb.Client) error {
			_, err := setAttribute(cl, "rsp-a", "", `[{"ServerId":"i-2","Port":"80","Weight":"0"}]`)
			return err
		},
		func(cl *slb.Client) error { _, err := describe(cl, "rsp-a"); return err },
	}
	done := make(chan error, len(calls))
	for _, call := range calls {
		cl := h.client()
		go func() { done <- call(cl) }()
	}
	for range calls {
		select {
		case <-arrived:
		case <-time.After(waitLimit):
			t.Fatal("call never arrived")
		}
	}
	close(release)
	for range calls {
		if err := <-done; err != nil {
			t.Fatal(err)
		}
	}
	if st := h.sim.Stats(); st.Overlaps != 1 {
		t.Errorf("overlaps %d, want 1: the second write, not the read", st.Overlaps)
	}
	for _, c := range h.sim.Calls() {
		if c.Overlap && c.Action == actionDescribe {
			t.Error("a read flagged as an overlap")
		}
	}
}

func TestLatencyIsAppliedAndInterruptible(t *testing.T) {
	// A latency far past the client's timeout: the client gives up and the
	// handler, seeing it go, returns instead of waiting the hour out.
	h := start(t, Config{Latency: time.Hour})
	seedGroup(h.sim, "rsp-a", 1)
	_, err := remove(h.clientWith(testAK, testSecret, 100*time.Millisecond), "rsp-a", servers("i-1:80"))
	var netErr net.Error
	if !errors.As(err, &netErr) || !netErr.Timeout() {
		t.Fatalf("want a client timeout, got %T: %v", err, err)
	}
	h.waitCall()

	h.sim.SetLatency(0, 0)
	if _, err := remove(h.client(), "rsp-a", servers("i-1:80")); err != nil {
		t.Fatalf("latency off: %v", err)
	}
}
