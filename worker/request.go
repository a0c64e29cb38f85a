package worker

import (
	"cmp"
	"fmt"
	"strings"
	"sync/atomic"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/slbdrain/slbdrain/messages"
)

// request is a drain request the worker holds, from its delivery until its
// outcome event is acknowledged or it is handed back to JetStream.
type request struct {
	seq        uint64 // stream sequence: the key of the held set
	req        messages.DrainRequest
	receivedAt time.Time // arrival in the stream: stable across redeliveries
	deadline   time.Time

	invalid *invalidRequest // nil for a valid request
	traceID string          // of the request's traceparent header, if it had one
	// parts are the (group, backend server) pairs the request changes: its
	// servers on its group in group scope; in instance scope, what the
	// resolver found. Set before the scheduler sees the request.
	parts []part
	// groups is what the API last said of the request's groups (version 2:
	// the load balancer, and the servers' weights before the drain); nil
	// when not read.
	groups map[groupKey]*GroupInfo

	// decided is set once, by whoever settles the request first: the
	// scheduler (an outcome) or the ledger (handed back to JetStream).
	decided atomic.Bool
	// notRemovedSeen (guarded by scheduler.mu): a remove call succeeded
	// but its answer still listed one of the request's servers; at the
	// deadline it fails NotRemoved. (Beside decided: packed.)
	notRemovedSeen bool
	redelivered    bool // delivered before: a graceful drain may go on from its wait record

	// Guarded by ledger.mu.
	msg       delivery  // the latest delivery
	lastBeat  time.Time // last InProgress, or delivery
	heapIndex int       // place in the ledger's deadline heap; -1 when not in it

	// Guarded by scheduler.mu.
	removed   []bool      // parallel to parts
	removedAt []time.Time // parallel to parts: when the API's answer showed it gone
	remaining int
	apiIDs    []string
	attempts  int
	lastCall  uint64 // the call that last counted an attempt, so a call counts once per request
	inFlight  int    // calls out now that carry the request: its deadline waits for their answer
	// failures are servers the API refused permanently, each found alone
	// by splitting its call; they count as done, not removed.
	failures []serverFailure

	// A graceful drain's state; nil for any other request (most of them:
	// a held request's size is the worker's memory in a backlog).
	*gracefulState
	// priorWeights are a graceful drain's servers' weights before it set
	// them to 0: read before its weight call, or remembered from an earlier
	// delivery's (its wait record); nil: those of groups.
	priorWeights map[partKey]int
	// restoreWeights are the weights a restore puts back where the request
	// names none: those of the drain it undoes (restore_of), if known.
	restoreWeights map[serverPort]int
}

// invalidRequest is why a delivery could not be decoded, and its subject,
// for the rejected event.
type invalidRequest struct {
	subject string
	err     error
}

// gracefulState is what a graceful drain (version 2) adds: it first sets
// its servers' weight to 0 (zeroed), then waits drainTimeout from
// weightZeroAt (phase waiting, until), then removes them. Guarded by
// scheduler.mu.
type gracefulState struct {
	drainTimeout time.Duration
	zeroed       []bool      // parallel to parts
	zeroedAt     []time.Time // parallel to parts: when the API's answer showed it at weight 0
	zeroLeft     int
	weightZeroAt time.Time // the last weight call that set one of them to 0
	phase        messages.Phase
	until        time.Time
	waitTimer    Timer
}

// part is one backend server of one group that a request changes.
type part struct {
	key    groupKey
	server messages.BackendServer
}

// partKey is how the API names a part: the group, the server and port.
type partKey struct {
	key groupKey
	sp  serverPort
}

func (p part) id() partKey { return partKey{p.key, serverPort{p.server.ServerID, p.server.Port}} }

// serverFailure is one backend server the API refused, and why.
type serverFailure struct {
	i             int // in parts
	code, message string
}

// failureError is the event's error of a request some of whose servers the
// API refused: the first refusal's code, and every refused server named.
func (r *request) failureError() *messages.Error {
	var b strings.Builder
	fmt.Fprintf(&b, "%d of %d backend servers refused", len(r.failures), len(r.removed))
	for _, f := range r.failures {
		p := r.parts[f.i]
		if r.req.InstanceScope() {
			fmt.Fprintf(&b, "; %s %s:%d: %s %s", p.key.id, p.server.ServerID, p.server.Port, f.code, f.message)
		} else {
			fmt.Fprintf(&b, "; %s:%d: %s %s", p.server.ServerID, p.server.Port, f.code, f.message)
		}
	}
	return &messages.Error{Code: r.failures[0].code, Message: b.String()}
}

func newRequest(msg delivery, meta *jetstream.MsgMetadata, req messages.DrainRequest, maxRetry, drainTimeout time.Duration, now time.Time) *request {
	r := &request{
		seq:        meta.Sequence.Stream,
		req:        req,
		receivedAt: meta.Timestamp,
		msg:        msg,
		lastBeat:   now,
		heapIndex:  -1,
	}
	var wait time.Duration // a graceful drain's wait does not eat into its time to be removed
	if r.graceful() {
		wait = req.DrainTimeoutOr(drainTimeout)
		r.gracefulState = &gracefulState{drainTimeout: wait}
	}
	if !req.InstanceScope() {
		key := groupKey{req.RegionID, req.VServerGroupID}
		parts := make([]part, len(req.BackendServers))
		for i, s := range req.BackendServers {
			parts[i] = part{key, s}
		}
		r.setParts(parts)
	}
	if req.Deadline != nil {
		r.deadline = *req.Deadline
	} else {
		r.deadline = meta.Timestamp.Add(wait + maxRetry)
	}
	return r
}

// setParts sets what the request changes (before the scheduler sees it).
func (r *request) setParts(parts []part) {
	r.parts = parts
	r.removed, r.removedAt, r.remaining = make([]bool, len(parts)), make([]time.Time, len(parts)), len(parts)
	if r.graceful() {
		r.zeroed, r.zeroedAt, r.zeroLeft = make([]bool, len(parts)), make([]time.Time, len(parts)), len(parts)
	}
}

// addPart adds a part the API's answer showed after the request was
// resolved (the instance on a port of a group it was not on then), with
// the weight it was listed at; it takes the request's next step from o: a
// weight call (graceful, before the wait) or its removal. Called with
// scheduler.mu held. It returns the part's index.
func (r *request) addPart(p part, weight int, o op) int {
	r.parts = append(r.parts, p)
	r.removed, r.removedAt, r.remaining = append(r.removed, false), append(r.removedAt, time.Time{}), r.remaining+1
	if r.graceful() {
		// Found by a removal, its weight was not set to 0: it was added
		// during the wait, and is removed with the rest.
		zeroed := o == opRemove
		r.zeroed, r.zeroedAt = append(r.zeroed, zeroed), append(r.zeroedAt, time.Time{})
		if !zeroed {
			r.zeroLeft++
		}
	}
	if r.priorWeights == nil {
		r.priorWeights = map[partKey]int{}
	}
	r.priorWeights[p.id()] = weight // what a restore puts back
	return len(r.parts) - 1
}

// graceful says whether r is a graceful drain (weight 0, wait, remove).
func (r *request) graceful() bool {
	return r.req.Version >= messages.Version2 && r.req.ModeOrDefault() == messages.ModeGraceful
}

// restore says whether r puts servers back.
func (r *request) restore() bool { return r.req.ActionOrDefault() == messages.ActionRestore }

// currentWeight is part i's weight as the API last listed its group
// (r.groups); ok is false when the group does not hold it, or is unknown.
func (r *request) currentWeight(i int) (weight int, ok bool) {
	info := r.groups[r.parts[i].key]
	if info == nil {
		return 0, false
	}
	s := r.parts[i].server
	for _, m := range info.Servers {
		if m.ServerID == s.ServerID && m.Port == s.Port {
			return m.Weight, true
		}
	}
	return 0, false
}

// firstStep is the first call server i waits for, or done when the group
// as last read already shows what the request wants: a graceful drain's
// server at weight 0 (or not in the group) skips the weight call; a
// restore's server held at its weight needs no call; one held at another
// weight gets a weight call, one not held an add call.
func (r *request) firstStep(i int) (o op, done bool) {
	switch {
	case r.restore():
		w, held := r.currentWeight(i)
		switch {
		case !held:
			return opAdd, false
		case w == r.targetWeight(opWeight, i):
			return opWeight, true
		}
		return opWeight, false
	case r.graceful():
		if w, held := r.currentWeight(i); r.groups[r.parts[i].key] != nil && (!held || w == 0) {
			return opWeight, true
		}
		return opWeight, false
	}
	return opRemove, false
}

// targetWeight is the weight a call of kind o gives server i: 0 for a
// graceful drain's weight call; a restore's weight (named, else the one
// the drain it undoes found, else messages.DefaultWeight).
func (r *request) targetWeight(o op, i int) int {
	if o == opRemove || !r.restore() {
		return 0
	}
	s := r.parts[i].server
	if w, ok := s.Weight.Get(); ok {
		return w
	}
	if w, ok := r.restoreWeights[serverPort{s.ServerID, s.Port}]; ok {
		return w
	}
	return messages.DefaultWeight
}

// markDone records that the API shows server i as a call of kind o left
// it (at is when, for a weight call; zero: it was so already). Called with
// scheduler.mu held.
func (r *request) markDone(o op, i int, at time.Time) {
	if o == opWeight && r.graceful() {
		if !r.zeroed[i] {
			r.zeroed[i], r.zeroedAt[i] = true, at
			r.zeroLeft--
			if at.After(r.weightZeroAt) {
				r.weightZeroAt = at
			}
		}
		return
	}
	if !r.removed[i] {
		r.removed[i], r.removedAt[i] = true, at
		r.remaining--
	}
}

// waitRecord is what a graceful drain's redelivery needs to go on from its
// wait: the servers' weights before the drain, and weight_zero_at. Called
// with scheduler.mu held.
func (r *request) waitRecord() []messages.Group {
	o := r.outcome(messages.StatusCompleted, nil, time.Time{}) // only its groups are kept
	for i := range o.Groups {
		o.Groups[i].RemovedAt = time.Time{}
	}
	return o.Groups
}

// waitKey is the outcomes bucket's key of a graceful drain's wait record.
func waitKey(requestID string) string { return "graceful." + messages.OutcomeKey(requestID) }

// failed says whether the API refused server i permanently.
func (r *request) failed(i int) bool {
	for _, f := range r.failures {
		if f.i == i {
			return true
		}
	}
	return false
}

func (r *request) stopWait() {
	if r.gracefulState != nil && r.waitTimer != nil {
		r.waitTimer.Stop()
		r.waitTimer = nil
	}
}

// decide claims the right to settle the request; only the first caller gets it.
func (r *request) decide() bool { return r.decided.CompareAndSwap(false, true) }

// isDecided says whether the request's outcome is decided or it was handed back.
func (r *request) isDecided() bool { return r.decided.Load() }

// expired says whether the request's deadline has passed.
func (r *request) expired(now time.Time) bool { return !now.Before(r.deadline) }

// outcome builds the request's terminal event.
func (r *request) outcome(status messages.Status, e *messages.Error, now time.Time) *messages.Outcome {
	o := &messages.Outcome{
		Version:        max(r.req.Version, messages.Version1),
		RequestID:      r.req.RequestID,
		Status:         status,
		RegionID:       r.req.RegionID,
		VServerGroupID: r.req.VServerGroupID,
		BackendServers: r.req.BackendServers,
		APIRequestIDs:  r.apiIDs,
		Attempts:       r.attempts,
		ReceivedAt:     r.receivedAt,
		FinishedAt:     now,
		Error:          e,
		Source:         r.req.Source,
		Reason:         r.req.Reason,
		StreamSequence: r.seq,
	}
	if o.APIRequestIDs == nil {
		o.APIRequestIDs = []string{}
	}
	if o.Version >= messages.Version2 {
		r.outcomeV2(o, now)
	}
	if status == messages.StatusFailed {
		// A requested server is removed when every part of it is (in
		// instance scope, from every group that held it).
		// (In instance scope a server is named by its id alone.)
		named := func(s messages.BackendServer) serverPort {
			if r.req.InstanceScope() {
				return serverPort{s.ServerID, 0}
			}
			return serverPort{s.ServerID, s.Port}
		}
		done := make(map[serverPort]bool, len(r.req.BackendServers))
		for i, p := range r.parts {
			if prev, seen := done[named(p.server)]; !seen || prev {
				done[named(p.server)] = r.removed[i]
			}
		}
		for _, s := range r.req.BackendServers {
			// An instance with no part is in no group, so drained already,
			// once the groups were found (r.groups); before, nothing is known.
			if removed, ok := done[named(s)]; ok && removed || !ok && r.req.InstanceScope() && r.groups != nil {
				o.Removed = append(o.Removed, s)
			} else {
				o.NotRemoved = append(o.NotRemoved, s)
			}
		}
	}
	return o
}

func (r *request) removedCount() int { return len(r.removed) - r.remaining }

// codeNotRemoved is the error code of a request whose servers the API still
// listed at its deadline (contract, version 2).
const codeNotRemoved = "NotRemoved"

func deadlineError(r *request) *messages.Error {
	switch {
	case r.graceful() && r.phase == messages.PhaseWaiting:
		return &messages.Error{
			Code: messages.CodeDeadlineExceeded,
			Message: fmt.Sprintf("deadline %s passed while waiting at weight 0 until %s (drain_timeout %s): %d backend servers are at weight 0 and not removed; drainctl restore %s puts their weights back",
				r.deadline.UTC().Format(time.RFC3339Nano), r.until.UTC().Format(time.RFC3339Nano), r.drainTimeout, len(r.removed)-r.removedCount(), r.req.RequestID),
		}
	case r.graceful() && r.zeroLeft > 0 && r.zeroLeft < len(r.zeroed):
		return &messages.Error{
			Code: messages.CodeDeadlineExceeded,
			Message: fmt.Sprintf("deadline %s passed with %d of %d backend servers at weight 0 and none removed",
				r.deadline.UTC().Format(time.RFC3339Nano), len(r.zeroed)-r.zeroLeft, len(r.zeroed)),
		}
	}
	if r.notRemovedSeen {
		return &messages.Error{
			Code: codeNotRemoved,
			Message: fmt.Sprintf("deadline %s passed with %d of %d backend servers removed: the API still lists the others after removing them",
				r.deadline.UTC().Format(time.RFC3339Nano), r.removedCount(), len(r.removed)),
		}
	}
	return &messages.Error{
		Code: messages.CodeDeadlineExceeded,
		Message: fmt.Sprintf("deadline %s passed with %d of %d backend servers removed",
			r.deadline.UTC().Format(time.RFC3339Nano), r.removedCount(), len(r.removed)),
	}
}

// report is a finished request on its way to the reporter.
type report struct {
	r       *request
	outcome *messages.Outcome
	term    bool // rejected: Term instead of Ack
}

// outcomeV2 fills in an event's version-2 fields: what was asked (defaults
// filled in), the trace, and per group the servers with the weights they
// had before the drain (what a restore puts back).
func (r *request) outcomeV2(o *messages.Outcome, now time.Time) {
	o.Action, o.Mode, o.DryRun, o.TraceID = r.req.ActionOrDefault(), r.req.ModeOrDefault(), r.req.DryRun, r.traceID
	if r.groups == nil {
		if r.req.InstanceScope() {
			o.Groups = []messages.Group{} // always there in instance scope: none held the servers
		}
		return
	}
	weights := map[partKey]int{}
	for key, info := range r.groups {
		for _, s := range info.Servers {
			weights[partKey{key, serverPort{s.ServerID, s.Port}}] = s.Weight
		}
	}
	for k, w := range r.priorWeights {
		weights[k] = w
	}
	o.Groups = []messages.Group{}
	at := map[groupKey]int{} // index in o.Groups
	all := map[groupKey]bool{}
	zeroAt, removedAt := map[groupKey]time.Time{}, map[groupKey]time.Time{} // each group's last change the API showed
	for i, p := range r.parts {
		gi, ok := at[p.key]
		if !ok {
			g := messages.Group{VServerGroupID: p.key.id, BackendServers: []messages.BackendServer{}}
			if info := r.groups[p.key]; info != nil {
				g.LoadBalancerID = info.LoadBalancerID
			}
			gi = len(o.Groups)
			at[p.key], all[p.key] = gi, true
			o.Groups = append(o.Groups, g)
		}
		if r.graceful() && r.zeroedAt[i].After(zeroAt[p.key]) {
			zeroAt[p.key] = r.zeroedAt[i]
		}
		if r.removedAt[i].After(removedAt[p.key]) {
			removedAt[p.key] = r.removedAt[i]
		}
		s := p.server
		if r.restore() {
			s.Weight = messages.WeightOf(r.targetWeight(opAdd, i)) // what it puts back
			o.Groups[gi].BackendServers = append(o.Groups[gi].BackendServers, s)
			continue
		}
		w, member := weights[p.id()]
		if !member {
			continue // not in the group when it was read: nothing to restore
		}
		if _, prior := r.priorWeights[p.id()]; r.graceful() && w == 0 && !prior {
			// At weight 0 already when read, and no record of the weight
			// before (a redelivery whose wait record was lost): what a
			// restore puts back when it knows no better.
			w = messages.DefaultWeight
		}
		s.Weight = messages.WeightOf(w)
		o.Groups[gi].BackendServers = append(o.Groups[gi].BackendServers, s)
		all[p.key] = all[p.key] && r.removed[i]
	}
	for key, gi := range at {
		if r.graceful() {
			// A server at weight 0 before this delivery has no time of its
			// own: the wait record's, or the request's last weight call.
			o.Groups[gi].WeightZeroAt = cmp.Or(zeroAt[key], r.weightZeroAt)
		}
		if all[key] && !r.restore() && o.Status != messages.StatusPlanned {
			// Every server of the group is gone; one gone before any call
			// (not in the group when it was read) has no time of its own.
			o.Groups[gi].RemovedAt = cmp.Or(removedAt[key], now)
		}
	}
}
