package worker

import (
	"errors"
	"fmt"
	"maps"
	"math"
	"slices"
	"strconv"
	"strings"
	"time"
)

// SLB API actions the worker calls, as Alibaba names them in its quotas.
const (
	ActionRemove       = "RemoveVServerGroupBackendServers"
	ActionDescribe     = "DescribeVServerGroupAttribute"
	ActionSetAttribute = "SetVServerGroupAttribute"
	ActionAdd          = "AddVServerGroupBackendServers"
	ActionDescribeLBs  = "DescribeLoadBalancers"
	ActionListGroups   = "DescribeVServerGroups"
)

// Quota is one of Alibaba's API rate limits: Calls per Window, counted in
// fixed windows per (region, API action, account) and shared by every tool
// of the account.
type Quota struct {
	Calls  int
	Window time.Duration
}

// String is the quota as --slb-quota writes it: "90/60s".
func (q Quota) String() string {
	w := q.Window.String()
	if q.Window%time.Second == 0 {
		w = strconv.FormatInt(int64(q.Window/time.Second), 10) + "s" // as Alibaba writes it
	}
	return strconv.Itoa(q.Calls) + "/" + w
}

// DefaultQuotas are Alibaba's published defaults for the actions the worker
// calls (contract "API quotas").
func DefaultQuotas() map[string]Quota {
	return map[string]Quota{
		ActionRemove:       {Calls: 90, Window: time.Minute},
		ActionDescribe:     {Calls: 270, Window: time.Minute},
		ActionSetAttribute: {Calls: 90, Window: time.Minute},
		ActionAdd:          {Calls: 90, Window: time.Minute},
		ActionDescribeLBs:  {Calls: 270, Window: time.Minute},
		ActionListGroups:   {Calls: 270, Window: time.Minute},
	}
}

// ParseQuota reads the --slb-quota form ACTION=N/W, e.g.
// RemoveVServerGroupBackendServers=90/60s.
func ParseQuota(s string) (action string, q Quota, err error) {
	action, rule, ok := strings.Cut(s, "=")
	calls, window, ok2 := strings.Cut(rule, "/")
	if !ok || !ok2 || action == "" {
		return "", Quota{}, fmt.Errorf("slb quota %q: want ACTION=N/W, e.g. %s=90/60s", s, ActionRemove)
	}
	if q.Calls, err = strconv.Atoi(calls); err != nil || q.Calls < 1 {
		return "", Quota{}, fmt.Errorf("slb quota %q: calls %q: want a whole number above 0", s, calls)
	}
	if q.Window, err = time.ParseDuration(window); err != nil || q.Window < time.Second {
		return "", Quota{}, fmt.Errorf("slb quota %q: window %q: want a duration of at least 1s, e.g. 60s", s, window)
	}
	return action, q, nil
}

// FormatQuotas writes quotas in the --slb-quota form, sorted by action.
func FormatQuotas(quotas map[string]Quota) []string {
	var out []string
	for _, a := range slices.Sorted(maps.Keys(quotas)) {
		out = append(out, a+"="+quotas[a].String())
	}
	return out
}

func validateQuotas(quotas map[string]Quota) error {
	var errs []error
	for _, a := range slices.Sorted(maps.Keys(quotas)) {
		if q := quotas[a]; q.Calls < 1 || q.Window < time.Second {
			errs = append(errs, fmt.Errorf("slb quota %s=%s: want at least 1 call per window of at least 1s", a, q))
		}
	}
	return errors.Join(errs...)
}

// budget is this worker's share of one quota in one region. Alibaba's
// windows are fixed (whole multiples of the window since the epoch, as far
// as a client can tell); other tools of the account spend the same window,
// so the share is learnt from the answers:
//
//   - calls beyond the share wait for the next window, never retried blindly;
//   - throttled answers after which no newer call succeeded mean the
//     window was spent: the share becomes what succeeded in it, and the rest
//     of the window is not tried again once enough of them come;
//   - throttled answers after which a newer call succeeded are the API's
//     own noise, not the quota: they change nothing but how many it takes
//     to call a window spent;
//   - a share that was used in full without a throttled answer grows by one
//     call every few windows, up to the quota, since other tools come and go.
//
// Not safe for concurrent use: the scheduler's lock guards it.
type budget struct {
	quota Quota
	share int // calls per window this worker may make: learnt, 1..quota.Calls

	// The current window. Calls are numbered in the order they were taken.
	// A throttled answer is noise only if a call taken after that answer came
	// back succeeded: calls in flight together reach the API in any order,
	// so only a later call says the window still had room.
	start       time.Time
	used        int       // calls taken in the window, less refunds
	numbered    int       // the next call's number
	succeeded   int       // answers in the window that were not throttled
	lastOK      int       // number of the latest-taken call that succeeded; -1 if none
	throttledAt []int     // for each throttled answer, the number of the next call taken after it came
	spent       bool      // the window is spent: no more calls until the next
	cleanFull   int       // windows in a row with the share used in full and not spent
	noiseRate   float64   // moving average of scattered throttles per call
	onShare     func(int) // told the share whenever it changes
	onSpent     func()    // told of each window found spent
}

// cleanWindowsToGrow is how many windows the share must be used in full,
// unthrottled, before it grows by one call.
const cleanWindowsToGrow = 4

// newActionBudget is the budget of action in region: its quota from
// quotas, else Alibaba's published default, reporting to the quota metrics.
func newActionBudget(quotas map[string]Quota, m *metrics, region, action string, now time.Time) *budget {
	q, ok := quotas[action]
	if !ok {
		q = DefaultQuotas()[action]
	}
	share := m.quotaShare.WithLabelValues(region, action)
	return newBudget(q, now, func(n int) { share.Set(float64(n)) }, m.quotaWindowsSpent.WithLabelValues(region, action).Inc)
}

func newBudget(q Quota, now time.Time, onShare func(int), onSpent func()) *budget {
	b := &budget{quota: q, share: q.Calls, lastOK: -1, onShare: onShare, onSpent: onSpent}
	b.start = b.windowStart(now)
	onShare(b.share)
	return b
}

func (b *budget) windowStart(now time.Time) time.Time { return now.Truncate(b.quota.Window) }

// nextWindow is when the current window ends.
func (b *budget) nextWindow() time.Time { return b.start.Add(b.quota.Window) }

// roll moves to the window of now, learning from the one that ended.
func (b *budget) roll(now time.Time) {
	start := b.windowStart(now)
	if !start.After(b.start) {
		return
	}
	noisy := b.noise() > quietNoise
	switch {
	case b.spent || (b.tail() > 0 && !noisy):
		// The window ended in throttled answers (enough of them in a row,
		// where the API also throttles at random): it was spent, by this
		// worker and others. What succeeded is what the others left; never
		// less than half the share at once, so chance costs little.
		b.setShare(max(1, b.succeeded, b.share/2))
		b.cleanFull = 0
		b.onSpent()
	case b.used >= b.share && b.share < b.quota.Calls:
		// The share was used in full and the window not spent. Where the
		// API throttles at random, a lowered share was chance: regain half
		// the gap at once. Where it does not, probe one call more every few
		// windows, so that a steady other tool costs few throttled calls.
		if noisy {
			b.setShare(b.share + max(1, (b.quota.Calls-b.share)/2))
		} else if b.cleanFull++; b.cleanFull >= cleanWindowsToGrow {
			b.setShare(b.share + 1)
			b.cleanFull = 0
		}
	}
	if answers := b.succeeded + b.scattered(); answers > 0 {
		b.noiseRate = 0.8*b.noiseRate + 0.2*float64(b.scattered())/float64(answers)
	}
	b.start = start
	b.used, b.numbered, b.succeeded, b.lastOK, b.throttledAt, b.spent = 0, 0, 0, -1, b.throttledAt[:0], false
}

// scattered counts the window's throttled answers that a call taken after
// them outlived: noise.
func (b *budget) scattered() int {
	n := 0
	for _, next := range b.throttledAt {
		if next <= b.lastOK {
			n++
		}
	}
	return n
}

// tail counts the window's throttled answers that no newer success followed.
func (b *budget) tail() int { return len(b.throttledAt) - b.scattered() }

func (b *budget) setShare(n int) {
	if n != b.share {
		b.share = n
		b.onShare(n)
	}
}

// available is the number of calls the window still allows this worker.
func (b *budget) available(now time.Time) int {
	b.roll(now)
	if b.spent {
		return 0
	}
	return max(0, b.share-b.used)
}

// ticket is one call counted in a window: the window, and the call's
// number in it; op says whose budget it was taken from (the scheduler's).
type ticket struct {
	window time.Time
	n      int
	op     op
}

// take spends one call of the window, if it has one. The ticket goes with
// the call's answer.
func (b *budget) take(now time.Time) (ticket, bool) {
	if b.available(now) == 0 {
		return ticket{}, false
	}
	b.used++
	b.numbered++
	return ticket{window: b.start, n: b.numbered - 1}, true
}

// answered records the answer to the call of ticket t.
func (b *budget) answered(now time.Time, t ticket, throttled bool) {
	b.roll(now)
	if !t.window.Equal(b.start) {
		return // an answer from a window that is over: it says nothing of this one
	}
	if !throttled {
		b.succeeded++
		b.lastOK = max(b.lastOK, t.n)
		return
	}
	b.throttledAt = append(b.throttledAt, b.numbered)
	if b.tail() >= b.spentStreak() {
		b.spent = true
	}
}

// quietNoise is the share of calls throttled at random below which any
// throttled answer that ends a window is taken for the quota.
const quietNoise = 0.01

// noise estimates the share of calls the API throttles at random (throttled
// answers that a success followed, of the answers before the window's last
// run of throttled ones), over past windows and this one.
func (b *budget) noise() float64 {
	scattered := b.scattered()
	answers := b.succeeded + scattered
	if answers == 0 {
		return b.noiseRate
	}
	return max(b.noiseRate, float64(scattered)/float64(answers))
}

// spentStreak is how many throttled answers that no newer success followed
// mean the window is spent: two when throttling is rare, more when the API
// throttles at random (so that chance alone calls a window spent less than
// 0.2 % of the time).
func (b *budget) spentStreak() int {
	n := b.noise()
	if n <= quietNoise {
		return 2
	}
	return min(8, max(2, int(math.Ceil(math.Log(0.002)/math.Log(n)))))
}

// refund gives back a call that was never made. (Its number is not reused:
// numbers only order the window's answers.)
func (b *budget) refund(t ticket) {
	if t.window.Equal(b.start) && b.used > 0 {
		b.used--
	}
}
