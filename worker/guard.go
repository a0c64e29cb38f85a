package worker

import (
	"context"
	"fmt"
	"regexp"
	"sync"
	"sync/atomic"
	"time"

	"github.com/go-json-experiment/json"
	"go.uber.org/zap"

	"github.com/slbdrain/slbdrain/messages"
	"github.com/slbdrain/slbdrain/retry"
)

// guard keeps a drain from emptying a group: --allow-group fences which
// groups may be drained at all; --min-remaining (version 2, unless the
// request says force) refuses a drain that would leave the group fewer
// servers of weight > 0, counting the drains already on their way. It
// judges from the group's membership as the API last answered: read once
// (DescribeVServerGroupAttribute) when unknown, then kept current from the
// answers of the worker's own write calls.
type guard struct {
	allow        []*regexp.Regexp
	minRemaining int

	mu       sync.Mutex
	members  map[groupKey]*GroupInfo
	readAt   map[groupKey]time.Time               // when members[key] was last read or seen in a write call's answer
	lbGroups map[groupKey]listing                 // VServer groups of a load balancer (key.id), for instance scope
	reading  map[groupKey]*sync.Mutex             // one read of a group or load balancer at a time: the others wait for its answer
	reserved map[groupKey]map[serverPort]*request // servers of admitted drains not yet decided
	queue    chan *request
	pending  atomic.Int64
}

// listing is a cached listing read and when it was made.
type listing struct {
	ids []string
	at  time.Time
}

// guardReaders is how many version-2 drains are judged at once.
const guardReaders = 4

func newGuard(allow []*regexp.Regexp, minRemaining, size int) *guard {
	return &guard{allow: allow, minRemaining: minRemaining, queue: make(chan *request, size),
		members: make(map[groupKey]*GroupInfo), readAt: make(map[groupKey]time.Time), lbGroups: make(map[groupKey]listing),
		reading:  make(map[groupKey]*sync.Mutex),
		reserved: make(map[groupKey]map[serverPort]*request)}
}

// allowed says whether --allow-group lets the group be drained (no
// patterns: every group).
func (gd *guard) allowed(group string) bool {
	if len(gd.allow) == 0 {
		return true
	}
	for _, re := range gd.allow {
		if re.MatchString(group) {
			return true
		}
	}
	return false
}

// known is the group's membership as last read, if not older than maxAge
// (0: any age).
func (gd *guard) known(key groupKey, maxAge time.Duration, now time.Time) *GroupInfo {
	gd.mu.Lock()
	defer gd.mu.Unlock()
	if maxAge > 0 && now.Sub(gd.readAt[key]) > maxAge {
		return nil
	}
	return gd.members[key]
}

func (gd *guard) learnt(key groupKey, info GroupInfo, now time.Time) {
	gd.mu.Lock()
	defer gd.mu.Unlock()
	gd.members[key], gd.readAt[key] = &info, now
}

// readLock serializes the reads of one key, so that resolvers racing on an
// empty cache make one read, not one each.
func (gd *guard) readLock(key groupKey) func() {
	gd.mu.Lock()
	l := gd.reading[key]
	if l == nil {
		l = new(sync.Mutex)
		gd.reading[key] = l
	}
	gd.mu.Unlock()
	l.Lock()
	return l.Unlock
}

// groupsOf is the cached listing of a load balancer's groups, if not
// older than maxAge.
func (gd *guard) groupsOf(lb groupKey, maxAge time.Duration, now time.Time) ([]string, bool) {
	gd.mu.Lock()
	defer gd.mu.Unlock()
	l, ok := gd.lbGroups[lb]
	return l.ids, ok && now.Sub(l.at) <= maxAge
}

func (gd *guard) listedGroups(lb groupKey, ids []string, now time.Time) {
	gd.mu.Lock()
	defer gd.mu.Unlock()
	gd.lbGroups[lb] = listing{ids, now}
}

// sawAnswer updates a known group from a write call's answer, which lists
// the group's servers after the call.
func (gd *guard) sawAnswer(key groupKey, remaining []WeightedServer, now time.Time) {
	gd.mu.Lock()
	defer gd.mu.Unlock()
	if info := gd.members[key]; info != nil {
		gd.members[key] = &GroupInfo{LoadBalancerID: info.LoadBalancerID, Servers: remaining}
		gd.readAt[key] = now
	}
}

// verdict judges a drain's parts on group key against --min-remaining and,
// unless it is refused or only rehearsed, reserves their servers. A nil
// error admits them.
func (gd *guard) verdict(r *request, key groupKey, info *GroupInfo, minRemaining int) *messages.Error {
	gd.mu.Lock()
	defer gd.mu.Unlock()
	active := map[serverPort]bool{}
	for _, s := range info.Servers {
		if s.Weight > 0 {
			active[serverPort{s.ServerID, s.Port}] = true
		}
	}
	mine := map[serverPort]bool{}
	for _, p := range r.parts {
		if sp := (serverPort{p.server.ServerID, p.server.Port}); p.key == key && active[sp] {
			mine[sp] = true
		}
	}
	others := 0
	for sp, other := range gd.reserved[key] {
		switch {
		case other.isDecided():
			delete(gd.reserved[key], sp)
		case active[sp] && !mine[sp]:
			others++
		}
	}
	left := len(active) - len(mine) - others
	if left < minRemaining && !r.req.Force {
		return &messages.Error{Code: messages.CodeGuardRefused, Message: fmt.Sprintf(
			"group %s/%s has %d servers of weight > 0; draining %d of them (%d more already being drained) would leave %d, below --min-remaining %d; say force to drain anyway",
			key.region, key.id, len(active), len(mine), others, left, minRemaining)}
	}
	if !r.req.DryRun {
		if gd.reserved[key] == nil {
			gd.reserved[key] = map[serverPort]*request{}
		}
		for sp := range mine {
			gd.reserved[key][sp] = r
		}
	}
	return nil
}

// admitV2 sends a valid version-2 request on its way.
func (w *Worker) admitV2(r *request) {
	if r.req.InstanceScope() && r.restore() {
		w.failAtOnce(r, &messages.Error{Code: messages.CodeInvalidRequest, Message: "a restore names its group: " +
			"drainctl restore REQUEST_ID restores each group of an instance drain's event; nothing was changed"})
		return
	}
	w.guard.pending.Add(1)
	w.guard.queue <- r
}

// failAtOnce ends a request with an error before any call.
func (w *Worker) failAtOnce(r *request, e *messages.Error) {
	w.settleAtOnce(r, messages.StatusFailed, e)
	w.log.Warn("request refused", zap.String("request_id", r.req.RequestID), zap.String("code", e.Code), zap.String("message", e.Message))
}

// settleAtOnce decides a request outside the scheduler's calls.
func (w *Worker) settleAtOnce(r *request, status messages.Status, e *messages.Error) {
	var reps []report
	w.sched.annotate(func() {
		if r.decide() {
			reps = []report{{r: r, outcome: r.outcome(status, e, w.clock.Now())}}
		}
	})
	w.rep.publish(reps)
}

// runGuard judges queued version-2 drains: reads the group when its
// membership is unknown, applies --min-remaining, and ends dry runs.
func (w *Worker) runGuard(ctx context.Context) {
	var api Remover
	for {
		select {
		case <-ctx.Done():
			return
		case r := <-w.guard.queue:
			api = w.judge(ctx, api, r)
			w.guard.pending.Add(-1)
		}
	}
}

func (w *Worker) judge(ctx context.Context, api Remover, r *request) Remover {
	rd := &reader{w: w, api: api, r: r}
	groups, ok := w.groupsOfRequest(ctx, rd)
	if !ok {
		return rd.api
	}
	var weights map[serverPort]int
	if r.restore() && r.req.RestoreOf != "" {
		weights = w.drainedWeights(ctx, r)
	}
	prior, zeroAt := w.priorWeights(ctx, r, groups)
	w.sched.annotate(func() {
		r.groups, r.restoreWeights, r.priorWeights = groups, weights, prior
		if r.graceful() {
			r.weightZeroAt = zeroAt
		}
	})
	var refused *messages.Error
	if !r.restore() { // a restore adds capacity: nothing to guard
		for _, key := range sortedKeys(groups) {
			if refused = w.guard.verdict(r, key, groups[key], w.cfg.MinRemaining); refused != nil {
				break
			}
		}
	}
	switch {
	case r.req.DryRun:
		w.settleAtOnce(r, messages.StatusPlanned, refused) // the guard's verdict, if it refuses
	case refused != nil:
		w.failAtOnce(r, refused)
	default:
		w.sched.add(r)
	}
	return rd.api
}

// groupsOfRequest reads what the request's groups hold: its own group in
// group scope (once, then kept current from write answers); in instance
// scope, every group of the region that holds one of its servers, which
// become its parts. false: the request was decided (a read failed
// permanently, its deadline came, or shutdown).
func (w *Worker) groupsOfRequest(ctx context.Context, rd *reader) (map[groupKey]*GroupInfo, bool) {
	r := rd.r
	if r.req.InstanceScope() {
		return w.resolve(ctx, rd)
	}
	key := groupKey{r.req.RegionID, r.req.VServerGroupID}
	info, ok := w.groupInfo(ctx, rd, key, 0)
	if !ok {
		return nil, false
	}
	return map[groupKey]*GroupInfo{key: info}, true
}

// groupInfo is the group's membership: cached if not older than maxAge
// (0: any age), else read.
func (w *Worker) groupInfo(ctx context.Context, rd *reader, key groupKey, maxAge time.Duration) (*GroupInfo, bool) {
	if info := w.guard.known(key, maxAge, w.clock.Now()); info != nil {
		return info, true
	}
	defer w.guard.readLock(key)()
	if info := w.guard.known(key, maxAge, w.clock.Now()); info != nil {
		return info, true // read meanwhile by another request's judge
	}
	var got GroupInfo
	ok := rd.read(ctx, key.region, ActionDescribe, func(api Remover) ([]string, error) {
		var err error
		got, err = api.DescribeGroup(key.region, key.id)
		return []string{got.RequestID}, err
	})
	if !ok {
		return nil, false
	}
	w.guard.learnt(key, got, w.clock.Now())
	return &got, true
}

// priorWeights are a graceful drain's servers' weights before the drain:
// those its groups list now, or, for a redelivery whose wait record an
// earlier delivery kept, the record's (with its weight_zero_at, from which
// the wait goes on).
func (w *Worker) priorWeights(ctx context.Context, r *request, groups map[groupKey]*GroupInfo) (map[partKey]int, time.Time) {
	if !r.graceful() {
		return nil, time.Time{}
	}
	if r.redelivered {
		ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
		defer cancel()
		if entry, err := w.outcomes.Get(ctx, waitKey(r.req.RequestID)); err == nil {
			var record []messages.Group
			if err := json.Unmarshal(entry.Value(), &record); err == nil && len(record) > 0 {
				prior := map[partKey]int{}
				for _, g := range record {
					for _, s := range g.BackendServers {
						if n, ok := s.Weight.Get(); ok {
							prior[partKey{groupKey{r.req.RegionID, g.VServerGroupID}, serverPort{s.ServerID, s.Port}}] = n
						}
					}
				}
				w.log.Info("graceful drain goes on from its wait record", zap.String("request_id", r.req.RequestID),
					zap.Time("weight_zero_at", record[0].WeightZeroAt))
				return prior, record[0].WeightZeroAt
			}
		}
	}
	prior := map[partKey]int{}
	for key, info := range groups {
		for _, s := range info.Servers {
			if s.Weight == 0 && r.redelivered {
				// A redelivery whose wait record is lost: weight 0 is
				// likely this request's own earlier delivery's doing, not
				// a weight to put back; the event says what a restore
				// uses when it knows no better. (On a first delivery a
				// server at 0 is a standby or left so on purpose: 0 is
				// its weight.)
				continue
			}
			prior[partKey{key, serverPort{s.ServerID, s.Port}}] = s.Weight
		}
	}
	return prior, time.Time{}
}

// drainedWeights are the weights the drain a restore undoes found on this
// group, from its remembered outcome; nil when it has none.
func (w *Worker) drainedWeights(ctx context.Context, r *request) map[serverPort]int {
	o := w.rep.decided(r.req.RestoreOf)
	if o == nil {
		ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
		defer cancel()
		entry, err := w.outcomes.Get(ctx, messages.OutcomeKey(r.req.RestoreOf))
		var stored messages.Outcome
		if err == nil {
			stored, err = messages.DecodeOutcome(entry.Value())
		}
		if err != nil {
			w.log.Info("restore: no remembered outcome of the drain it undoes; unnamed weights default to 100",
				zap.String("request_id", r.req.RequestID), zap.String("restore_of", r.req.RestoreOf), zap.Error(err))
			return nil
		}
		o = &stored
	}
	weights := map[serverPort]int{}
	for _, g := range o.Groups {
		if g.VServerGroupID != r.req.VServerGroupID {
			continue
		}
		for _, s := range g.BackendServers {
			if n, ok := s.Weight.Get(); ok {
				weights[serverPort{s.ServerID, s.Port}] = n
			}
		}
	}
	return weights
}

func callClass(err error) string {
	if err == nil {
		return "ok"
	}
	return retry.Classify(err).String()
}
