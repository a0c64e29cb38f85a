package worker

import (
	"context"
	"fmt"
	"regexp"
	"strings"
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
	reserved map[groupKey]map[serverPort]*request // servers of admitted drains not yet decided
	queue    chan *request
	pending  atomic.Int64
}

// guardReaders is how many version-2 drains are judged at once.
const guardReaders = 4

func newGuard(allow []*regexp.Regexp, minRemaining, size int) *guard {
	return &guard{allow: allow, minRemaining: minRemaining, queue: make(chan *request, size),
		members: make(map[groupKey]*GroupInfo), reserved: make(map[groupKey]map[serverPort]*request)}
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

func (gd *guard) known(key groupKey) *GroupInfo {
	gd.mu.Lock()
	defer gd.mu.Unlock()
	return gd.members[key]
}

func (gd *guard) learnt(key groupKey, info GroupInfo) {
	gd.mu.Lock()
	defer gd.mu.Unlock()
	gd.members[key] = &info
}

// sawAnswer updates a known group from a write call's answer, which lists
// the group's servers after the call.
func (gd *guard) sawAnswer(key groupKey, remaining []WeightedServer) {
	gd.mu.Lock()
	defer gd.mu.Unlock()
	if info := gd.members[key]; info != nil {
		gd.members[key] = &GroupInfo{LoadBalancerID: info.LoadBalancerID, Servers: remaining}
	}
}

// verdict judges a drain against --min-remaining and, unless it is refused
// or only rehearsed, reserves its servers. A nil error admits it.
func (gd *guard) verdict(r *request, info *GroupInfo, minRemaining int) *messages.Error {
	key := groupKey{r.req.RegionID, r.req.VServerGroupID}
	gd.mu.Lock()
	defer gd.mu.Unlock()
	active := map[serverPort]bool{}
	for _, s := range info.Servers {
		if s.Weight > 0 {
			active[serverPort{s.ServerID, s.Port}] = true
		}
	}
	mine := map[serverPort]bool{}
	for _, s := range r.req.BackendServers {
		if sp := (serverPort{s.ServerID, s.Port}); active[sp] {
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
	if r.req.InstanceScope() {
		// Not built yet: refuse clearly rather than do something else.
		w.failAtOnce(r, &messages.Error{Code: "NotSupported", Message: notSupported(&r.req)})
		return
	}
	w.guard.pending.Add(1)
	w.guard.queue <- r
}

func notSupported(req *messages.DrainRequest) string {
	var what []string
	if req.InstanceScope() {
		what = append(what, "instance scope")
	}
	return "this drainworker does not do " + strings.Join(what, ", ") + " yet; nothing was changed"
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
	key := groupKey{r.req.RegionID, r.req.VServerGroupID}
	info := w.guard.known(key)
	b := w.cfg.Retry.NewBackOff(time.Time{}, nil)
	for info == nil {
		if r.isDecided() { // its deadline came while the group was read
			return api
		}
		if w.creds.wait(ctx) != nil {
			return api
		}
		var err error
		if api == nil {
			if api, err = w.newRemover(); err != nil {
				w.credentialsFailed(key, err)
				continue
			}
		}
		got, err := api.DescribeGroup(key.region, key.id)
		w.m.apiCalls.WithLabelValues(callClass(err), key.region, ActionDescribe).Inc()
		if err == nil {
			w.guard.learnt(key, got)
			w.sched.annotate(func() { r.apiIDs = append(r.apiIDs, got.RequestID) })
			info = &got
			break
		}
		switch retry.Classify(err) {
		case retry.Credentials:
			w.credentialsFailed(key, err)
			api = nil
		case retry.Permanent:
			w.sched.annotate(func() { r.apiIDs = append(r.apiIDs, retry.RequestID(err)) })
			w.failAtOnce(r, &messages.Error{Code: retry.Code(err), Message: retry.Message(err)})
			return api
		}
		if !sleep(ctx, b.NextBackOff()) {
			return api
		}
	}
	var weights map[serverPort]int
	if r.restore() && r.req.RestoreOf != "" {
		weights = w.drainedWeights(ctx, r)
	}
	prior, zeroAt := w.priorWeights(ctx, r, info)
	w.sched.annotate(func() { r.group, r.restoreWeights, r.priorWeights, r.weightZeroAt = info, weights, prior, zeroAt })
	var refused *messages.Error
	if !r.restore() { // a restore adds capacity: nothing to guard
		refused = w.guard.verdict(r, info, w.cfg.MinRemaining)
	}
	switch {
	case r.req.DryRun:
		w.settleAtOnce(r, messages.StatusPlanned, refused) // the guard's verdict, if it refuses
	case refused != nil:
		w.failAtOnce(r, refused)
	default:
		w.sched.add(r)
	}
	return api
}

// priorWeights are a graceful drain's servers' weights before the drain:
// those the group lists now, or, for a redelivery whose wait record an
// earlier delivery kept, the record's (with its weight_zero_at, from which
// the wait goes on).
func (w *Worker) priorWeights(ctx context.Context, r *request, info *GroupInfo) (map[serverPort]int, time.Time) {
	if !r.graceful() {
		return nil, time.Time{}
	}
	if r.redelivered {
		ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
		defer cancel()
		if entry, err := w.outcomes.Get(ctx, waitKey(r.req.RequestID)); err == nil {
			var g messages.Group
			if err := json.Unmarshal(entry.Value(), &g); err == nil {
				prior := map[serverPort]int{}
				for _, s := range g.BackendServers {
					if n, ok := s.Weight.Get(); ok {
						prior[serverPort{s.ServerID, s.Port}] = n
					}
				}
				w.log.Info("graceful drain goes on from its wait record", zap.String("request_id", r.req.RequestID),
					zap.Time("weight_zero_at", g.WeightZeroAt))
				return prior, g.WeightZeroAt
			}
		}
	}
	prior := map[serverPort]int{}
	for _, s := range info.Servers {
		prior[serverPort{s.ServerID, s.Port}] = s.Weight
	}
	return prior, time.Time{}
}

// drainedWeights are the weights the drain a restore undoes found on this
// group, from its remembered outcome; nil when it has none.
func (w *Worker) drainedWeights(ctx context.Context, r *request) map[serverPort]int {
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	entry, err := w.outcomes.Get(ctx, messages.OutcomeKey(r.req.RestoreOf))
	if err != nil {
		w.log.Info("restore: no remembered outcome of the drain it undoes; unnamed weights default to 100",
			zap.String("request_id", r.req.RequestID), zap.String("restore_of", r.req.RestoreOf), zap.Error(err))
		return nil
	}
	o, err := messages.DecodeOutcome(entry.Value())
	if err != nil {
		return nil
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
