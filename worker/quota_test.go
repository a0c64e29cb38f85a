package worker

import (
	"math/rand/v2"
	"testing"
	"time"
)

type budgetFixture struct {
	b      *budget
	now    time.Time
	share  int
	spents int
}

func newBudgetFixture(q Quota) *budgetFixture {
	f := &budgetFixture{now: time.Date(2026, 11, 27, 10, 0, 0, 0, time.UTC)}
	f.b = newBudget(q, f.now, func(n int) { f.share = n }, func() { f.spents++ })
	return f
}

// window runs one window: calls are made while the budget allows, answered
// by answer(i) (true: throttled); it returns the calls made.
func (f *budgetFixture) window(answer func(i int) bool) int {
	start := f.b.nextWindow()
	n := 0
	for {
		w, ok := f.b.take(f.now)
		if !ok {
			break
		}
		f.b.answered(f.now, w, answer(n))
		n++
	}
	f.now = start // the next window
	f.b.roll(f.now)
	return n
}

func never(int) bool { return false }

func TestBudgetSpendsTheWindowThenWaits(t *testing.T) {
	f := newBudgetFixture(Quota{Calls: 15, Window: 10 * time.Second})
	f.now = f.now.Add(3 * time.Second) // mid-window
	for i := range 15 {
		if _, ok := f.b.take(f.now); !ok {
			t.Fatalf("call %d refused, want the quota's 15", i+1)
		}
	}
	if _, ok := f.b.take(f.now); ok {
		t.Fatal("a 16th call allowed in a 15-call window")
	}
	if got, want := f.b.nextWindow(), f.now.Add(7*time.Second); !got.Equal(want) {
		t.Errorf("next window at %s, want %s (a whole multiple of the window)", got, want)
	}
	f.now = f.b.nextWindow()
	if n := f.window(never); n != 15 || f.spents != 0 || f.share != 15 {
		t.Errorf("second window: %d calls, %d spent, share %d; want 15, 0, 15", n, f.spents, f.share)
	}
}

// Another tool spends 5 of each 15-call window first: the worker learns its
// 10 in one window and then makes no throttled call, probing for more only
// every few windows.
func TestBudgetLearnsTheShareOthersLeave(t *testing.T) {
	f := newBudgetFixture(Quota{Calls: 15, Window: 10 * time.Second})
	foreign := 5
	atAvailable := func(i int) bool { return i >= 15-foreign }
	f.window(atAvailable)
	if f.share != 10 || f.spents != 1 {
		t.Fatalf("after a window spent by others: share %d, spent %d; want 10, 1", f.share, f.spents)
	}
	throttled, calls := 0, 0
	for range 20 {
		calls += f.window(func(i int) bool {
			if atAvailable(i) {
				throttled++
				return true
			}
			return false
		})
	}
	if f.share < 10 || f.share > 11 {
		t.Errorf("share %d after 20 windows, want 10 (or 11 while probing)", f.share)
	}
	if throttled*100 > 5*calls {
		t.Errorf("%d of %d calls throttled, want at most 5%%", throttled, calls)
	}
	foreign = 0 // the other tool stops: the share grows back
	for range 5 * cleanWindowsToGrow {
		f.window(atAvailable)
	}
	if f.share != 15 {
		t.Errorf("share %d once the other tool stopped, want back to 15", f.share)
	}
}

// Throttled answers scattered among successes are the API's noise: the
// worker keeps using the whole window.
func TestBudgetIgnoresRandomThrottling(t *testing.T) {
	f := newBudgetFixture(Quota{Calls: 50, Window: time.Second})
	rng := rand.New(rand.NewPCG(1, 2))
	calls := 0
	for range 100 {
		calls += f.window(func(int) bool { return rng.Float64() < 0.3 })
	}
	if calls < 90*50*100/100 {
		t.Errorf("%d calls in 100 windows of 50 with 30%% random throttling, want at least 90%% of 5000", calls)
	}
}

// Concurrent calls are answered in any order: the window is judged in the
// order the calls were taken, so a share spent by another tool is learnt
// even when a throttled answer comes back before a success.
func TestBudgetJudgesAnswersInTakeOrder(t *testing.T) {
	f := newBudgetFixture(Quota{Calls: 5, Window: time.Second})
	for range 10 {
		var tickets []ticket
		for range 5 {
			tk, ok := f.b.take(f.now)
			if !ok {
				break
			}
			tickets = append(tickets, tk)
		}
		// The other tool leaves 3: calls 3 and 4 are throttled, and their
		// answers come back first.
		for i := len(tickets) - 1; i >= 0; i-- {
			f.b.answered(f.now, tickets[i], tickets[i].n >= 3)
		}
		f.now = f.b.nextWindow()
		f.b.roll(f.now)
	}
	if f.share != 3 && f.share != 4 {
		t.Errorf("share %d, want the 3 calls the other tool leaves (4 while probing)", f.share)
	}
}

func TestBudgetRefundAndStaleAnswers(t *testing.T) {
	f := newBudgetFixture(Quota{Calls: 2, Window: time.Second})
	w, _ := f.b.take(f.now)
	f.b.refund(w) // never made
	if got := f.b.available(f.now); got != 2 {
		t.Fatalf("available %d after a refund, want 2", got)
	}
	w, _ = f.b.take(f.now)
	f.b.answered(f.now.Add(time.Second), w, true) // a throttled answer from the window before
	if len(f.b.throttledAt) != 0 {
		t.Error("an answer from a past window counted in this one")
	}
}

func TestParseQuota(t *testing.T) {
	for _, tc := range []struct {
		in     string
		action string
		q      Quota
		bad    bool
	}{
		{in: "RemoveVServerGroupBackendServers=90/60s", action: ActionRemove, q: Quota{90, time.Minute}},
		{in: "DescribeVServerGroupAttribute=15/10s", action: ActionDescribe, q: Quota{15, 10 * time.Second}},
		{in: "RemoveVServerGroupBackendServers=90", bad: true},
		{in: "=90/60s", bad: true},
		{in: "X=0/60s", bad: true},
		{in: "X=5/100ms", bad: true},
	} {
		action, q, err := ParseQuota(tc.in)
		if tc.bad != (err != nil) || action != tc.action || q != tc.q {
			t.Errorf("%q: %q %v %v", tc.in, action, q, err)
		}
	}
	if got := (Quota{90, time.Minute}).String(); got != "90/60s" {
		t.Errorf("String %q, want 90/60s", got)
	}
}
