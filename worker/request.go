package worker

import (
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

	subject   string // the delivery's subject, for a rejected event
	decodeErr error  // why the request is invalid, if it is
	traceID   string // of the request's traceparent header, if it had one
	// group is what the API last said of the request's group (version 2:
	// its load balancer, and the requested servers' weights before the
	// drain); nil when not read.
	group *GroupInfo

	// decided is set once, by whoever settles the request first: the
	// scheduler (an outcome) or the ledger (handed back to JetStream).
	decided atomic.Bool

	// Guarded by ledger.mu.
	msg       delivery  // the latest delivery
	lastBeat  time.Time // last InProgress, or delivery
	heapIndex int       // place in the ledger's deadline heap; -1 when not in it

	// Guarded by scheduler.mu.
	removed   []bool // parallel to req.BackendServers
	remaining int
	apiIDs    []string
	attempts  int
	lastCall  uint64 // the call that last counted an attempt, so a call counts once per request
	inFlight  int    // calls out now that carry the request: its deadline waits for their answer
	// notRemovedSeen: a remove call succeeded but its answer still listed
	// one of the request's servers; at the deadline it fails NotRemoved.
	notRemovedSeen bool
	// failures are servers the API refused permanently, each found alone
	// by splitting its call; they count as done, not removed.
	failures []serverFailure
}

// serverFailure is one backend server the API refused, and why.
type serverFailure struct {
	i             int // in req.BackendServers
	code, message string
}

// failureError is the event's error of a request some of whose servers the
// API refused: the first refusal's code, and every refused server named.
func (r *request) failureError() *messages.Error {
	var b strings.Builder
	fmt.Fprintf(&b, "%d of %d backend servers refused", len(r.failures), len(r.removed))
	for _, f := range r.failures {
		s := r.req.BackendServers[f.i]
		fmt.Fprintf(&b, "; %s:%d: %s %s", s.ServerID, s.Port, f.code, f.message)
	}
	return &messages.Error{Code: r.failures[0].code, Message: b.String()}
}

func newRequest(msg delivery, meta *jetstream.MsgMetadata, req messages.DrainRequest, maxRetry time.Duration, now time.Time) *request {
	r := &request{
		seq:        meta.Sequence.Stream,
		req:        req,
		receivedAt: meta.Timestamp,
		msg:        msg,
		lastBeat:   now,
		heapIndex:  -1,
		removed:    make([]bool, len(req.BackendServers)),
		remaining:  len(req.BackendServers),
	}
	if req.Deadline != nil {
		r.deadline = *req.Deadline
	} else {
		r.deadline = meta.Timestamp.Add(maxRetry)
	}
	return r
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
		for i, s := range r.req.BackendServers {
			if r.removed[i] {
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
// filled in), the trace, and the group with the weights the servers had.
func (r *request) outcomeV2(o *messages.Outcome, now time.Time) {
	o.Action, o.Mode, o.DryRun, o.TraceID = r.req.ActionOrDefault(), r.req.ModeOrDefault(), r.req.DryRun, r.traceID
	if r.group == nil {
		return
	}
	g := messages.Group{LoadBalancerID: r.group.LoadBalancerID, VServerGroupID: r.req.VServerGroupID, BackendServers: []messages.BackendServer{}}
	weights := make(map[serverPort]int, len(r.group.Servers))
	for _, s := range r.group.Servers {
		weights[serverPort{s.ServerID, s.Port}] = s.Weight
	}
	all := true
	for i, s := range r.req.BackendServers {
		w, member := weights[serverPort{s.ServerID, s.Port}]
		if !member {
			continue // not in the group when it was read: nothing to restore
		}
		s.Weight = messages.WeightOf(w)
		g.BackendServers = append(g.BackendServers, s)
		all = all && r.removed[i]
	}
	if all && o.Status == messages.StatusCompleted {
		g.RemovedAt = now
	}
	o.Groups = []messages.Group{g}
}
