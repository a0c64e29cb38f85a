package slbsim

import (
	"errors"
	"testing"
	"time"
)

// t0 starts a 10 s and a 60 s window: fixed windows start at multiples of
// their length since the epoch.
var t0 = time.Unix(1_700_000_040, 0)

func TestParseQuota(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want Quota
	}{
		{"90/60s", Quota{Calls: 90, Window: time.Minute}},
		{" 15/10s ", Quota{Calls: 15, Window: 10 * time.Second}},
		{"5/1m,sliding", Quota{Calls: 5, Window: time.Minute, Sliding: true}},
		{"15/10s,foreign=0.3", Quota{Calls: 15, Window: 10 * time.Second, ForeignShare: 0.3}},
		{"15/10s,foreign=0.3±0.1,sliding", Quota{Calls: 15, Window: 10 * time.Second, ForeignShare: 0.3, ForeignJitter: 0.1, Sliding: true}},
		{"15/10s,foreign=0.3+-0.1", Quota{Calls: 15, Window: 10 * time.Second, ForeignShare: 0.3, ForeignJitter: 0.1}},
		{"unlimited", Quota{}},
	} {
		got, err := ParseQuota(tc.in)
		if err != nil || got != tc.want {
			t.Errorf("ParseQuota(%q) = %+v, %v; want %+v", tc.in, got, err, tc.want)
			continue
		}
		if back, err := ParseQuota(got.String()); err != nil || back != got {
			t.Errorf("%q: String %q does not parse back: %+v, %v", tc.in, got.String(), back, err)
		}
	}
	for _, bad := range []string{"", "90", "90/", "0/60s", "-1/60s", "x/60s", "90/0s", "90/soon", "90/60s,fast", "90/60s,foreign=1.5", "90/60s,foreign=0.3±x"} {
		if q, err := ParseQuota(bad); err == nil {
			t.Errorf("ParseQuota(%q) = %+v, want an error", bad, q)
		}
	}
}

func TestParseActionQuota(t *testing.T) {
	action, q, err := ParseActionQuota("RemoveVServerGroupBackendServers=15/10s")
	if err != nil || action != actionRemove || q != (Quota{Calls: 15, Window: 10 * time.Second}) {
		t.Errorf("got %s %+v %v", action, q, err)
	}
	if _, _, err := ParseActionQuota("RemoveVServerGroupBackendServer=15/10s"); !errors.Is(err, errUnknownAction) {
		t.Errorf("misspelt action: err %v", err)
	}
	for _, bad := range []string{"15/10s", "=15/10s", "DescribeLoadBalancers=fast"} {
		if _, _, err := ParseActionQuota(bad); err == nil {
			t.Errorf("%q accepted", bad)
		}
	}
}

func TestAlibabaQuotasCoverEveryAction(t *testing.T) {
	qs := AlibabaQuotas()
	for action := range actions {
		if !qs[action].Limited() {
			t.Errorf("%s has no published default", action)
		}
	}
	if qs[actionRemove] != (Quota{Calls: 90, Window: time.Minute}) {
		t.Errorf("remove: %v, want the published 90/60s", qs[actionRemove])
	}
	qs[actionRemove] = Quota{}
	if !AlibabaQuotas()[actionRemove].Limited() {
		t.Error("changing the returned map changed the table")
	}
}

// admitted counts how many of n calls at the same instant w lets through.
func admitted(w *window, at time.Time, n int) int {
	ok := 0
	for range n {
		if w.admit(at) {
			ok++
		}
	}
	return ok
}

func TestFixedWindowRollsOver(t *testing.T) {
	w := newWindow(Quota{Calls: 3, Window: 10 * time.Second}, 0)
	if got := admitted(w, t0, 5); got != 3 {
		t.Fatalf("first window admitted %d of 5, want 3", got)
	}
	if w.admit(t0.Add(10*time.Second - time.Nanosecond)) {
		t.Fatal("admitted in the last instant of a spent window")
	}
	// Refused calls were not counted: the next window is whole.
	if got := admitted(w, t0.Add(10*time.Second), 5); got != 3 {
		t.Fatalf("next window admitted %d, want 3", got)
	}
	// A window with no calls in it changes nothing; two windows later is
	// whole again.
	if got := admitted(w, t0.Add(35*time.Second), 3); got != 3 {
		t.Fatalf("later window admitted %d, want 3", got)
	}
	// Fixed, not sliding: 3 at the end of one window and 3 at the start of
	// the next, 6 within a second.
	w = newWindow(Quota{Calls: 3, Window: 10 * time.Second}, 0)
	if a, b := admitted(w, t0.Add(9500*time.Millisecond), 3), admitted(w, t0.Add(10*time.Second), 3); a+b != 6 {
		t.Errorf("across the boundary %d+%d, want 3+3", a, b)
	}
}

func TestSlidingWindowCountsTheLastWindow(t *testing.T) {
	w := newWindow(Quota{Calls: 3, Window: 10 * time.Second, Sliding: true}, 0)
	for i, at := range []time.Duration{0, 4 * time.Second, 9 * time.Second} {
		if !w.admit(t0.Add(at)) {
			t.Fatalf("call %d refused", i)
		}
	}
	if w.admit(t0.Add(9999 * time.Millisecond)) {
		t.Fatal("a fourth call within 10 s admitted")
	}
	// At t0+10s the first call is exactly a window old: out.
	if !w.admit(t0.Add(10 * time.Second)) {
		t.Fatal("refused once the first call left the window")
	}
	if w.admit(t0.Add(13 * time.Second)) {
		t.Fatal("admitted while the window still holds 3 calls")
	}
	if got := admitted(w, t0.Add(14*time.Second), 2); got != 1 {
		t.Errorf("at 14s %d admitted, want 1 (the call of 4s left)", got)
	}
}

func TestForeignConsumerSpendsItsShareFirst(t *testing.T) {
	q := Quota{Calls: 15, Window: 10 * time.Second, ForeignShare: 0.3}
	if q.Foreign() != 5 || q.Available() != 10 {
		t.Fatalf("15 calls at 30%%: foreign %d, available %d; want 5 and 10", q.Foreign(), q.Available())
	}
	w := newWindow(q, 0)
	for i := range int64(4) {
		if got := admitted(w, t0.Add(time.Duration(i)*10*time.Second), 20); got != 10 {
			t.Errorf("window %d: the client got %d, want 10", i, got)
		}
	}
	all := newWindow(Quota{Calls: 15, Window: 10 * time.Second, ForeignShare: 1}, 0)
	if all.admit(t0) {
		t.Error("admitted although the foreign consumer spends every call")
	}
}

func TestForeignJitterVariesPerWindowWithinBounds(t *testing.T) {
	q := Quota{Calls: 100, Window: 10 * time.Second, ForeignShare: 0.3, ForeignJitter: 0.2}
	shares := func(salt uint64) []int {
		w := newWindow(q, salt)
		var got []int
		for i := range 50 {
			got = append(got, admitted(w, t0.Add(time.Duration(i)*10*time.Second), 200))
		}
		return got
	}
	a := shares(1)
	seen := map[int]bool{}
	for i, n := range a {
		if n < 50 || n > 90 {
			t.Errorf("window %d: client got %d, outside 100-(30±20)", i, n)
		}
		seen[n] = true
	}
	if len(seen) < 10 {
		t.Errorf("only %d distinct shares over 50 windows: the jitter does not vary", len(seen))
	}
	b := shares(1)
	for i := range a {
		if a[i] != b[i] {
			t.Fatalf("window %d: %d then %d with the same salt: not reproducible", i, a[i], b[i])
		}
	}
	c := shares(2)
	same := 0
	for i := range a {
		if a[i] == c[i] {
			same++
		}
	}
	if same == len(a) {
		t.Error("another salt drew the same shares")
	}
}

func TestFlowControlKeysAreIndependent(t *testing.T) {
	f := newFlowControl(Quotas{
		actionRemove:   {Calls: 2, Window: time.Minute},
		actionDescribe: {Calls: 1, Window: time.Minute},
	}, map[string]Quotas{"cn-beijing": {actionRemove: {Calls: 1, Window: time.Minute}}}, 0)
	key := func(region, action, account string) quotaKey { return quotaKey{region, action, account} }
	for _, tc := range []struct {
		k    quotaKey
		want int
	}{
		{key("cn-hangzhou", actionRemove, "a"), 2},
		{key("cn-shanghai", actionRemove, "a"), 2}, // another region
		{key("cn-hangzhou", actionRemove, "b"), 2}, // another account
		{key("cn-hangzhou", actionDescribe, "a"), 1},
		{key("cn-beijing", actionRemove, "a"), 1},    // the region's own rule
		{key("cn-hangzhou", actionAdd, "a"), 10},     // no rule: no limit
		{key("cn-beijing", actionDescribe, "a"), 1},  // no regional rule: the global one
		{key("cn-hangzhou", actionRemove, "a"), 0},   // spent above
		{key("cn-hangzhou", actionRemove, "b"), 0},   // spent above
		{key("cn-shanghai", actionDescribe, "a"), 1}, // untouched
	} {
		if got := countAdmitted(f, tc.k, t0, 10); got != tc.want {
			t.Errorf("%+v: %d admitted, want %d", tc.k, got, tc.want)
		}
	}
	u := f.usage(key("cn-hangzhou", actionRemove, "a"), t0.Add(time.Second))
	if u.Used != 2 || u.Foreign != 0 || !u.Start.Equal(t0) || !u.End.Equal(t0.Add(time.Minute)) {
		t.Errorf("usage %+v", u)
	}
}

func countAdmitted(f *flowControl, k quotaKey, at time.Time, n int) int {
	ok := 0
	for range n {
		if f.admit(k, at) {
			ok++
		}
	}
	return ok
}

func TestFlowControlSetReplacesTheRule(t *testing.T) {
	f := newFlowControl(nil, nil, 0)
	k := quotaKey{"cn-hangzhou", actionRemove, "a"}
	if got := countAdmitted(f, k, t0, 5); got != 5 {
		t.Fatalf("no quota: %d of 5", got)
	}
	f.set("", actionRemove, Quota{Calls: 2, Window: time.Minute})
	if got := countAdmitted(f, k, t0, 5); got != 2 {
		t.Fatalf("after set: %d, want 2", got)
	}
	f.set("cn-hangzhou", actionRemove, Quota{Calls: 3, Window: time.Minute})
	if got := countAdmitted(f, k, t0, 5); got != 3 {
		t.Fatalf("after a regional set: %d, want 3 (a fresh window)", got)
	}
	if got := countAdmitted(f, quotaKey{"cn-beijing", actionRemove, "a"}, t0, 5); got != 2 {
		t.Errorf("other region: %d, want the global 2", got)
	}
	f.set("cn-hangzhou", actionRemove, Quota{})
	if got := countAdmitted(f, k, t0, 5); got != 5 {
		t.Errorf("regional unlimited: %d, want 5", got)
	}
}

func TestWithForeignShareCopies(t *testing.T) {
	base := AlibabaQuotas()
	shared := base.WithForeignShare(0.3, 0.1)
	for action, q := range shared {
		if q.ForeignShare != 0.3 || q.ForeignJitter != 0.1 || q.Calls != base[action].Calls {
			t.Errorf("%s: %v", action, q)
		}
		if base[action].ForeignShare != 0 {
			t.Errorf("%s: the original changed", action)
		}
	}
}
