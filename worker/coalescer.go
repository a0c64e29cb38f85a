package worker

import (
	"sync"
	"sync/atomic"
	"time"

	"github.com/cenkalti/backoff/v4"

	"github.com/slbdrain/slbdrain/messages"
	"github.com/slbdrain/slbdrain/retry"
)

// coalescer keeps one queue per (region, group) and turns queued backend
// servers into calls: group commit, at most one call per group at a time.
//
// A group is "active" from the moment it has work until it has none: it is
// then in exactly one of these places — its linger timer, the ready queue, a
// dispatcher's call, or its retry timer — so a second call for the group can
// never start while one is in flight or backing off.
type coalescer struct {
	maxBatch  int
	linger    time.Duration
	maxLinger time.Duration
	holdLimit int         // lingering stops while the worker holds this many requests
	backlog   atomic.Bool // the consumer has requests not yet delivered
	policy    retry.Policy
	now       func() time.Time
	ready     *readyQueue
	emit      func([]report) // hands finished requests to the reporter; called without mu held
	m         *metrics

	mu      sync.Mutex
	groups  map[groupKey]*group
	held    map[uint64]*request // every request the worker holds, by stream sequence
	flush   bool                // shutting down: no linger
	callSeq uint64
	idle    chan struct{} // closed when held becomes empty, if someone waits
}

type groupKey struct{ region, id string }

type serverKey struct {
	id   string
	port int
	typ  string
}

// slot is one backend server to remove and the requests waiting for it.
type slot struct {
	server  messages.BackendServer
	waiters []waiter
}

type waiter struct {
	r *request
	i int // index in r.req.BackendServers
}

func (s *slot) key() serverKey { return serverKey{s.server.ServerID, s.server.Port, s.server.Type} }

func (s *slot) live() bool {
	for _, w := range s.waiters {
		if !w.r.done {
			return true
		}
	}
	return false
}

type group struct {
	key       groupKey
	active    bool
	inCall    bool
	queue     []*slot
	index     map[serverKey]*slot // queued slots, for folding
	isolated  [][]*slot           // per-request batches after a permanent error on a shared call
	batch     []*slot             // the call backing off, to be retried
	solo      bool                // batch is an isolated one: never topped up
	backoff   backoff.BackOff
	notBefore time.Time
	timer     *time.Timer
	// Linger: an idle group waits linger for company, and keeps waiting
	// while company keeps coming (a storm), up to maxLinger after activation.
	activated   time.Time
	lastArrival time.Time
	gen         uint64 // bumped when the group is reset; stale timers see it and stop
}

// lingering says whether the group's timer is its linger (waiting for
// company), not a retry's backoff.
func (g *group) lingering() bool { return g.timer != nil && g.batch == nil }

// call is one API call being made for a group.
type call struct {
	g       *group
	seq     uint64
	slots   []*slot
	servers []messages.BackendServer
	reqs    []*request // distinct live requests the call carries
}

// callResult is what the dispatcher learnt from the API.
type callResult struct {
	err       error
	class     retry.Class
	requestID string
	notSent   bool // no client could be built: no attempt was made
}

func newCoalescer(maxBatch int, linger, maxLinger time.Duration, holdLimit int, policy retry.Policy, now func() time.Time, m *metrics) *coalescer {
	return &coalescer{
		holdLimit: holdLimit,
		maxBatch:  maxBatch,
		linger:    linger,
		maxLinger: max(linger, maxLinger),
		policy:    policy,
		now:       now,
		ready:     newReadyQueue(),
		m:         m,
		groups:    make(map[groupKey]*group),
		held:      make(map[uint64]*request),
	}
}

// redelivered says whether the message at seq is already held (a redelivery
// racing our own work); if so the newer delivery replaces the handle we ack
// with, and nothing else changes.
func (c *coalescer) redelivered(seq uint64, d delivery) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	if r, ok := c.held[seq]; ok {
		r.msg = d
		return true
	}
	return false
}

// hold registers a delivery the worker now answers for.
func (c *coalescer) hold(r *request) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.held[r.seq] = r
	c.m.heldRequests.Set(float64(len(c.held)))
}

// forget drops a request the worker no longer holds and returns the delivery
// to ack, nak or term.
func (c *coalescer) forget(r *request) delivery {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.held[r.seq] == r {
		delete(c.held, r.seq)
	}
	c.m.heldRequests.Set(float64(len(c.held)))
	if len(c.held) == 0 && c.idle != nil {
		close(c.idle)
		c.idle = nil
	}
	return r.msg
}

// finish decides a request's outcome (at most once) and appends its report.
// Called with mu held.
func finish(r *request, status messages.Status, e *messages.Error, now time.Time, reports []report) []report {
	r.done = true
	return append(reports, report{r: r, outcome: r.outcome(status, e, now)})
}

// expire fails the request if its deadline has passed. Called with mu held.
func expire(r *request, now time.Time, reports []report) []report {
	if r.done || !r.expired(now) {
		return reports
	}
	return finish(r, messages.StatusFailed, deadlineError(r), now, reports)
}

// add queues a held request's servers on its group.
func (c *coalescer) add(r *request) {
	c.mu.Lock()
	now := c.now()
	if r.expired(now) {
		reports := expire(r, now, nil)
		c.mu.Unlock()
		c.emit(reports)
		return
	}
	key := groupKey{r.req.RegionID, r.req.VServerGroupID}
	g := c.groups[key]
	if g == nil {
		g = &group{key: key, index: make(map[serverKey]*slot)}
		c.groups[key] = g
		c.m.activeGroups.Set(float64(len(c.groups)))
	}
	for i, s := range r.req.BackendServers {
		k := serverKey{s.ServerID, s.Port, s.Type} // slot.key()
		if sl := g.index[k]; sl != nil {
			sl.waiters = append(sl.waiters, waiter{r, i})
			continue
		}
		sl := &slot{server: s, waiters: []waiter{{r, i}}}
		g.index[k] = sl
		g.queue = append(g.queue, sl)
	}
	switch {
	case !g.active:
		g.active = true
		if c.linger > 0 && !c.flush && len(g.queue) < c.maxBatch {
			c.startLinger(g, now)
		} else {
			c.ready.push(g)
		}
	case g.lingering():
		g.lastArrival = now
		if len(g.queue) >= c.maxBatch && g.timer.Stop() {
			// A full batch needs no more company.
			g.timer = nil
			c.ready.push(g)
		}
	}
	c.mu.Unlock()
}

// startLinger makes an active group wait for company before its call.
func (c *coalescer) startLinger(g *group, now time.Time) {
	g.activated, g.lastArrival = now, now
	gen := g.gen
	g.timer = time.AfterFunc(c.linger, func() { c.lingered(g, gen) })
}

// lingerForBacklog says whether partial batches should wait: the stream has
// requests not yet delivered, and the worker may still take more of them.
func (c *coalescer) lingerForBacklog() bool {
	return c.linger > 0 && !c.flush && c.backlog.Load() && len(c.held) < c.holdLimit
}

func (c *coalescer) lingered(g *group, gen uint64) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if g.gen != gen || g.timer == nil {
		return
	}
	now := c.now()
	if !c.flush && len(g.queue) < c.maxBatch {
		// More company is likely on its way when some arrived within the
		// last linger, or while the stream holds requests not yet delivered
		// (a backlog or a storm): a fuller call then costs no latency that
		// the backlog has not already cost, and saves the account's quota.
		wake := g.lastArrival.Add(c.linger)
		if c.lingerForBacklog() {
			// Checked every few lingers, not every one: a thousand lingering
			// groups would otherwise fire a timer per request.
			wake = now.Add(4 * c.linger)
		}
		if limit := g.activated.Add(c.maxLinger); limit.Before(wake) {
			wake = limit
		}
		if wake.After(now) {
			g.timer = time.AfterFunc(wake.Sub(now), func() { c.lingered(g, gen) })
			return
		}
	}
	g.timer = nil
	c.ready.push(g)
}

// take builds the next call of a group the dispatcher popped from the ready
// queue. It returns nil when the group had nothing live left to send.
func (c *coalescer) take(g *group) *call {
	var reports []report
	c.mu.Lock()
	now := c.now()
	// keepLive expires the slot's requests whose deadline passed and says
	// whether any request still waits for the slot.
	keepLive := func(sl *slot) bool {
		for _, w := range sl.waiters {
			reports = expire(w.r, now, reports)
		}
		return sl.live()
	}
	var batch []*slot
	solo := false
	switch {
	case g.batch != nil:
		batch, solo = g.batch[:0:0], g.solo
		for _, sl := range g.batch {
			if keepLive(sl) {
				batch = append(batch, sl)
			}
		}
	case len(g.isolated) > 0:
		for len(g.isolated) > 0 && len(batch) == 0 {
			for _, sl := range g.isolated[0] {
				if keepLive(sl) {
					batch = append(batch, sl)
				}
			}
			g.isolated = g.isolated[1:]
		}
		solo = true
	}
	if !solo {
		// A retried batch may meet its own servers again in the queue (asked
		// for again while it backed off): they join its slots, never twice
		// in one call.
		var inBatch map[serverKey]*slot
		if len(batch) > 0 {
			inBatch = make(map[serverKey]*slot, len(batch))
			for _, sl := range batch {
				inBatch[sl.key()] = sl
			}
		}
		n := 0
		for n < len(g.queue) && len(batch) < c.maxBatch {
			sl := g.queue[n]
			n++
			delete(g.index, sl.key())
			if !keepLive(sl) {
				continue
			}
			if same := inBatch[sl.key()]; same != nil {
				same.waiters = append(same.waiters, sl.waiters...)
				continue
			}
			batch = append(batch, sl)
		}
		clear(g.queue[:n])
		g.queue = g.queue[n:]
	}
	g.batch, g.solo = nil, false
	if len(batch) == 0 {
		c.next(g)
		c.mu.Unlock()
		c.emit(reports)
		return nil
	}
	c.callSeq++
	cl := &call{g: g, seq: c.callSeq, slots: batch, servers: make([]messages.BackendServer, len(batch))}
	for i, sl := range batch {
		cl.servers[i] = sl.server
		for _, w := range sl.waiters {
			if !w.r.done && w.r.lastCall != cl.seq {
				w.r.lastCall = cl.seq
				cl.reqs = append(cl.reqs, w.r)
			}
		}
	}
	g.inCall = true
	g.batch, g.solo = batch, solo // kept for a retry
	c.mu.Unlock()
	c.emit(reports)
	return cl
}

// complete applies a call's result. It returns the progress notes of the
// requests the call carried; finished requests go to the reporter.
func (c *coalescer) complete(cl *call, res callResult) []messages.Progress {
	var (
		reports  []report
		progress []messages.Progress
	)
	c.mu.Lock()
	g := cl.g
	now := c.now()
	g.inCall = false
	for _, r := range cl.reqs {
		if r.done || res.notSent {
			continue
		}
		r.attempts++
		if res.requestID != "" {
			r.apiIDs = append(r.apiIDs, res.requestID)
		}
	}
	switch {
	case res.err == nil:
		for _, sl := range cl.slots {
			for _, w := range sl.waiters {
				if !w.r.done && !w.r.removed[w.i] {
					w.r.removed[w.i] = true
					w.r.remaining--
				}
			}
		}
		for _, r := range cl.reqs {
			if r.done {
				continue
			}
			progress = append(progress, messages.Progress{RequestID: r.req.RequestID, Removed: r.removedCount(), Total: len(r.removed)})
			if r.remaining == 0 {
				reports = finish(r, messages.StatusCompleted, nil, now, reports)
			}
		}
		g.batch, g.solo = nil, false
		if g.backoff != nil {
			g.backoff.Reset()
		}
		c.next(g)

	case res.class == retry.Throttled || res.class == retry.Transient:
		// g.batch is this call's batch (kept by take). If release() emptied
		// the worker meanwhile, its requests are done and armRetry retires it.
		if g.backoff == nil {
			g.backoff = c.policy.NewBackOff(time.Time{}, nil)
		}
		g.notBefore = now.Add(g.backoff.NextBackOff())
		reports = c.armRetry(g, now, reports)

	case res.class == retry.Credentials:
		// The worker hands everything back to JetStream (Worker.credentialsFailed).
		g.batch, g.solo = nil, false
		c.next(g)

	default: // permanent
		live := cl.reqs[:0:0]
		for _, r := range cl.reqs {
			if !r.done {
				live = append(live, r)
			}
		}
		if len(live) > 1 && !g.solo {
			// One bad server must not fail its neighbours: retry per request.
			subs := make([][]*slot, 0, len(live))
			for _, r := range live {
				var sub []*slot
				for _, sl := range cl.slots {
					for _, w := range sl.waiters {
						if w.r == r {
							sub = append(sub, &slot{server: sl.server, waiters: []waiter{w}})
						}
					}
				}
				subs = append(subs, sub)
			}
			g.isolated = append(subs, g.isolated...)
		} else {
			e := &messages.Error{Code: retry.Code(res.err), Message: retry.Message(res.err)}
			for _, r := range live {
				reports = finish(r, messages.StatusFailed, e, now, reports)
			}
		}
		g.batch, g.solo = nil, false
		c.next(g)
	}
	c.mu.Unlock()
	c.emit(reports)
	return progress
}

// armRetry fails the requests of the group's backing-off batch whose deadline
// has passed and sets the timer that sends the batch again: at notBefore, or
// earlier at the first deadline, which is then failed on time.
func (c *coalescer) armRetry(g *group, now time.Time, reports []report) []report {
	wake := g.notBefore
	live := false
	for _, sl := range g.batch {
		for _, w := range sl.waiters {
			if reports = expire(w.r, now, reports); w.r.done {
				continue
			}
			live = true
			if w.r.deadline.Before(wake) {
				wake = w.r.deadline
			}
		}
	}
	if !live {
		g.batch, g.solo = nil, false
		c.next(g)
		return reports
	}
	gen := g.gen
	g.timer = time.AfterFunc(wake.Sub(now), func() { c.retryWake(g, gen) })
	return reports
}

func (c *coalescer) retryWake(g *group, gen uint64) {
	var reports []report
	c.mu.Lock()
	if g.gen != gen || g.batch == nil {
		c.mu.Unlock()
		return
	}
	g.timer = nil
	now := c.now()
	if now.Before(g.notBefore) {
		reports = c.armRetry(g, now, reports)
	} else {
		c.ready.push(g)
	}
	c.mu.Unlock()
	c.emit(reports)
}

// next schedules the group's next call at once (its requests have waited
// already: group commit), or retires the group when it has no work left.
// Called with mu held, when the group is not in a call or timer.
func (c *coalescer) next(g *group) {
	if len(g.isolated) == 0 && len(g.queue) > 0 && len(g.queue) < c.maxBatch && c.lingerForBacklog() {
		// While the stream has a backlog, a partial batch waits for company
		// here too, as an idle group's does.
		c.startLinger(g, c.now())
		return
	}
	if len(g.queue) > 0 || len(g.isolated) > 0 {
		c.ready.push(g)
		return
	}
	g.active = false
	if c.groups[g.key] == g {
		delete(c.groups, g.key)
		c.m.activeGroups.Set(float64(len(c.groups)))
	}
}

// release hands back every held request whose outcome is not decided: they
// leave the worker's state and the caller Naks their deliveries. (Decided
// ones are the reporter's: their event is on its way.) Groups in a call keep
// only their call, whose result then finds no live request.
func (c *coalescer) release() []delivery {
	c.mu.Lock()
	defer c.mu.Unlock()
	var out []delivery
	for seq, r := range c.held {
		if r.done {
			continue
		}
		r.done = true
		out = append(out, r.msg)
		delete(c.held, seq)
	}
	for key, g := range c.groups {
		g.gen++
		if g.timer != nil {
			g.timer.Stop()
			g.timer = nil
		}
		g.queue, g.index, g.isolated = nil, make(map[serverKey]*slot), nil
		if !g.inCall {
			g.batch, g.active = nil, false
			delete(c.groups, key)
		}
	}
	c.m.activeGroups.Set(float64(len(c.groups)))
	c.m.heldRequests.Set(float64(len(c.held)))
	if len(c.held) == 0 && c.idle != nil {
		close(c.idle)
		c.idle = nil
	}
	return out
}

// startFlush turns linger off and sends lingering groups at once (shutdown).
func (c *coalescer) startFlush() {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.flush = true
	for _, g := range c.groups {
		if g.lingering() && g.timer.Stop() {
			g.timer = nil
			c.ready.push(g)
		}
	}
}

// idleCh returns a channel closed once the worker holds nothing.
func (c *coalescer) idleCh() <-chan struct{} {
	c.mu.Lock()
	defer c.mu.Unlock()
	ch := make(chan struct{})
	if len(c.held) == 0 {
		close(ch)
		return ch
	}
	if c.idle == nil {
		c.idle = ch
	}
	return c.idle
}

// heldCount is the number of requests the worker holds.
func (c *coalescer) heldCount() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.held)
}

// due returns the deliveries not told InProgress since before cutoff, and
// marks them told.
func (c *coalescer) due(cutoff, now time.Time) []delivery {
	c.mu.Lock()
	defer c.mu.Unlock()
	var msgs []delivery
	for _, r := range c.held {
		if r.lastBeat.Before(cutoff) {
			r.lastBeat = now
			msgs = append(msgs, r.msg)
		}
	}
	return msgs
}
