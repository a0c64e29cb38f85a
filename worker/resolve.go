package worker

import (
	"cmp"
	"context"
	"fmt"
	"maps"
	"slices"
	"sync"
	"time"

	"go.uber.org/zap"

	"github.com/slbdrain/slbdrain/messages"
	"github.com/slbdrain/slbdrain/retry"
)

// resolveMaxAge is how old a cached listing (a load balancer's groups) or
// a group's membership may be for instance scope to trust it: long enough
// that a storm of hooks for one scaling group reads each group once, short
// enough that a group another tool changed is read again. Memberships are
// also kept current from the worker's own write calls' answers.
const resolveMaxAge = 10 * time.Second

// resolve turns an instance-scope request into parts: every VServer group
// of the region whose load balancer holds one of the named servers
// (DescribeLoadBalancers with ServerId), and in it every port of the server
// (or the named port). A server no group holds has no part: already drained.
func (w *Worker) resolve(ctx context.Context, rd *reader) (map[groupKey]*GroupInfo, bool) {
	r := rd.r
	region := r.req.RegionID
	groups := map[groupKey]*GroupInfo{}
	var order []groupKey
	var parts []part
	for _, s := range r.req.BackendServers {
		var lbs IDList
		if !rd.read(ctx, region, ActionDescribeLBs, func(api Remover) ([]string, error) {
			var err error
			lbs, err = api.LoadBalancersOf(region, s.ServerID)
			return lbs.RequestIDs, err
		}) {
			return nil, false
		}
		for _, lb := range lbs.IDs {
			ids, ok := w.lbGroups(ctx, rd, groupKey{region, lb})
			if !ok {
				return nil, false
			}
			for _, id := range ids {
				key := groupKey{region, id}
				info := groups[key]
				if info == nil {
					if info, ok = w.groupInfo(ctx, rd, key, resolveMaxAge); !ok {
						return nil, false
					}
				}
				found := false
				for _, m := range info.Servers {
					if m.ServerID != s.ServerID || (s.Port != 0 && m.Port != s.Port) {
						continue
					}
					found = true
					parts = append(parts, part{key, messages.BackendServer{ServerID: m.ServerID, Port: m.Port, Type: cmp.Or(m.Type, s.Type)}})
				}
				if found && groups[key] == nil {
					groups[key] = info
					order = append(order, key)
				}
			}
		}
	}
	for _, key := range order {
		if !w.guard.allowed(key.id) {
			w.failAtOnce(r, &messages.Error{Code: messages.CodeNotAllowed, Message: fmt.Sprintf(
				"group %s/%s, which holds a named server, is outside --allow-group %s; nothing was changed", key.region, key.id, w.cfg.AllowGroups)})
			return nil, false
		}
	}
	parts = dedupParts(parts)
	w.sched.annotate(func() { r.setParts(parts) })
	w.log.Info("resolved instance-scope request", zap.String("request_id", r.req.RequestID),
		zap.Int("servers", len(r.req.BackendServers)), zap.Int("groups", len(groups)), zap.Int("parts", len(parts)))
	return groups, true
}

// lbGroups is the list of a load balancer's VServer groups, cached for
// resolveMaxAge.
func (w *Worker) lbGroups(ctx context.Context, rd *reader, lb groupKey) ([]string, bool) {
	if ids, ok := w.guard.groupsOf(lb, resolveMaxAge, w.clock.Now()); ok {
		return ids, true
	}
	defer w.guard.readLock(groupKey{lb.region, "lb/" + lb.id})()
	if ids, ok := w.guard.groupsOf(lb, resolveMaxAge, w.clock.Now()); ok {
		return ids, true // listed meanwhile by another request's judge
	}
	var got IDList
	if !rd.read(ctx, lb.region, ActionListGroups, func(api Remover) ([]string, error) {
		var err error
		got, err = api.GroupsOf(lb.region, lb.id)
		return got.RequestIDs, err
	}) {
		return nil, false
	}
	w.guard.listedGroups(lb, got.IDs, w.clock.Now())
	return got.IDs, true
}

// dedupParts drops repeats (a server named twice), keeping the first.
func dedupParts(parts []part) []part {
	seen := make(map[partKey]bool, len(parts))
	out := parts[:0]
	for _, p := range parts {
		if !seen[p.id()] {
			seen[p.id()] = true
			out = append(out, p)
		}
	}
	return out
}

func sortedKeys[V any](m map[groupKey]V) []groupKey {
	return slices.SortedFunc(maps.Keys(m), func(a, b groupKey) int {
		return cmp.Or(cmp.Compare(a.region, b.region), cmp.Compare(a.id, b.id))
	})
}

// reader makes the read calls of one request's judgement, with one
// policy: each waits for its region's read quota, credentials failures wait
// for the credentials to work, a permanent error fails the request, other
// errors back off, the request's deadline ends it.
type reader struct {
	w   *Worker
	api Remover
	r   *request
}

// read makes call until it succeeds (true) or the request is decided
// (false). call returns the answers' RequestIds.
func (rd *reader) read(ctx context.Context, region, action string, call func(Remover) ([]string, error)) bool {
	w, r := rd.w, rd.r
	b := w.cfg.Retry.NewBackOff(time.Time{}, nil)
	key := groupKey{region, r.req.VServerGroupID}
	for {
		if r.isDecided() { // its deadline came while reading
			return false
		}
		if w.creds.wait(ctx) != nil {
			return false
		}
		t, ok := w.reads.wait(ctx, w.clock, region, action)
		if !ok {
			return false
		}
		var err error
		if rd.api == nil {
			if rd.api, err = w.newRemover(); err != nil {
				w.credentialsFailed(key, err)
				continue
			}
		}
		ids, err := call(rd.api)
		w.m.apiCalls.WithLabelValues(callClass(err), region, action).Inc()
		w.reads.answered(w.clock.Now(), region, action, t, err)
		if err == nil {
			w.sched.annotate(func() { r.apiIDs = append(r.apiIDs, ids...) })
			return true
		}
		switch retry.Classify(err) {
		case retry.Credentials:
			w.credentialsFailed(key, err)
			rd.api = nil
		case retry.Permanent:
			w.sched.annotate(func() { r.apiIDs = append(r.apiIDs, retry.RequestID(err)) })
			w.failAtOnce(r, &messages.Error{Code: retry.Code(err), Message: action + ": " + retry.Message(err)})
			return false
		}
		if !sleep(ctx, b.NextBackOff()) {
			return false
		}
	}
}

// readBudgets pace the read calls per (region, action) on the account's
// quotas, as the scheduler's budgets pace the writes.
type readBudgets struct {
	quotas map[string]Quota
	m      *metrics

	// mu is the scheduler's: its checks (opCheck) spend the same reads.
	mu      *sync.Mutex
	budgets map[[2]string]*budget
}

func newReadBudgets(quotas map[string]Quota, m *metrics, mu *sync.Mutex) *readBudgets {
	return &readBudgets{quotas: quotas, m: m, mu: mu, budgets: make(map[[2]string]*budget)}
}

// get is the budget of (region, action), made on first use. Called with mu held.
func (rb *readBudgets) get(region, action string, now time.Time) *budget {
	k := [2]string{region, action}
	if b := rb.budgets[k]; b != nil {
		return b
	}
	b := newActionBudget(rb.quotas, rb.m, region, action, now)
	rb.budgets[k] = b
	return b
}

// wait takes a call of the window, waiting for the next window when this
// one is spent; false when ctx ends first.
func (rb *readBudgets) wait(ctx context.Context, clock Clock, region, action string) (ticket, bool) {
	for {
		now := clock.Now()
		rb.mu.Lock()
		b := rb.get(region, action, now)
		t, ok := b.take(now)
		next := b.nextWindow()
		rb.mu.Unlock()
		if ok {
			return t, true
		}
		ready := make(chan struct{})
		timer := clock.AfterFunc(next.Sub(now), func() { close(ready) })
		select {
		case <-ready:
		case <-ctx.Done():
			timer.Stop()
			return ticket{}, false
		}
	}
}

// answered tells the budget how its call went.
func (rb *readBudgets) answered(now time.Time, region, action string, t ticket, err error) {
	rb.mu.Lock()
	defer rb.mu.Unlock()
	rb.get(region, action, now).answered(now, t, err != nil && retry.Classify(err) == retry.Throttled && retry.QuotaSpent(err))
}
