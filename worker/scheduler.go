package worker

import (
	"context"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/cenkalti/backoff/v4"

	"github.com/slbdrain/slbdrain/messages"
	"github.com/slbdrain/slbdrain/retry"
)

// groupState is where a (region, group) stands. A group with work is in
// exactly one state, and so in exactly one place: its linger timer, its
// region's ready list, a dispatcher's call, or its retry timer. A second call for the group
// can therefore never start while one is in flight or backing off.
type groupState uint8

const (
	groupIdle       groupState = iota // no work: not in the scheduler's map
	groupLingering                    // waiting for company on its timer
	groupReady                        // in its region's ready list, waiting for the quota and a dispatcher
	groupCalling                      // a call is out
	groupBackingOff                   // its last call failed retryably: waiting for its retry timer
)

var groupStateNames = [...]string{"idle", "lingering", "ready", "calling", "backing off"}

func (s groupState) String() string { return groupStateNames[s] }

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
		if !w.r.isDecided() {
			return true
		}
	}
	return false
}

// batch is the servers of one call, kept while the call is out or backs off
// so that a retry sends them again.
type batch struct {
	slots []*slot
	solo  bool // one request's part after a permanent error: never topped up
}

type group struct {
	key      groupKey
	state    groupState
	queue    []*slot
	index    map[serverKey]*slot // queued slots, for folding
	isolated [][]*slot           // per-request batches after a permanent error on a shared call
	last     *batch              // calling: the call's batch; backing off: the batch to resend
	backoff  backoff.BackOff
	// notBefore is when a backing-off group may call again.
	notBefore time.Time
	timer     Timer
	wake      uint64 // counts timers armed; a timer whose count is stale does nothing
	// Linger: an idle group waits linger for company, and keeps waiting
	// while company keeps coming (a storm), up to maxLinger after activation.
	activated   time.Time
	lastArrival time.Time
	readyAt     time.Time // when it last became ready
}

// pending is how many servers the group's next call would carry, at most.
func (g *group) pending() int {
	n := len(g.queue)
	if g.last != nil {
		n += len(g.last.slots)
	}
	if len(g.isolated) > 0 {
		n = max(n, len(g.isolated[0]))
	}
	return n
}

// hasWork says whether the group has servers waiting besides a call's batch.
func (g *group) hasWork() bool { return len(g.queue) > 0 || len(g.isolated) > 0 }

// call is one API call being made for a group.
type call struct {
	g       *group
	seq     uint64
	window  ticket // the call's place in its region's quota window
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
	// remaining is the group's servers after a successful remove call, as
	// the API answered: a requested one still listed is not removed.
	remaining []WeightedServer
}

// schedulerConfig is what the scheduler needs of the worker's Config.
type schedulerConfig struct {
	maxBatch  int
	linger    time.Duration
	maxLinger time.Duration
	holdLimit int // lingering for a backlog stops while the worker holds this many requests
	policy    retry.Policy
	quotas    map[string]Quota // by API action
	retryMax  time.Duration    // cap of a group's backoff; 0: groupRetryMax
}

// region is the scheduler's view of one region: its ready groups and its
// share of the remove quota. One region's spent window never holds back
// another's groups.
type region struct {
	name        string
	ready       []*group
	remove      *budget
	lastArrival time.Time // of any request in the region: a storm lingers, a lone request does not
}

// scheduler keeps one state machine per (region, group) and turns queued
// backend servers into calls: group commit, at most one call per group at a
// time. Each transition is one method; timers come from the injected clock.
type scheduler struct {
	cfg     schedulerConfig
	clock   Clock
	signal  chan struct{}  // a group became ready: wakes a waiting dispatcher
	held    func() int     // requests the worker holds (the ledger's count)
	emit    func([]report) // hands finished requests to the reporter; called without mu held
	m       *metrics
	backlog atomic.Bool // the consumer has requests not yet delivered
	// arriving says whether requests are on their way to add (taken from
	// the stream, their outcome being looked up): company for lingering groups.
	arriving func() bool

	mu      sync.Mutex
	groups  map[groupKey]*group
	regions map[string]*region
	flush   bool // shutting down: no linger
	callSeq uint64
}

func newScheduler(cfg schedulerConfig, clock Clock, held func() int, arriving func() bool, emit func([]report), m *metrics) *scheduler {
	cfg.maxLinger = max(cfg.linger, cfg.maxLinger)
	if cfg.retryMax == 0 {
		cfg.retryMax = groupRetryMax
	}
	return &scheduler{cfg: cfg, clock: clock, signal: make(chan struct{}, 1), held: held, arriving: arriving, emit: emit, m: m,
		groups: make(map[groupKey]*group), regions: make(map[string]*region)}
}

// region returns the state of a region, made on first use. Called with mu held.
func (s *scheduler) region(name string) *region {
	rg := s.regions[name]
	if rg == nil {
		q := s.cfg.quotas[ActionRemove]
		share := s.m.quotaShare.WithLabelValues(name, ActionRemove)
		spent := s.m.quotaWindowsSpent.WithLabelValues(name, ActionRemove)
		rg = &region{name: name, remove: newBudget(q, s.clock.Now(),
			func(n int) { share.Set(float64(n)) }, spent.Inc)}
		s.regions[name] = rg
	}
	return rg
}

func (s *scheduler) wake() {
	select {
	case s.signal <- struct{}{}:
	default:
	}
}

// finish decides a request's outcome (at most once) and appends its report.
// Called with mu held.
func finish(r *request, status messages.Status, e *messages.Error, now time.Time, reports []report) []report {
	if !r.decide() {
		return reports
	}
	return append(reports, report{r: r, outcome: r.outcome(status, e, now)})
}

// expireIfDue fails the request if its deadline has passed. Called with mu held.
func expireIfDue(r *request, now time.Time, reports []report) []report {
	if r.isDecided() || !r.expired(now) {
		return reports
	}
	return finish(r, messages.StatusFailed, deadlineError(r), now, reports)
}

// add queues a held request's servers on its group: idle → lingering or
// ready; lingering → ready once a full batch waits.
func (s *scheduler) add(r *request) {
	s.mu.Lock()
	now := s.clock.Now()
	if r.expired(now) {
		reports := expireIfDue(r, now, nil)
		s.mu.Unlock()
		s.emit(reports)
		return
	}
	key := groupKey{r.req.RegionID, r.req.VServerGroupID}
	g := s.groups[key]
	if g == nil {
		g = &group{key: key, index: make(map[serverKey]*slot)}
		s.groups[key] = g
		s.m.activeGroups.Set(float64(len(s.groups)))
	}
	for i, bs := range r.req.BackendServers {
		k := serverKey{bs.ServerID, bs.Port, bs.Type} // slot.key()
		if sl := g.index[k]; sl != nil {
			sl.waiters = append(sl.waiters, waiter{r, i})
			continue
		}
		sl := &slot{server: bs, waiters: []waiter{{r, i}}}
		g.index[k] = sl
		g.queue = append(g.queue, sl)
	}
	rg := s.region(key.region)
	storm := now.Sub(rg.lastArrival) < s.cfg.linger
	rg.lastArrival = now
	switch g.state {
	case groupIdle:
		// A lone request leaves at once (one round trip); in a storm, an idle
		// group waits a linger for company.
		if (storm || s.lingerForBacklog()) && s.cfg.linger > 0 && !s.flush && len(g.queue) < s.cfg.maxBatch {
			s.startLinger(g, now)
		} else {
			s.toReady(g)
		}
	case groupLingering:
		g.lastArrival = now
		if len(g.queue) >= s.cfg.maxBatch {
			s.toReady(g) // a full batch needs no more company
		}
	}
	s.mu.Unlock()
}

// expire fails a request at its deadline, wherever it waits (the ledger's
// timer calls it). A request in a call waits for the call's answer, which
// may have removed its servers: complete decides it then.
func (s *scheduler) expire(r *request) {
	s.mu.Lock()
	var reports []report
	if r.inFlight == 0 {
		reports = expireIfDue(r, s.clock.Now(), nil)
	}
	s.mu.Unlock()
	s.emit(reports)
}

// startLinger: idle (or between calls) → lingering.
func (s *scheduler) startLinger(g *group, now time.Time) {
	g.state = groupLingering
	g.activated, g.lastArrival = now, now
	s.arm(g, s.cfg.linger)
}

// arm sets the group's one timer; an earlier one is stopped and made stale.
func (s *scheduler) arm(g *group, d time.Duration) {
	s.disarm(g)
	g.wake++
	wake := g.wake
	g.timer = s.clock.AfterFunc(d, func() { s.timerFired(g, wake) })
}

func (s *scheduler) disarm(g *group) {
	if g.timer != nil {
		g.timer.Stop()
		g.timer = nil
	}
	g.wake++
}

// toReady: lingering, backing off or between calls → ready, in its
// region's ready list.
func (s *scheduler) toReady(g *group) {
	s.disarm(g)
	g.state = groupReady
	g.readyAt = s.clock.Now()
	rg := s.region(g.key.region)
	rg.ready = append(rg.ready, g)
	s.wake()
}

// pop waits for a ready group whose region's quota allows a call now, and
// counts the call in that window; nil when ctx is done. Within a region the
// fullest group goes first, so a scarce window carries the most servers; a
// group that has waited a whole window goes before fuller ones, so none
// starves.
func (s *scheduler) pop(ctx context.Context) (*group, ticket) {
	for {
		s.mu.Lock()
		now := s.clock.Now()
		var wake time.Time
		for _, rg := range s.regions {
			if len(rg.ready) == 0 {
				continue
			}
			if window, ok := rg.remove.take(now); ok {
				g := rg.popFullest(now)
				more := s.anyCallable(now)
				s.mu.Unlock()
				if more {
					s.wake() // pass the baton to another waiting dispatcher
				}
				return g, window
			}
			if next := rg.remove.nextWindow(); wake.IsZero() || next.Before(wake) {
				wake = next
			}
		}
		s.mu.Unlock()
		var timer Timer
		if !wake.IsZero() {
			timer = s.clock.AfterFunc(wake.Sub(now), s.wake)
		}
		select {
		case <-s.signal:
		case <-ctx.Done():
		}
		if timer != nil {
			timer.Stop()
		}
		if ctx.Err() != nil {
			return nil, ticket{}
		}
	}
}

// anyCallable says whether some region has a ready group and room for a
// call. Called with mu held.
func (s *scheduler) anyCallable(now time.Time) bool {
	for _, rg := range s.regions {
		if len(rg.ready) > 0 && rg.remove.available(now) > 0 {
			return true
		}
	}
	return false
}

func (rg *region) popFullest(now time.Time) *group {
	best := 0
	if now.Sub(rg.ready[0].readyAt) < rg.remove.quota.Window {
		for i, g := range rg.ready {
			if g.pending() > rg.ready[best].pending() {
				best = i
			}
		}
	}
	g := rg.ready[best]
	rg.ready = slices.Delete(rg.ready, best, best+1)
	return g
}

// stillCallable says whether a popped group's call may still go out, and
// in which window: while the dispatcher waited for the --slb-qps ceiling,
// its window may have been found spent (the group goes back to wait) or
// have ended (the call counts in the new window, if that has room).
func (s *scheduler) stillCallable(g *group, window ticket) (ticket, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	now := s.clock.Now()
	b := s.region(g.key.region).remove
	b.roll(now)
	if !b.spent && window.window.Equal(b.start) {
		return window, true
	}
	if !window.window.Equal(b.start) {
		if t, ok := b.take(now); ok {
			return t, true
		}
	}
	b.refund(window)
	if g.state == groupReady {
		rg := s.region(g.key.region)
		rg.ready = append(rg.ready, g)
	}
	s.wake()
	return ticket{}, false
}

// unpop puts back a group that pop gave a dispatcher which then could not
// call (shutdown), with its call's place in the window.
func (s *scheduler) unpop(g *group, window ticket) {
	s.mu.Lock()
	defer s.mu.Unlock()
	rg := s.region(g.key.region)
	rg.remove.refund(window)
	if g.state == groupReady {
		rg.ready = append(rg.ready, g)
	}
}

func (s *scheduler) timerFired(g *group, wake uint64) {
	var reports []report
	s.mu.Lock()
	if g.wake == wake {
		g.timer = nil
		switch g.state {
		case groupLingering:
			s.lingerDue(g)
		case groupBackingOff:
			reports = s.retryDue(g, reports)
		}
	}
	s.mu.Unlock()
	s.emit(reports)
}

// lingerForBacklog says whether partial batches should wait: the stream has
// requests not yet delivered, and the worker may still take more of them.
func (s *scheduler) lingerForBacklog() bool {
	return s.cfg.linger > 0 && !s.flush && (s.backlog.Load() || s.arriving()) && s.held() < s.cfg.holdLimit
}

// lingerDue: lingering → lingering (more company is coming) or ready.
func (s *scheduler) lingerDue(g *group) {
	now := s.clock.Now()
	if !s.flush && len(g.queue) < s.cfg.maxBatch {
		// More company is likely on its way when some arrived within the
		// last linger, or while the stream holds requests not yet delivered
		// (a backlog or a storm): a fuller call then costs no latency that
		// the backlog has not already cost, and saves the account's quota.
		wake := g.lastArrival.Add(s.cfg.linger)
		if s.lingerForBacklog() {
			// Checked every few lingers, not every one: a thousand lingering
			// groups would otherwise fire a timer per request.
			wake = now.Add(4 * s.cfg.linger)
		}
		if limit := g.activated.Add(s.cfg.maxLinger); limit.Before(wake) {
			wake = limit
		}
		if wake.After(now) {
			s.arm(g, wake.Sub(now))
			return
		}
	}
	s.toReady(g)
}

// take: ready → calling, building the group's next call; or → idle (or the
// next state) when nothing live was left to send, returning nil. A group
// popped after release or in another state yields nil.
func (s *scheduler) take(g *group, window ticket) *call {
	var reports []report
	s.mu.Lock()
	if g.state != groupReady {
		s.region(g.key.region).remove.refund(window)
		s.mu.Unlock()
		return nil
	}
	now := s.clock.Now()
	// keepLive expires the slot's requests whose deadline passed and says
	// whether any request still waits for the slot.
	keepLive := func(sl *slot) bool {
		for _, w := range sl.waiters {
			reports = expireIfDue(w.r, now, reports)
		}
		return sl.live()
	}
	var slots []*slot
	solo := false
	switch {
	case g.last != nil: // a retry
		solo = g.last.solo
		for _, sl := range g.last.slots {
			if keepLive(sl) {
				slots = append(slots, sl)
			}
		}
	case len(g.isolated) > 0:
		for len(g.isolated) > 0 && len(slots) == 0 {
			for _, sl := range g.isolated[0] {
				if keepLive(sl) {
					slots = append(slots, sl)
				}
			}
			g.isolated = g.isolated[1:]
		}
		solo = true
	}
	if !solo {
		slots = s.topUp(g, slots, keepLive)
	}
	g.last = nil
	if len(slots) == 0 {
		s.region(g.key.region).remove.refund(window)
		s.next(g)
		s.mu.Unlock()
		s.emit(reports)
		return nil
	}
	s.callSeq++
	cl := &call{g: g, seq: s.callSeq, window: window, slots: slots, servers: make([]messages.BackendServer, len(slots))}
	for i, sl := range slots {
		cl.servers[i] = sl.server
		for _, w := range sl.waiters {
			if !w.r.isDecided() && w.r.lastCall != cl.seq {
				w.r.lastCall = cl.seq
				w.r.inFlight++
				cl.reqs = append(cl.reqs, w.r)
			}
		}
	}
	g.state = groupCalling
	g.last = &batch{slots: slots, solo: solo} // kept for a retry
	s.mu.Unlock()
	s.emit(reports)
	return cl
}

// topUp fills slots from the group's queue up to maxBatch. A retried batch
// may meet its own servers again in the queue (asked for again while it
// backed off): they join its slots, never twice in one call.
func (s *scheduler) topUp(g *group, slots []*slot, keepLive func(*slot) bool) []*slot {
	var inBatch map[serverKey]*slot
	if len(slots) > 0 {
		inBatch = make(map[serverKey]*slot, len(slots))
		for _, sl := range slots {
			inBatch[sl.key()] = sl
		}
	}
	n := 0
	for n < len(g.queue) && len(slots) < s.cfg.maxBatch {
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
		slots = append(slots, sl)
	}
	clear(g.queue[:n])
	g.queue = g.queue[n:]
	return slots
}

// complete applies a call's result: calling → the next state (success,
// credentials), backing off (throttled, transient), or the next state after
// splitting the call per request (permanent). It returns the progress notes
// of the requests the call carried; finished requests go to the reporter.
func (s *scheduler) complete(cl *call, res callResult) []messages.Progress {
	var (
		reports  []report
		progress []messages.Progress
	)
	s.mu.Lock()
	g := cl.g
	now := s.clock.Now()
	if budget := s.region(g.key.region).remove; res.notSent {
		budget.refund(cl.window)
	} else {
		// Only the account's own flow control says the window is spent; the
		// service throttling on its own only backs the group off.
		budget.answered(now, cl.window, res.err != nil && res.class == retry.Throttled && retry.QuotaSpent(res.err))
	}
	for _, r := range cl.reqs {
		r.inFlight--
		if r.isDecided() || res.notSent {
			continue
		}
		r.attempts++
		if res.requestID != "" {
			r.apiIDs = append(r.apiIDs, res.requestID)
		}
	}
	switch {
	case res.err == nil:
		var stillThere []*slot
		reports, progress, stillThere = s.succeeded(cl, res.remaining, now)
		if len(stillThere) > 0 {
			// The API still lists them: not removed (yet). Retried after a
			// backoff, topped up like any retry; their requests fail
			// NotRemoved at their deadline if they never go.
			g.last = &batch{slots: stillThere, solo: g.last.solo}
			s.m.notRemoved.Add(float64(len(stillThere)))
			reports = s.backOff(g, now, reports)
			break
		}
		s.next(g)
	case res.class == retry.Throttled || res.class == retry.Transient:
		reports = s.backOff(g, now, reports)
	case res.class == retry.Credentials:
		// Not the requests' fault: the batch waits, ready, until the
		// credentials work again (dispatchers wait on the gate).
		s.toReady(g)
	default:
		reports = s.failedPermanently(cl, res, now)
		s.next(g)
	}
	s.mu.Unlock()
	s.emit(reports)
	return progress
}

// succeeded marks the call's servers removed, except those the API's
// answer still lists (returned), and finishes the requests it completed.
// Called with mu held.
func (s *scheduler) succeeded(cl *call, remaining []WeightedServer, now time.Time) (reports []report, progress []messages.Progress, stillThere []*slot) {
	g := cl.g
	var listed map[serverPort]bool
	if len(remaining) > 0 {
		listed = make(map[serverPort]bool, len(remaining))
		for _, bs := range remaining {
			listed[serverPort{bs.ServerID, bs.Port}] = true
		}
	}
	for _, sl := range cl.slots {
		if listed[serverPort{sl.server.ServerID, sl.server.Port}] {
			stillThere = append(stillThere, sl)
			for _, w := range sl.waiters {
				w.r.notRemovedSeen = true
			}
			continue
		}
		for _, w := range sl.waiters {
			if !w.r.isDecided() && !w.r.removed[w.i] {
				w.r.removed[w.i] = true
				w.r.remaining--
			}
		}
	}
	for _, r := range cl.reqs {
		if r.isDecided() {
			continue
		}
		p := messages.Progress{RequestID: r.req.RequestID, Removed: r.removedCount(), Total: len(r.removed)}
		if r.req.Version >= messages.Version2 {
			p.Phase = messages.PhaseRemoved
		}
		progress = append(progress, p)
		if r.remaining == 0 {
			reports = settleDone(r, now, reports)
		} else if r.inFlight == 0 {
			reports = expireIfDue(r, now, reports) // its deadline came during the call
		}
	}
	if len(stillThere) == 0 {
		g.last = nil
		if g.backoff != nil {
			g.backoff.Reset()
		}
	}
	return reports, progress, stillThere
}

// serverPort is how the API's answer names a backend server of a group.
type serverPort struct {
	id   string
	port int
}

// backOff: calling → backing off, keeping the call's batch for the retry.
// (If release emptied the worker meanwhile, its requests are decided and
// armRetry retires the group.)
func (s *scheduler) backOff(g *group, now time.Time, reports []report) []report {
	if g.backoff == nil {
		// The group's own retries stay short: waiting for the account's
		// quota is the region budget's job, not this backoff's.
		p := s.cfg.policy
		p.Max = min(p.Max, s.cfg.retryMax)
		g.backoff = p.NewBackOff(time.Time{}, nil)
	}
	g.notBefore = now.Add(g.backoff.NextBackOff())
	g.state = groupBackingOff
	return s.armRetry(g, now, reports)
}

// groupRetryMax caps a group's backoff after a throttled (by the service,
// not the quota), transient or not-yet-removed answer: every retry still
// waits for its region's quota, which paces the calls the account allows.
const groupRetryMax = 500 * time.Millisecond

// settleDone finishes a request none of whose servers is left to try:
// completed, or failed when the API refused some of them.
func settleDone(r *request, now time.Time, reports []report) []report {
	if len(r.failures) > 0 {
		return finish(r, messages.StatusFailed, r.failureError(), now, reports)
	}
	return finish(r, messages.StatusCompleted, nil, now, reports)
}

// failedPermanently handles a permanent error. One about the call as a
// whole (the group does not exist, a RAM policy denies it) fails every
// request in it. Any other is narrowed down: the call is split in halves,
// each sent alone (≤ log₂ 20 more calls per bad server), until the servers
// the API refuses stand alone; those fail, named in their requests' events,
// and the rest is removed. Slots keep all their requests, so a server that
// several requests asked for is accounted for in each of them.
// Called with mu held.
func (s *scheduler) failedPermanently(cl *call, res callResult, now time.Time) (reports []report) {
	g := cl.g
	var live []*slot
	for _, sl := range cl.slots {
		if sl.live() {
			live = append(live, sl)
		}
	}
	switch {
	case retry.GroupWide(res.err):
		e := &messages.Error{Code: retry.Code(res.err), Message: retry.Message(res.err)}
		for _, r := range cl.reqs {
			reports = finish(r, messages.StatusFailed, e, now, reports)
		}
	case len(live) > 1:
		half := len(live) / 2
		g.isolated = append([][]*slot{live[:half:half], live[half:]}, g.isolated...)
		s.m.bisections.Inc()
	case len(live) == 1:
		code, message := retry.Code(res.err), retry.Message(res.err)
		for _, w := range live[0].waiters {
			r := w.r
			if r.isDecided() || r.removed[w.i] {
				continue
			}
			r.failures = append(r.failures, serverFailure{i: w.i, code: code, message: message})
			if r.remaining--; r.remaining == 0 {
				reports = settleDone(r, now, reports)
			}
		}
	}
	g.last = nil
	return reports
}

// armRetry fails the requests of the backing-off batch whose deadline has
// passed and sets the timer that sends the batch again: at notBefore, or
// earlier at the first deadline, which is then failed on time. A batch with
// no live request left retires: backing off → the next state.
func (s *scheduler) armRetry(g *group, now time.Time, reports []report) []report {
	wake := g.notBefore
	live := false
	for _, sl := range g.last.slots {
		for _, w := range sl.waiters {
			if reports = expireIfDue(w.r, now, reports); w.r.isDecided() {
				continue
			}
			live = true
			if w.r.deadline.Before(wake) {
				wake = w.r.deadline
			}
		}
	}
	if !live {
		g.last = nil
		s.next(g)
		return reports
	}
	s.arm(g, wake.Sub(now))
	return reports
}

// retryDue: backing off → ready at notBefore, or backing off again after
// failing the requests whose deadline came first.
func (s *scheduler) retryDue(g *group, reports []report) []report {
	now := s.clock.Now()
	if now.Before(g.notBefore) {
		return s.armRetry(g, now, reports)
	}
	s.toReady(g)
	return reports
}

// next schedules the group's next call at once (its requests have waited
// already: group commit), or lingers while the stream has a backlog, or
// retires the group to idle when it has no work left. Called with mu held,
// when the group is in no queue and no timer.
func (s *scheduler) next(g *group) {
	g.state = groupIdle
	if len(g.isolated) == 0 && len(g.queue) > 0 && len(g.queue) < s.cfg.maxBatch && s.lingerForBacklog() {
		// While the stream has a backlog, a partial batch waits for company
		// here too, as an idle group's does.
		s.startLinger(g, s.clock.Now())
		return
	}
	if g.hasWork() {
		s.toReady(g)
		return
	}
	s.disarm(g)
	if s.groups[g.key] == g {
		delete(s.groups, g.key)
		s.m.activeGroups.Set(float64(len(s.groups)))
	}
}

// release empties every group (the ledger has handed their requests back):
// all but calling groups → idle. A calling group keeps only its call, whose
// result then finds no live request.
func (s *scheduler) release() {
	s.mu.Lock()
	defer s.mu.Unlock()
	for key, g := range s.groups {
		g.queue, g.index, g.isolated = nil, make(map[serverKey]*slot), nil
		if g.state == groupCalling {
			continue
		}
		s.disarm(g)
		g.state, g.last = groupIdle, nil
		delete(s.groups, key)
	}
	s.m.activeGroups.Set(float64(len(s.groups)))
}

// startFlush turns linger off and sends lingering groups at once (shutdown).
func (s *scheduler) startFlush() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.flush = true
	for _, g := range s.groups {
		if g.state == groupLingering {
			s.toReady(g)
		}
	}
}

// annotate runs f under the scheduler's lock: for fields of a request that
// the scheduler reads when it builds the request's outcome.
func (s *scheduler) annotate(f func()) {
	s.mu.Lock()
	defer s.mu.Unlock()
	f()
}

// stateOf is a group's state, for tests and logs.
func (s *scheduler) stateOf(key groupKey) groupState {
	s.mu.Lock()
	defer s.mu.Unlock()
	if g := s.groups[key]; g != nil {
		return g.state
	}
	return groupIdle
}
