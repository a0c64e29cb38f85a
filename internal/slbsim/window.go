package slbsim

import "time"

// window counts the calls of one (region, action, account) under one Quota.
// It holds no clock: every method takes the time, so it is tested with
// plain time values.
type window struct {
	rule Quota
	salt uint64 // varies the foreign share's jitter from key to key

	// Fixed windows: the window counted (its number since the epoch) and
	// the calls admitted in it.
	index int64
	used  int
	// Sliding: the times of the calls admitted in the last Window, oldest
	// first.
	times []time.Time
}

func newWindow(rule Quota, salt uint64) *window {
	return &window{rule: rule, salt: salt, index: -1}
}

// admit takes one call at now if the quota has room for it and reports
// whether it did. A refused call is not counted: a client that keeps
// calling into a spent window does not push the next one away.
func (w *window) admit(now time.Time) bool {
	if !w.rule.Limited() {
		return true
	}
	own := w.own(now)
	if own+w.foreign(now) >= w.rule.Calls {
		return false
	}
	if w.rule.Sliding {
		w.times = append(w.times, now)
	} else {
		w.used++
	}
	return true
}

// own returns the calls counted at now, after dropping those that left the
// window.
func (w *window) own(now time.Time) int {
	if w.rule.Sliding {
		cut := now.Add(-w.rule.Window)
		drop := 0
		for drop < len(w.times) && !w.times[drop].After(cut) {
			drop++
		}
		if drop > 0 {
			w.times = append(w.times[:0], w.times[drop:]...)
		}
		return len(w.times)
	}
	if i := w.indexAt(now); i != w.index {
		w.index, w.used = i, 0
	}
	return w.used
}

// indexAt is the number of the fixed window holding now.
func (w *window) indexAt(now time.Time) int64 {
	n, d := now.UnixNano(), int64(w.rule.Window)
	i := n / d
	if n%d < 0 { // before 1970: round down, not toward zero
		i--
	}
	return i
}

// foreign is the number of calls the foreign consumer spent in the window
// of now (for a sliding rule: its rate over the last Window, drawn per
// Window-long period).
func (w *window) foreign(now time.Time) int {
	r := w.rule
	if r.ForeignShare <= 0 && r.ForeignJitter <= 0 {
		return 0
	}
	share := r.ForeignShare
	if r.ForeignJitter > 0 {
		share += r.ForeignJitter * (2*unitFloat(w.salt, w.indexAt(now)) - 1)
	}
	return r.foreignAt(share)
}

// span is the window that holds now: for fixed windows its bounds, for a
// sliding one the Window before now.
func (w *window) span(now time.Time) (start, end time.Time) {
	if w.rule.Sliding {
		return now.Add(-w.rule.Window), now
	}
	start = time.Unix(0, w.indexAt(now)*int64(w.rule.Window))
	return start, start.Add(w.rule.Window)
}

// unitFloat is a deterministic draw in [0, 1) for (salt, index): splitmix64.
func unitFloat(salt uint64, index int64) float64 {
	x := salt ^ uint64(index)*0x9e3779b97f4a7c15
	x ^= x >> 30
	x *= 0xbf58476d1ce4e5b9
	x ^= x >> 27
	x *= 0x94d049bb133111eb
	x ^= x >> 31
	return float64(x>>11) / (1 << 53)
}
