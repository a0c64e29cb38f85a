package worker

import (
	"container/heap"
	"sync"
	"sync/atomic"
	"time"
)

// ledger is the set of requests the worker holds, by stream sequence, and
// the only owner of their deliveries: it answers for each from delivery
// until its event is acknowledged (forget) or it is handed back (release).
// It tells JetStream which are still in progress (due) and fails each at its
// deadline wherever it waits (onDeadline), on one timer for all of them.
type ledger struct {
	clock      Clock
	m          *metrics
	onDeadline func(*request) // called without mu held, once per request whose deadline came

	mu        sync.Mutex
	held      map[uint64]*request
	deadlines deadlineHeap
	timer     Timer
	timerAt   time.Time     // when timer fires; zero when none is armed
	idle      chan struct{} // closed when held becomes empty, if someone waits
	busySince time.Time     // when held last became non-empty
	count     atomic.Int64  // len(held), read without mu on the scheduler's hot path
}

func newLedger(clock Clock, m *metrics, onDeadline func(*request)) *ledger {
	return &ledger{clock: clock, m: m, onDeadline: onDeadline, held: make(map[uint64]*request)}
}

// hold registers a delivery the worker now answers for.
func (l *ledger) hold(r *request) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if old := l.held[r.seq]; old != nil && old.heapIndex >= 0 {
		heap.Remove(&l.deadlines, old.heapIndex)
	}
	if len(l.held) == 0 {
		l.busySince = l.clock.Now()
	}
	l.held[r.seq] = r
	l.changed()
	if r.isDecided() {
		return // already settled (rejected): its deadline no longer matters
	}
	heap.Push(&l.deadlines, r)
	l.armLocked()
}

// redelivered says whether the message at seq is already held (a redelivery
// racing our own work); if so the newer delivery replaces the handle we ack
// with, and nothing else changes.
func (l *ledger) redelivered(seq uint64, d delivery) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	if r, ok := l.held[seq]; ok {
		r.msg = d
		return true
	}
	return false
}

// forget drops a request the worker no longer holds and returns the delivery
// to ack, nak or term.
func (l *ledger) forget(r *request) delivery {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.held[r.seq] == r {
		l.dropLocked(r)
		l.changed()
	}
	return r.msg
}

// release hands back every held request whose outcome is not decided: they
// leave the ledger and the caller Naks the returned deliveries. Decided ones
// are the reporter's: their event is on its way.
func (l *ledger) release() []delivery {
	l.mu.Lock()
	defer l.mu.Unlock()
	var out []delivery
	for _, r := range l.held {
		if !r.decide() {
			continue
		}
		out = append(out, r.msg)
		l.dropLocked(r)
	}
	l.changed()
	return out
}

// due returns the deliveries not told InProgress since before cutoff, and
// marks them told.
func (l *ledger) due(cutoff, now time.Time) []delivery {
	l.mu.Lock()
	defer l.mu.Unlock()
	var msgs []delivery
	for _, r := range l.held {
		if r.lastBeat.Before(cutoff) {
			r.lastBeat = now
			msgs = append(msgs, r.msg)
		}
	}
	return msgs
}

// idleCh returns a channel closed once the worker holds nothing.
func (l *ledger) idleCh() <-chan struct{} {
	l.mu.Lock()
	defer l.mu.Unlock()
	ch := make(chan struct{})
	if len(l.held) == 0 {
		close(ch)
		return ch
	}
	if l.idle == nil {
		l.idle = ch
	}
	return l.idle
}

// heldSince is when the ledger last went from holding nothing to holding
// something; zero while it holds nothing.
func (l *ledger) heldSince() time.Time {
	l.mu.Lock()
	defer l.mu.Unlock()
	if len(l.held) == 0 {
		return time.Time{}
	}
	return l.busySince
}

// len is the number of requests held.
func (l *ledger) len() int { return int(l.count.Load()) }

// stop disarms the deadline timer (the run is over).
func (l *ledger) stop() {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.timer != nil {
		l.timer.Stop()
		l.timer, l.timerAt = nil, time.Time{}
	}
}

func (l *ledger) dropLocked(r *request) {
	delete(l.held, r.seq)
	if r.heapIndex >= 0 {
		heap.Remove(&l.deadlines, r.heapIndex)
	}
	if len(l.deadlines) == 0 && l.timer != nil {
		l.timer.Stop() // nothing left to watch
		l.timer, l.timerAt = nil, time.Time{}
	}
}

// changed updates the count, the gauge and the idle signal. Called with mu held.
func (l *ledger) changed() {
	l.count.Store(int64(len(l.held)))
	l.m.heldRequests.Set(float64(len(l.held)))
	if len(l.held) == 0 && l.idle != nil {
		close(l.idle)
		l.idle = nil
	}
}

// armLocked points the timer at the earliest deadline. Called with mu held.
func (l *ledger) armLocked() {
	if len(l.deadlines) == 0 {
		return
	}
	at := l.deadlines[0].deadline
	if l.timer != nil && !l.timerAt.After(at) {
		return // an earlier or equal wake-up is already set; it re-arms for the rest
	}
	if l.timer != nil {
		l.timer.Stop()
	}
	l.timerAt = at
	l.timer = l.clock.AfterFunc(at.Sub(l.clock.Now()), l.deadlinesDue)
}

// deadlinesDue fails every held request whose deadline has come, and re-arms
// for the next one.
func (l *ledger) deadlinesDue() {
	l.mu.Lock()
	now := l.clock.Now()
	l.timer, l.timerAt = nil, time.Time{}
	var due []*request
	for len(l.deadlines) > 0 && !l.deadlines[0].deadline.After(now) {
		due = append(due, heap.Pop(&l.deadlines).(*request))
	}
	l.armLocked()
	l.mu.Unlock()
	for _, r := range due {
		l.onDeadline(r)
	}
}

// deadlineHeap orders held requests by deadline; request.heapIndex is each
// one's place, so forget removes in O(log n) and the heap never holds more
// than the ledger.
type deadlineHeap []*request

func (h deadlineHeap) Len() int           { return len(h) }
func (h deadlineHeap) Less(i, j int) bool { return h[i].deadline.Before(h[j].deadline) }
func (h deadlineHeap) Swap(i, j int) {
	h[i], h[j] = h[j], h[i]
	h[i].heapIndex, h[j].heapIndex = i, j
}
func (h *deadlineHeap) Push(x any) {
	r := x.(*request)
	r.heapIndex = len(*h)
	*h = append(*h, r)
}
func (h *deadlineHeap) Pop() any {
	old := *h
	r := old[len(old)-1]
	old[len(old)-1] = nil
	r.heapIndex = -1
	*h = old[:len(old)-1]
	return r
}
