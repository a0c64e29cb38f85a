package slbsim

import (
	"net/http"
	"testing"
	"time"
)

// tenSeconds is a scaled-down Alibaba quota: 3 calls per 10 s window.
var tenSeconds = Quota{Calls: 3, Window: 10 * time.Second}

// clockAtWindowStart is a fake clock at the start of a 10 s window, so that
// the calls of a test fall in one window until it advances the clock.
func clockAtWindowStart() *fakeClock {
	c := newFakeClock()
	c.now = c.now.Truncate(10 * time.Second)
	return c
}

// removeOK counts how many of n Remove calls succeed, failing the test on
// any error other than Throttling.User.
func (h *harness) removeOK(region, group string, n int, ak, secret string) int {
	h.t.Helper()
	cl, err := NewClient(h.srv.URL, region, ak, secret, 5*time.Second)
	if err != nil {
		h.t.Fatal(err)
	}
	ok := 0
	for range n {
		_, err := cl.RemoveVServerGroupBackendServers(removeReq(region, group, servers("i-1:80")))
		if err == nil {
			ok++
			continue
		}
		se := serverError(h.t, err, http.StatusBadRequest, CodeThrottlingUser)
		if se.Message() != "Request was denied due to user flow control." {
			h.t.Errorf("message %q", se.Message())
		}
	}
	return ok
}

func TestQuotaCountsPerRegionActionAndAccount(t *testing.T) {
	clock := clockAtWindowStart()
	h := start(t, Config{
		AccessKeys:  map[string]string{testAK: testSecret, "ak-same-account": "s2", "ak-other-account": "s3"},
		KeyAccounts: map[string]string{"ak-other-account": "1234567890"},
		Quotas:      Quotas{actionRemove: tenSeconds},
		Clock:       clock.Now,
	})
	seedGroup(h.sim, "rsp-a", 1)
	h.sim.CreateGroup("cn-beijing", "rsp-b", []Backend{{ServerID: "i-1", Port: 80}})

	if got := h.removeOK(testRegion, "rsp-a", 2, testAK, testSecret); got != 2 {
		t.Fatalf("%d of 2 admitted", got)
	}
	// Another key of the same account shares the window.
	if got := h.removeOK(testRegion, "rsp-a", 3, "ak-same-account", "s2"); got != 1 {
		t.Errorf("same account: %d admitted, want the 1 left", got)
	}
	if got := h.removeOK(testRegion, "rsp-a", 4, "ak-other-account", "s3"); got != 3 {
		t.Errorf("other account: %d admitted, want its own 3", got)
	}
	if got := h.removeOK("cn-beijing", "rsp-b", 4, testAK, testSecret); got != 3 {
		t.Errorf("other region: %d admitted, want its own 3", got)
	}
	// Another action has its own quota (here none).
	for range 5 {
		if _, err := describe(h.client(), "rsp-a"); err != nil {
			t.Fatalf("describe: %v", err)
		}
	}
	u := h.sim.QuotaUsage(testRegion, actionRemove, DefaultAccount)
	if u.Used != 3 || u.Quota != tenSeconds || !u.Start.Equal(clock.Now()) || u.End.Sub(u.Start) != 10*time.Second {
		t.Errorf("usage %+v", u)
	}
	if st := h.sim.Stats(); st.Throttled != 2+1+1 {
		t.Errorf("%d throttled answers, want 4", st.Throttled)
	}
	if c := h.lastCall(actionRemove); c.Code != CodeThrottlingUser || c.Account != DefaultAccount {
		t.Errorf("last call %+v", c)
	}

	clock.Advance(10 * time.Second)
	if got := h.removeOK(testRegion, "rsp-a", 4, testAK, testSecret); got != 3 {
		t.Errorf("next window: %d admitted, want 3", got)
	}
}

func TestForeignConsumerAndRegionalQuota(t *testing.T) {
	clock := clockAtWindowStart()
	h := start(t, Config{
		Quotas:       Quotas{actionRemove: {Calls: 10, Window: 10 * time.Second, ForeignShare: 0.3}},
		RegionQuotas: map[string]Quotas{"cn-beijing": {actionRemove: {Calls: 2, Window: 10 * time.Second}}},
		Clock:        clock.Now,
	})
	seedGroup(h.sim, "rsp-a", 1)
	h.sim.CreateGroup("cn-beijing", "rsp-b", []Backend{{ServerID: "i-1", Port: 80}})

	if got := h.removeOK(testRegion, "rsp-a", 10, testAK, testSecret); got != 7 {
		t.Errorf("with a foreign consumer at 30%%: %d of 10 admitted, want 7", got)
	}
	if u := h.sim.QuotaUsage(testRegion, actionRemove, DefaultAccount); u.Used != 7 || u.Foreign != 3 {
		t.Errorf("usage %+v", u)
	}
	if got := h.removeOK("cn-beijing", "rsp-b", 5, testAK, testSecret); got != 2 {
		t.Errorf("regional quota: %d admitted, want 2", got)
	}

	// Quotas change at run time.
	h.sim.SetQuota(actionRemove, Quota{})
	if got := h.removeOK(testRegion, "rsp-a", 5, testAK, testSecret); got != 5 {
		t.Errorf("after lifting the quota: %d of 5", got)
	}
	if got := h.removeOK("cn-beijing", "rsp-b", 2, testAK, testSecret); got != 0 {
		t.Errorf("the regional quota outlives the global one: %d admitted, want 0", got)
	}
	h.sim.SetRegionQuota("cn-beijing", actionRemove, Quota{Calls: 1, Window: 10 * time.Second})
	if got := h.removeOK("cn-beijing", "rsp-b", 2, testAK, testSecret); got != 1 {
		t.Errorf("new regional quota: %d admitted, want 1 in a fresh window", got)
	}
}

func TestAlibabaQuotasThroughTheAPI(t *testing.T) {
	clock := newFakeClock()
	clock.now = clock.now.Truncate(time.Minute)
	h := start(t, Config{Quotas: AlibabaQuotas(), Clock: clock.Now})
	seedGroup(h.sim, "rsp-a", 1)
	if got := h.removeOK(testRegion, "rsp-a", 95, testAK, testSecret); got != 90 {
		t.Errorf("%d of 95 remove calls in a minute admitted, want Alibaba's 90", got)
	}
}
