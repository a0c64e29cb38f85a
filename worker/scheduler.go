package worker

import (
	"cmp"
	"context"
	"math"
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

// op is the kind of call a batch makes. A group makes one call at a time,
// whatever its kind: the API serializes writes on a group.
type op uint8

const (
	opRemove op = iota // RemoveVServerGroupBackendServers
	opWeight           // SetVServerGroupAttribute: the slots' weights (0: a graceful drain's first step)
	opAdd              // AddVServerGroupBackendServers: a restore of servers the group does not hold
	// opCheck is DescribeVServerGroupAttribute for riders: servers asked to
	// be removed that the group's latest answer showed gone already, or
	// that the remove call out then carried (a re-sent hook, a second tool
	// asking too). Each still needs an answer that comes after its request,
	// but a write call would remove nothing: riders take the room that
	// removals leave, and where none comes, one read (on the read quota,
	// not the scarce write quota) checks them all.
	opCheck
	opCount
)

// opActions are the API actions of the ops, as Alibaba names them in its quotas.
var opActions = [opCount]string{ActionRemove, ActionSetAttribute, ActionAdd, ActionDescribe}

// opOrder is which queue a group serves first: weight calls start the waits
// of graceful drains, so they go before removals; checks after removals (a
// removal with room checks riders for free) and before restores, so that a
// rider is judged on the group as it was when it came, not after a restore
// that came later; restores last.
var opOrder = [opCount]op{opWeight, opRemove, opCheck, opAdd}

func (o op) String() string { return opActions[o] }

type serverKey struct {
	id   string
	port int
	typ  string
}

// slot is one backend server of a call and the requests waiting for it;
// weight is the weight a weight or add call gives it.
type slot struct {
	server  messages.BackendServer
	weight  int
	waiters []waiter
}

type waiter struct {
	r *request
	i int // index in r.parts
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
	op    op
	slots []*slot
	solo  bool // one request's part after a permanent error: never topped up
}

// opQueue is a group's servers waiting for a call of one kind.
type opQueue struct {
	slots []*slot
	index map[serverKey]*slot // queued slots, for folding
}

// drop removes the queue's first n slots.
func (q *opQueue) drop(n int) {
	for _, sl := range q.slots[:n] {
		delete(q.index, sl.key())
	}
	clear(q.slots[:n])
	q.slots = q.slots[n:]
}

// put appends a slot, indexed for folding.
func (q *opQueue) put(sl *slot) {
	if q.index == nil {
		q.index = make(map[serverKey]*slot)
	}
	q.index[sl.key()] = sl
	q.slots = append(q.slots, sl)
}

// fold adds a slot's waiters to the queue's slot of the same server, or
// appends the slot when it has none.
func (q *opQueue) fold(sl *slot) {
	if same := q.index[sl.key()]; same != nil {
		same.waiters = append(same.waiters, sl.waiters...)
		return
	}
	q.put(sl)
}

type group struct {
	key      groupKey
	state    groupState
	queues   [opCount]opQueue
	isolated []*batch // halves of a call after a permanent error on it
	last     *batch   // calling: the call's batch; backing off: the batch to resend
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
	// quickRetries counts the group's calls retried in a row as noise:
	// one group that keeps failing beside healthy ones backs off after a few.
	quickRetries int
}

// membership is a group's servers as a successful answer listed them, and when.
type membership struct {
	servers map[serverPort]int
	at      time.Time
}

// listingTTL is how long a group's membership tells which servers are gone:
// it only orders calls (a rider is still sent and verified), so it may be
// old; expired ones are dropped once a listingTTL, to bound memory.
const listingTTL = 10 * time.Second

// goneOrGoing says whether the group's latest answer showed the server
// gone, or the remove call out now carries it. Called with mu held.
func (s *scheduler) goneOrGoing(g *group, bs messages.BackendServer, now time.Time) bool {
	sp := serverPort{bs.ServerID, bs.Port}
	if g.state == groupCalling && g.last != nil && g.last.op == opRemove &&
		slices.ContainsFunc(g.last.slots, func(sl *slot) bool { return sl.server.ServerID == sp.id && sl.server.Port == sp.port }) {
		return true
	}
	l, ok := s.listings[g.key]
	if !ok || now.Sub(l.at) > listingTTL {
		return false
	}
	_, listed := l.servers[sp]
	return !listed
}

// remember keeps a group's listing from a successful answer. Called with mu held.
func (s *scheduler) remember(key groupKey, servers map[serverPort]int, now time.Time) {
	if now.Sub(s.pruned) > listingTTL {
		for k, l := range s.listings {
			if now.Sub(l.at) > listingTTL {
				delete(s.listings, k)
			}
		}
		s.pruned = now
	}
	s.listings[key] = membership{servers, now}
}

// canCheck says whether the group may make a check of its riders before
// its next kind of call: it has riders, and no retry or isolated batch
// that must go first.
func (g *group) canCheck() bool {
	return g.last == nil && len(g.isolated) == 0 && len(g.queues[opCheck].slots) > 0
}

// nextOp is the kind of the group's next call: a retry's or an isolated
// batch's, else the first queue in opOrder with servers.
func (g *group) nextOp() op {
	switch {
	case g.last != nil:
		return g.last.op
	case len(g.isolated) > 0:
		return g.isolated[0].op
	}
	for _, o := range opOrder {
		if len(g.queues[o].slots) > 0 {
			return o
		}
	}
	return opRemove
}

// pending is how many servers the group's next call would carry, at most.
func (g *group) pending() int {
	o := g.nextOp()
	n := len(g.queues[o].slots)
	if g.last != nil {
		n += len(g.last.slots)
	}
	if len(g.isolated) > 0 {
		n = max(n, len(g.isolated[0].slots))
	}
	return n
}

// queued is how many servers wait in all of the group's queues.
func (g *group) queued() int {
	n := 0
	for o := range g.queues {
		n += len(g.queues[o].slots)
	}
	return n
}

// hasWork says whether the group has servers waiting besides a call's batch.
func (g *group) hasWork() bool { return g.queued() > 0 || len(g.isolated) > 0 }

// call is one API call being made for a group.
type call struct {
	g       *group
	op      op
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
	// remaining is the group's servers after a successful call, as the API
	// answered: a server removed is not listed, one added or weighted is,
	// with its weight.
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
// share of each write action's quota. One region's spent window never holds
// back another's groups.
type region struct {
	name        string
	ready       []*group
	budgets     [opCount]*budget
	lastArrival time.Time // of any request in the region: a storm lingers, a lone request does not
	// failStreak counts the region's answers in a row that were throttled
	// or failed transiently, of any group: a success between them makes
	// them the API's noise, not an outage.
	failStreak int
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
	waiting map[groupKey][]*request // graceful drains at weight 0, until their wait ends
	reads   *readBudgets            // the read quotas, the resolver's and the checks'
	// listings are the groups' servers as their latest answers listed them:
	// which servers asked for are gone already (riders).
	listings map[groupKey]membership
	pruned   time.Time // when expired listings were last dropped
	flush    bool      // shutting down: no linger
	callSeq  uint64
}

func newScheduler(cfg schedulerConfig, clock Clock, held func() int, arriving func() bool, emit func([]report), m *metrics) *scheduler {
	cfg.maxLinger = max(cfg.linger, cfg.maxLinger)
	if cfg.retryMax == 0 {
		cfg.retryMax = groupRetryMax
	}
	s := &scheduler{cfg: cfg, clock: clock, signal: make(chan struct{}, 1), held: held, arriving: arriving, emit: emit, m: m,
		groups: make(map[groupKey]*group), regions: make(map[string]*region), waiting: make(map[groupKey][]*request),
		listings: make(map[groupKey]membership)}
	s.reads = newReadBudgets(cfg.quotas, m, &s.mu)
	return s
}

// region returns the state of a region, made on first use. Called with mu held.
func (s *scheduler) region(name string) *region {
	rg := s.regions[name]
	if rg == nil {
		rg = &region{name: name}
		s.regions[name] = rg
	}
	return rg
}

// budget is the region's budget of an op's action, made on first use.
// Called with mu held.
func (s *scheduler) budget(rg *region, o op) *budget {
	if o == opCheck {
		return s.reads.get(rg.name, opActions[o], s.clock.Now())
	}
	if b := rg.budgets[o]; b != nil {
		return b
	}
	rg.budgets[o] = newActionBudget(s.cfg.quotas, s.m, rg.name, opActions[o], s.clock.Now())
	return rg.budgets[o]
}

// budgetOf is the budget a ticket was taken from. Called with mu held.
func (s *scheduler) budgetOf(g *group, t ticket) *budget {
	return s.budget(s.region(g.key.region), t.op)
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

// add queues a held request's servers on its group, each for its first
// call (request.firstStep): idle → lingering or ready; lingering → ready
// once a full batch waits. A graceful drain whose servers are all at weight
// 0 already starts its wait; a restore with nothing to change completes.
func (s *scheduler) add(r *request) {
	s.mu.Lock()
	now := s.clock.Now()
	var reports []report
	if r.expired(now) {
		reports = expireIfDue(r, now, nil)
		s.mu.Unlock()
		s.emit(reports)
		return
	}
	var byOp [opCount][]int
	for i := range r.parts {
		if o, done := r.firstStep(i); done {
			r.markDone(o, i, time.Time{})
		} else {
			byOp[o] = append(byOp[o], i)
		}
	}
	for _, o := range opOrder {
		if len(byOp[o]) > 0 {
			s.enqueue(r, o, byOp[o], now)
		}
	}
	switch {
	case r.remaining == 0:
		reports = settleDone(r, now, reports) // a restore the group already reflects
	case r.graceful() && r.zeroLeft == 0:
		s.startWait(r, now) // every server at weight 0 already
	}
	s.mu.Unlock()
	s.emit(reports)
}

// enqueue queues parts idx of r for calls of kind o on their groups.
// Called with mu held.
func (s *scheduler) enqueue(r *request, o op, idx []int, now time.Time) {
	var order []groupKey
	byGroup := map[groupKey][]int{}
	for _, i := range idx {
		key := r.parts[i].key
		if byGroup[key] == nil {
			order = append(order, key)
		}
		byGroup[key] = append(byGroup[key], i)
	}
	for _, key := range order {
		s.enqueueOn(key, r, o, byGroup[key], now)
	}
}

// enqueueOn queues parts idx of r, all of group key, for calls of kind o.
// Called with mu held.
func (s *scheduler) enqueueOn(key groupKey, r *request, o op, idx []int, now time.Time) {
	g := s.groups[key]
	if g == nil {
		g = &group{key: key}
		s.groups[key] = g
		s.m.activeGroups.Set(float64(len(s.groups)))
	}
	q := &g.queues[o]
	for _, i := range idx {
		bs := r.parts[i].server
		k := serverKey{bs.ServerID, bs.Port, bs.Type} // slot.key()
		if sl := q.index[k]; sl != nil {
			sl.waiters = append(sl.waiters, waiter{r, i})
			continue
		}
		bs.Weight = messages.Weight{} // the API's parameter carries the slot's weight
		if o == opRemove {
			if sl := g.queues[opCheck].index[k]; sl != nil {
				sl.waiters = append(sl.waiters, waiter{r, i}) // a rider already
				continue
			}
			if s.goneOrGoing(g, bs, now) {
				g.queues[opCheck].put(&slot{server: bs, waiters: []waiter{{r, i}}})
				s.m.riders.Inc()
				continue
			}
		}
		q.put(&slot{server: bs, weight: r.targetWeight(o, i), waiters: []waiter{{r, i}}})
	}
	rg := s.region(key.region)
	storm := now.Sub(rg.lastArrival) < s.cfg.linger
	rg.lastArrival = now
	switch g.state {
	case groupIdle:
		// A lone request leaves at once (one round trip); in a storm, an idle
		// group waits a linger for company.
		if (storm || s.lingerForBacklog()) && s.cfg.linger > 0 && !s.flush && len(q.slots) < s.cfg.maxBatch {
			s.startLinger(g, now)
		} else {
			s.toReady(g)
		}
	case groupLingering:
		g.lastArrival = now
		if len(q.slots) >= s.cfg.maxBatch {
			s.toReady(g) // a full batch needs no more company
		}
	}
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

// pop waits for a ready group whose region's quota for its next call's
// action allows a call now, and counts the call in that window; nil when
// ctx is done. Within a region the fullest group goes first, so a scarce
// window carries the most servers; a group that has waited a whole window
// goes before fuller ones, so none starves.
func (s *scheduler) pop(ctx context.Context) (*group, ticket) {
	for {
		s.mu.Lock()
		now := s.clock.Now()
		if g, window, ok := s.popBest(now); ok {
			more := s.anyCallable(now)
			s.mu.Unlock()
			if more {
				s.wake() // pass the baton to another waiting dispatcher
			}
			return g, window
		}
		var wake time.Time
		for _, rg := range s.regions {
			for _, g := range rg.ready {
				for _, o := range [...]op{g.nextOp(), opCheck} {
					if o == opCheck && !g.canCheck() {
						continue
					}
					if next := s.budget(rg, o).nextWindow(); wake.IsZero() || next.Before(wake) {
						wake = next
					}
				}
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

// anyCallable says whether some region has a ready group with room for its
// call. Called with mu held.
func (s *scheduler) anyCallable(now time.Time) bool {
	for _, rg := range s.regions {
		for _, g := range rg.ready {
			if _, _, ok := s.callableOp(rg, g, now); ok {
				return true
			}
		}
	}
	return false
}

// callableOp is the kind of call a ready group may make now: its next
// kind, if that action's window has room; else a check of its riders, if
// the read quota has room, so that riders never wait for a spent write
// quota or behind the group's queued writes. Called with mu held.
func (s *scheduler) callableOp(rg *region, g *group, now time.Time) (op, *budget, bool) {
	o := g.nextOp()
	if b := s.budget(rg, o); b.available(now) > 0 {
		return o, b, true
	}
	if o != opCheck && g.canCheck() {
		if b := s.budget(rg, opCheck); b.available(now) > 0 {
			return opCheck, b, true
		}
	}
	return o, nil, false
}

// popBest takes the fullest ready group, of any region, whose action's
// window has room, or first one that has waited a whole window, and counts
// its call. Regions are compared, not taken in turn: where the --slb-qps
// ceiling is what limits, its calls go to the fullest batches, and a region
// whose quota is spent (by other tools) never takes one from a region
// whose batches are fuller. Called with mu held.
func (s *scheduler) popBest(now time.Time) (*group, ticket, bool) {
	var (
		bestRegion *region
		best       = -1
		bestOp     op
		bestBudget *budget
		overdue    bool
	)
	for _, rg := range s.regions {
		for i, g := range rg.ready {
			o, b, ok := s.callableOp(rg, g, now)
			if !ok {
				continue
			}
			late := now.Sub(g.readyAt) >= b.quota.Window // waited a whole window: goes first
			if best < 0 || (late && !overdue) || (late == overdue && g.pending() > bestRegion.ready[best].pending()) {
				bestRegion, best, bestOp, bestBudget, overdue = rg, i, o, b, late
			}
		}
	}
	if best < 0 {
		return nil, ticket{}, false
	}
	g, o := bestRegion.ready[best], bestOp
	window, ok := bestBudget.take(now)
	if !ok {
		return nil, ticket{}, false
	}
	window.op = o
	bestRegion.ready = slices.Delete(bestRegion.ready, best, best+1)
	return g, window, true
}

// stillCallable is the group whose call goes out now that the dispatcher
// passed the --slb-qps ceiling, and in which window: the popped group goes
// back among the ready ones and the best of them is taken again, since
// while the dispatcher waited a fuller batch may have become ready, or the
// popped group's window may have been found spent or have ended.
func (s *scheduler) stillCallable(g *group, window ticket) (*group, ticket, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.putBack(g, window)
	now := s.clock.Now()
	g, window, ok := s.popBest(now)
	if !ok || s.anyCallable(now) {
		s.wake() // the popped group, put back, may be another dispatcher's to call
	}
	return g, window, ok
}

// putBack returns a popped group's call to its window and the group to its
// region's ready list. Called with mu held.
func (s *scheduler) putBack(g *group, window ticket) {
	s.budgetOf(g, window).refund(window)
	if g.state == groupReady {
		rg := s.region(g.key.region)
		rg.ready = append(rg.ready, g)
	}
}

// unpop puts back a group that pop gave a dispatcher which then could not
// call (shutdown), with its call's place in the window.
func (s *scheduler) unpop(g *group, window ticket) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.putBack(g, window)
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
	if !s.flush && len(g.queues[g.nextOp()].slots) < s.cfg.maxBatch {
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

// take: ready → calling, building the group's next call of the ticket's
// kind; or → idle (or the next state) when nothing live was left to send,
// returning nil. A group popped after release or in another state yields nil.
func (s *scheduler) take(g *group, window ticket) *call {
	var reports []report
	s.mu.Lock()
	if g.state != groupReady {
		s.budgetOf(g, window).refund(window)
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
	o := window.op
	var slots []*slot
	solo := false
	switch {
	case g.last != nil: // a retry
		o, solo = g.last.op, g.last.solo
		for _, sl := range g.last.slots {
			if keepLive(sl) {
				slots = append(slots, sl)
			}
		}
	case len(g.isolated) > 0:
		for len(g.isolated) > 0 && len(slots) == 0 {
			o = g.isolated[0].op
			for _, sl := range g.isolated[0].slots {
				if keepLive(sl) {
					slots = append(slots, sl)
				}
			}
			g.isolated = g.isolated[1:]
		}
		solo = true
	}
	if !solo {
		slots = s.topUp(g, o, slots, keepLive)
	}
	g.last = nil
	if len(slots) == 0 || o != window.op {
		// Nothing live, or (a rare race) not the kind of call the ticket
		// was taken for: the group is scheduled again with what it has.
		if len(slots) > 0 {
			g.last = &batch{op: o, slots: slots, solo: solo}
			s.budgetOf(g, window).refund(window)
			s.toReady(g)
			s.mu.Unlock()
			s.emit(reports)
			return nil
		}
		s.budgetOf(g, window).refund(window)
		s.next(g)
		s.mu.Unlock()
		s.emit(reports)
		return nil
	}
	s.callSeq++
	cl := &call{g: g, op: o, seq: s.callSeq, window: window, slots: slots, servers: make([]messages.BackendServer, len(slots))}
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
	g.last = &batch{op: o, slots: slots, solo: solo} // kept for a retry
	s.mu.Unlock()
	s.emit(reports)
	return cl
}

// topUp fills slots from the group's queue of kind o up to maxBatch. A
// retried batch may meet its own servers again in the queue (asked for
// again while it backed off): they join its slots, never twice in one call.
func (s *scheduler) topUp(g *group, o op, slots []*slot, keepLive func(*slot) bool) []*slot {
	var inBatch map[serverKey]*slot
	if len(slots) > 0 {
		inBatch = make(map[serverKey]*slot, len(slots))
		for _, sl := range slots {
			inBatch[sl.key()] = sl
		}
	}
	limit := s.cfg.maxBatch
	if o == opCheck {
		limit = math.MaxInt // one read lists the whole group
	}
	slots = fill(&g.queues[o], slots, inBatch, limit, keepLive)
	if o == opRemove {
		slots = fill(&g.queues[opCheck], slots, inBatch, limit, keepLive) // riders, in the room left
	}
	return slots
}

// toRemovals: calling (a check) → the next state, the check's live slots
// queued for removal, each folded into the group's slot of its server if
// it has one. Called with mu held.
func (s *scheduler) toRemovals(g *group, slots []*slot) {
	g.last = nil
	for _, sl := range slots {
		if sl.live() {
			g.queues[opRemove].fold(sl)
		}
	}
	s.next(g)
}

// fill takes slots from q into slots, up to limit, folding those already
// in the batch.
func fill(q *opQueue, slots []*slot, inBatch map[serverKey]*slot, limit int, keepLive func(*slot) bool) []*slot {
	n := 0
	for n < len(q.slots) && len(slots) < limit {
		sl := q.slots[n]
		n++
		if !keepLive(sl) {
			continue
		}
		if same := inBatch[sl.key()]; same != nil {
			same.waiters = append(same.waiters, sl.waiters...)
			continue
		}
		slots = append(slots, sl)
	}
	q.drop(n)
	return slots
}

// complete applies a call's result: calling → the next state (success,
// credentials), backing off (throttled, transient, or an answer that does
// not show the change yet), or the next state after splitting the call
// (permanent). It returns the progress notes of the requests the call
// carried; finished requests go to the reporter.
func (s *scheduler) complete(cl *call, res callResult) []note {
	progress, reports := s.answer(cl, res)
	s.emit(reports)
	return progress
}

// answer is complete without handing the finished requests on: the caller
// publishes the progress notes first, so that a request's last note comes
// before its event.
func (s *scheduler) answer(cl *call, res callResult) ([]note, []report) {
	var (
		reports  []report
		progress []note
	)
	s.mu.Lock()
	g := cl.g
	now := s.clock.Now()
	if budget := s.budgetOf(g, cl.window); res.notSent {
		budget.refund(cl.window)
	} else {
		// Only the account's own flow control says the window is spent; the
		// service throttling on its own only backs the group off.
		budget.answered(now, cl.window, res.err != nil && res.class == retry.Throttled && retry.QuotaSpent(res.err))
		if reg := s.region(g.key.region); res.err == nil {
			reg.failStreak, g.quickRetries = 0, 0
		} else if res.class == retry.Throttled || res.class == retry.Transient {
			reg.failStreak++
		}
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
		var notYet []*slot
		reports, progress, notYet = s.succeeded(cl, res.remaining, now)
		if len(notYet) > 0 && cl.op == opCheck {
			// Riders the group holds after all (added back since): they
			// are removed like any other.
			s.toRemovals(g, notYet)
			break
		}
		if len(notYet) > 0 {
			// The API's answer does not show them changed (yet). Retried
			// after a backoff, topped up like any retry; their requests fail
			// at their deadline if the change never shows.
			g.last = &batch{op: cl.op, slots: notYet, solo: g.last.solo}
			s.m.notRemoved.Add(float64(len(notYet)))
			reports = s.backOff(g, now, reports)
			break
		}
		s.next(g)
	case res.class == retry.Throttled || res.class == retry.Transient:
		if s.isNoise(g, res) {
			reports = s.retrySoon(g, now, reports)
			break
		}
		reports = s.backOff(g, now, reports)
	case res.class == retry.Credentials:
		// Not the requests' fault: the batch waits, ready, until the
		// credentials work again (dispatchers wait on the gate).
		s.toReady(g)
	case cl.op == opCheck:
		// A read refused says nothing of any one rider: they are removed
		// instead, as they would have been without the read.
		s.toRemovals(g, cl.slots)
	default:
		reports = s.failedPermanently(cl, res, now)
		s.next(g)
	}
	s.mu.Unlock()
	return progress, reports
}

// shows says whether the API's list of the group's servers after a call of
// kind o shows the slot's change made: a removed server is not listed; a
// weighted or added one is, with the slot's weight (a server gone from the
// group is at weight 0 as much as can be).
func (o op) shows(sl *slot, listed map[serverPort]int) bool {
	w, ok := listed[serverPort{sl.server.ServerID, sl.server.Port}]
	switch o {
	case opRemove, opCheck:
		return !ok
	case opWeight:
		return (ok && w == sl.weight) || (!ok && sl.weight == 0)
	default:
		return ok && w == sl.weight
	}
}

// succeeded marks done the call's servers whose change the API's answer
// shows, returns the others, and moves on the requests it advanced: a
// drain's or restore's last server completes it; a graceful drain's last
// weight starts its wait. Called with mu held.
func (s *scheduler) succeeded(cl *call, after []WeightedServer, now time.Time) (reports []report, progress []note, notYet []*slot) {
	g := cl.g
	listed := make(map[serverPort]int, len(after))
	for _, bs := range after {
		listed[serverPort{bs.ServerID, bs.Port}] = bs.Weight
	}
	s.remember(g.key, listed, now)
	for _, sl := range cl.slots {
		if !cl.op.shows(sl, listed) {
			notYet = append(notYet, sl)
			for _, w := range sl.waiters {
				w.r.notRemovedSeen = w.r.notRemovedSeen || cl.op != opCheck // a read removes nothing
			}
			continue
		}
		for _, w := range sl.waiters {
			if !w.r.isDecided() {
				w.r.markDone(cl.op, w.i, now)
			}
		}
	}
	if cl.op != opAdd {
		for _, r := range cl.reqs {
			if !r.isDecided() {
				s.joinNewPorts(r, g.key, after, cl.op, now)
			}
		}
	}
	for _, r := range cl.reqs {
		if r.isDecided() {
			continue
		}
		n := note{progress: messages.Progress{RequestID: r.req.RequestID, Removed: r.removedCount(), Total: len(r.removed)}}
		switch p := &n.progress; {
		case r.graceful() && cl.op == opWeight:
			p.Phase = messages.PhaseWeightZero
			if r.zeroLeft == 0 {
				s.startWait(r, now)
				p.Phase, p.Until = messages.PhaseWaiting, r.until
				n.wait = r.waitRecord()
			}
		case r.req.Version >= messages.Version2 && r.req.ActionOrDefault() == messages.ActionDrain:
			p.Phase = messages.PhaseRemoved
		}
		progress = append(progress, n)
		if r.remaining == 0 {
			reports = settleDone(r, now, reports)
		} else if r.inFlight == 0 {
			reports = expireIfDue(r, now, reports) // its deadline came during the call
		}
	}
	if len(notYet) == 0 {
		g.last = nil
		if g.backoff != nil {
			g.backoff.Reset()
		}
	}
	return reports, progress, notYet
}

// joinNewPorts adds to an instance-scope request the ports of its
// instances that the API's answer lists in the group and that it was not
// on when the request was resolved (added meanwhile, behind the worker's
// back): "every port of every group that holds it" is what the answer
// shows, not what an earlier read did. They take the call's next step.
// Called with mu held.
func (s *scheduler) joinNewPorts(r *request, key groupKey, listed []WeightedServer, o op, now time.Time) {
	if !r.req.InstanceScope() {
		return
	}
	if o == opCheck {
		o = opRemove // a read found it: it is removed
	}
	asked := make(map[string][]messages.BackendServer, len(r.req.BackendServers)) // instance → its entries
	for _, bs := range r.req.BackendServers {
		asked[bs.ServerID] = append(asked[bs.ServerID], bs)
	}
	var have map[serverPort]bool // the request's parts on this group, made when needed
	var idx []int
	for _, ws := range listed {
		i := slices.IndexFunc(asked[ws.ServerID], func(e messages.BackendServer) bool { return e.Port == 0 || e.Port == ws.Port })
		if i < 0 {
			continue
		}
		entry := asked[ws.ServerID][i]
		if have == nil {
			have = map[serverPort]bool{}
			for _, p := range r.parts {
				if p.key == key {
					have[serverPort{p.server.ServerID, p.server.Port}] = true
				}
			}
		}
		sp := serverPort{ws.ServerID, ws.Port}
		if have[sp] {
			continue
		}
		have[sp] = true
		server := messages.BackendServer{ServerID: ws.ServerID, Port: ws.Port, Type: cmp.Or(ws.Type, entry.Type)}
		idx = append(idx, r.addPart(part{key, server}, ws.Weight, o))
		s.m.portsFound.Inc()
	}
	if len(idx) > 0 {
		s.enqueue(r, o, idx, now)
	}
}

// note is a progress note of a request a call advanced; wait, when the
// call started a graceful drain's wait, is what a redelivery needs to go on
// from there (the weights before the drain, weight_zero_at).
type note struct {
	progress messages.Progress
	wait     []messages.Group
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

// isNoise says whether a throttled or transient answer is the API's noise:
// the service's own throttling or a 5xx (not the account's quota spent)
// while the region's calls mostly succeed. Called with mu held.
func (s *scheduler) isNoise(g *group, res callResult) bool {
	if res.class == retry.Throttled && retry.QuotaSpent(res.err) {
		return false // the budget learns the window is spent; the group waits with it
	}
	return s.region(g.key.region).failStreak < noiseStreak && g.quickRetries < maxQuickRetries
}

// maxQuickRetries is how many times in a row one group's call is retried
// as noise before it backs off.
const maxQuickRetries = 2

// noiseStreak is the run of failed answers in a region from which a
// failure is no longer taken for noise: at 35 % of calls failing at random,
// three in a row come once in 23 answers; an outage brings them at once.
const noiseStreak = 3

// retrySoon: calling → backing off until now, so the batch is ready again at
// once and waits only for its region's quota, which paces the calls the
// account allows; its own backoff is left as it was.
func (s *scheduler) retrySoon(g *group, now time.Time, reports []report) []report {
	s.m.quickRetries.Inc()
	g.quickRetries++
	g.notBefore = now
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
		g.isolated = append([]*batch{{op: cl.op, slots: live[:half:half], solo: true}, {op: cl.op, slots: live[half:], solo: true}}, g.isolated...)
		s.m.bisections.Inc()
	case len(live) == 1:
		code, message := retry.Code(res.err), retry.Message(res.err)
		for _, w := range live[0].waiters {
			r := w.r
			if r.isDecided() || r.removed[w.i] {
				continue
			}
			r.failures = append(r.failures, serverFailure{i: w.i, code: code, message: message})
			if cl.op == opWeight && r.graceful() && !r.zeroed[w.i] {
				r.zeroed[w.i] = true // refused: not waited for, not removed
				r.zeroLeft--
			}
			switch r.remaining--; {
			case r.remaining == 0:
				reports = settleDone(r, now, reports)
			case cl.op == opWeight && r.graceful() && r.zeroLeft == 0:
				s.startWait(r, now)
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
	if n := len(g.queues[g.nextOp()].slots); len(g.isolated) == 0 && n > 0 && n < s.cfg.maxBatch && s.lingerForBacklog() {
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
	for key, waits := range s.waiting {
		for _, r := range waits {
			r.stopWait()
		}
		delete(s.waiting, key)
	}
	for key, g := range s.groups {
		g.queues, g.isolated = [opCount]opQueue{}, nil
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

// startWait: a graceful drain's servers are at weight 0; it waits its
// drain_timeout from the weight call (from now when that is unknown: never
// removed before its time), heartbeats keeping its message, then its
// servers join the group's removals. Called with mu held.
func (s *scheduler) startWait(r *request, now time.Time) {
	from := r.weightZeroAt
	if from.IsZero() {
		from = now
	}
	r.phase, r.until = messages.PhaseWaiting, from.Add(r.drainTimeout)
	key := r.parts[0].key // a request with no parts has nothing to wait for
	s.waiting[key] = append(s.waiting[key], r)
	r.waitTimer = s.clock.AfterFunc(max(0, r.until.Sub(now)), func() { s.waitDue(key) })
}

// waitDue moves the group's graceful drains whose wait has ended to its
// removals, all in one go: drains that shared a weight call share the
// remove call too. A drain decided meanwhile (its deadline) is dropped.
func (s *scheduler) waitDue(key groupKey) {
	s.mu.Lock()
	defer s.mu.Unlock()
	now := s.clock.Now()
	var keep []*request
	for _, r := range s.waiting[key] {
		switch {
		case r.isDecided():
		case now.Before(r.until):
			keep = append(keep, r)
		default:
			r.phase, r.waitTimer = messages.PhaseRemoved, nil
			var idx []int
			for i := range r.parts {
				if !r.removed[i] && !r.failed(i) {
					idx = append(idx, i)
				}
			}
			if len(idx) > 0 {
				s.enqueue(r, opRemove, idx, now)
			}
		}
	}
	if len(keep) == 0 {
		delete(s.waiting, key)
	} else {
		s.waiting[key] = keep
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
