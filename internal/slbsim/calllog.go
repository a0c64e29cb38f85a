package slbsim

import (
	"sync"
	"time"
)

// Call is the record of one call, in the order calls were answered.
type Call struct {
	Action    string
	RegionID  string
	GroupID   string
	RequestID string
	// Code is the error code answered, "" on success, CodeDropped when the
	// Drop fault closed the connection.
	Code       string
	HTTPStatus int // 0 when dropped
	// Servers is the number of entries in the BackendServers parameter (0
	// when absent or not a JSON array).
	Servers int
	// Removed is the number of backend servers the call took out of the group.
	Removed int
	// Fault is the injected fault ("Drop", "Slow", "Throttling",
	// "ServiceUnavailable", "SystemBusy"), "" for none.
	Fault string
	// Overlap: another write (Remove, Add or Set) on the same group was in
	// progress when this one, a write too, started.
	Overlap     bool
	AccessKeyID string
	// Account owns the key, once the call is authenticated ("" before).
	Account    string
	Start, End time.Time
}

// Stats are counters over all calls since New or Reset.
type Stats struct {
	Calls     int64
	Succeeded int64
	// Throttled counts answers with a throttling code: quota (Throttling.User)
	// and injected (Throttling).
	Throttled int64
	// Faulted counts calls hit by an injected fault, of any kind.
	Faulted int64
	// Overlaps counts writes on a group (Remove, Add, Set) that started
	// while another one on the same group was in progress (arrival to
	// answer; a Slow call stops being in progress once its action is
	// applied).
	Overlaps int64
	// MaxBatch is the largest BackendServers list of a Remove call, accepted
	// or not.
	MaxBatch       int
	RemoveCalls    int64
	ServersRemoved int64
}

// callLog keeps the call records, the counters and the Remove calls in
// progress per group. One mutex: a call takes it a few times, which costs
// nothing next to the HTTP exchange.
type callLog struct {
	mu       sync.Mutex
	max      int
	calls    []Call
	next     int // once len(calls) == max: the oldest entry, overwritten next
	stats    Stats
	inflight map[groupKey]int
}

func newCallLog(max int) *callLog {
	return &callLog{max: max, inflight: make(map[groupKey]int)}
}

// enter marks a Remove on the group in progress and reports whether another
// one already was.
func (l *callLog) enter(k groupKey) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	n := l.inflight[k]
	l.inflight[k] = n + 1
	if n > 0 {
		l.stats.Overlaps++
	}
	return n > 0
}

func (l *callLog) leave(k groupKey) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if n := l.inflight[k]; n > 1 {
		l.inflight[k] = n - 1
	} else {
		delete(l.inflight, k)
	}
}

func (l *callLog) record(c Call) {
	l.mu.Lock()
	defer l.mu.Unlock()
	st := &l.stats
	st.Calls++
	if c.Code == "" {
		st.Succeeded++
	}
	if c.Code == CodeThrottling || c.Code == CodeThrottlingUser {
		st.Throttled++
	}
	if c.Fault != "" {
		st.Faulted++
	}
	if c.Action == actionRemove {
		st.RemoveCalls++
		st.ServersRemoved += int64(c.Removed)
		st.MaxBatch = max(st.MaxBatch, c.Servers)
	}
	if len(l.calls) < l.max {
		l.calls = append(l.calls, c)
		return
	}
	l.calls[l.next] = c
	l.next = (l.next + 1) % l.max
}

// Calls returns a copy of the call log, oldest first.
func (s *Sim) Calls() []Call {
	l := s.log
	l.mu.Lock()
	defer l.mu.Unlock()
	out := make([]Call, 0, len(l.calls))
	out = append(out, l.calls[l.next:]...)
	return append(out, l.calls[:l.next]...)
}

// Stats returns the counters.
func (s *Sim) Stats() Stats {
	s.log.mu.Lock()
	defer s.log.mu.Unlock()
	return s.log.stats
}

// Reset clears the call log and the counters; groups, keys, quota and faults
// stay as they are.
func (s *Sim) Reset() {
	l := s.log
	l.mu.Lock()
	defer l.mu.Unlock()
	l.calls, l.next, l.stats = nil, 0, Stats{}
}
