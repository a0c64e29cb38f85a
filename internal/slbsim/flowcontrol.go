package slbsim

import (
	"hash/fnv"
	"sync"
	"time"
)

// quotaKey is what Alibaba counts calls by.
type quotaKey struct{ region, action, account string }

// QuotaUsage is the state of one (region, action, account) quota at a time.
type QuotaUsage struct {
	Quota Quota
	// Used is the calls of the account's clients admitted in the window;
	// Foreign the calls the foreign consumer spent in it.
	Used, Foreign int
	// Start and End bound the window (for a sliding quota: the Window
	// before the time asked about).
	Start, End time.Time
}

// flowControl is Alibaba's per-account API flow control: a window per
// (region, action, account), under the quota of the action, or of the action
// in that region when one is set.
type flowControl struct {
	mu       sync.Mutex
	seed     uint64
	rules    Quotas            // per action, in every region
	regional map[string]Quotas // region -> action -> quota, over rules
	windows  map[quotaKey]*window
}

func newFlowControl(rules Quotas, regional map[string]Quotas, seed uint64) *flowControl {
	f := &flowControl{seed: seed, rules: rules.Clone(), regional: make(map[string]Quotas), windows: make(map[quotaKey]*window)}
	for region, qs := range regional {
		f.regional[region] = qs.Clone()
	}
	return f
}

// admit counts one call of k at now and reports whether its quota let it
// through.
func (f *flowControl) admit(k quotaKey, now time.Time) bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	if !f.ruleLocked(k).Limited() {
		return true // no window kept for what is not counted
	}
	return f.windowLocked(k).admit(now)
}

// usage reports k's window at now.
func (f *flowControl) usage(k quotaKey, now time.Time) QuotaUsage {
	f.mu.Lock()
	defer f.mu.Unlock()
	rule := f.ruleLocked(k)
	if !rule.Limited() {
		return QuotaUsage{Quota: rule}
	}
	w := f.windowLocked(k)
	u := QuotaUsage{Quota: rule, Used: w.own(now), Foreign: w.foreign(now)}
	u.Start, u.End = w.span(now)
	return u
}

// set replaces the quota of action in region ("" for every region that has
// none of its own). Windows under the old rule start afresh.
func (f *flowControl) set(region, action string, q Quota) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if region == "" {
		f.rules[action] = q
	} else {
		if f.regional[region] == nil {
			f.regional[region] = make(Quotas)
		}
		f.regional[region][action] = q
	}
	for k, w := range f.windows {
		if k.action == action && w.rule != f.ruleLocked(k) {
			delete(f.windows, k)
		}
	}
}

func (f *flowControl) ruleLocked(k quotaKey) Quota {
	if q, ok := f.regional[k.region][k.action]; ok {
		return q
	}
	return f.rules[k.action]
}

func (f *flowControl) windowLocked(k quotaKey) *window {
	w := f.windows[k]
	if w == nil {
		w = newWindow(f.ruleLocked(k), f.salt(k))
		f.windows[k] = w
	}
	return w
}

// salt makes each key's foreign jitter its own, and the same on every run
// with the same seed.
func (f *flowControl) salt(k quotaKey) uint64 {
	h := fnv.New64a()
	for _, s := range []string{k.region, k.action, k.account} {
		h.Write([]byte(s))
		h.Write([]byte{0})
	}
	return h.Sum64() ^ f.seed
}
