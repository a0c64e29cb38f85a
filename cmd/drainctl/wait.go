package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/slbdrain/slbdrain/messages"
)

// waiter follows the outcome events and progress notes of the groups of one
// submission (one group, but for a restore of several).
type waiter struct {
	a        *app
	js       jetstream.JetStream
	cons     jetstream.Consumer
	it       jetstream.MessagesContext
	subs     []*nats.Subscription
	progress chan *nats.Msg
	events   chan messages.Outcome
	// stored delivers the outcomes bucket's updates for the ids waited
	// for; nil without the bucket.
	stored <-chan jetstream.KeyValueEntry
	errc   chan error
	quit   chan struct{}
	done   chan struct{}
}

// groupRef is a (region, VServer group) a submission's requests go to;
// group is messages.InstancesToken for an instance-scope request (version
// 2), whose events are on that token and whose progress notes are on the
// subjects of the groups the worker found.
type groupRef struct{ region, group string }

func (g groupRef) instances() bool { return g.group == messages.InstancesToken }

// progressSubject is where the worker publishes the progress notes of g's
// requests: per group, so every group of the region for instance scope.
func (g groupRef) progressSubject() string {
	if g.instances() {
		return messages.ProgressSubject(g.region, ">")
	}
	return messages.ProgressSubject(g.region, g.group)
}

func (g groupRef) String() string { return g.region + "/" + g.group }

// groupsOf are the distinct groups of reqs, in order.
func groupsOf(reqs []messages.DrainRequest) []groupRef {
	var list []groupRef
	for _, r := range reqs {
		g := groupRef{r.RegionID, r.VServerGroupID}
		if r.InstanceScope() {
			g.group = messages.InstancesToken
		}
		if !slices.Contains(list, g) {
			list = append(list, g)
		}
	}
	return list
}

func joinGroups(groups []groupRef) string {
	names := make([]string, len(groups))
	for i, g := range groups {
		names[i] = g.String()
	}
	return strings.Join(names, ", ")
}

func (a *app) startWaiting(ctx context.Context, nc *nats.Conn, js jetstream.JetStream, reqs []messages.DrainRequest, start time.Time) (*waiter, error) {
	groups := groupsOf(reqs)
	filters := make([]string, len(groups))
	for i, g := range groups {
		filters[i] = messages.EventSubject("*", g.region, g.group)
	}
	names := joinGroups(groups)
	cons, err := a.eventConsumer(ctx, js, filters, &start)
	if err != nil {
		return nil, err
	}
	it, err := cons.Messages()
	if err != nil {
		dropConsumer(js, cons)
		return nil, failedErrorf("follow outcome events of %s: %w", names, err)
	}
	// Progress notes are core NATS and best effort: a full channel drops them.
	progress := make(chan *nats.Msg, 1024)
	var subs []*nats.Subscription
	undo := func() {
		it.Stop()
		dropConsumer(js, cons)
		for _, sub := range subs {
			_ = sub.Unsubscribe()
		}
	}
	for _, g := range groups {
		sub, err := nc.ChanSubscribe(g.progressSubject(), progress)
		if err != nil {
			undo()
			return nil, failedErrorf("subscribe to progress notes of %s: %w", g, err)
		}
		subs = append(subs, sub)
	}
	if err := nc.FlushWithContext(ctx); err != nil { // the subscriptions are in place before we publish
		undo()
		if ctx.Err() != nil {
			return nil, a.ctxError(ctx, "subscribing to progress notes")
		}
		return nil, failedErrorf("subscribe to progress notes of %s: %w", names, err)
	}
	w := &waiter{a: a, js: js, cons: cons, it: it, subs: subs, progress: progress,
		events: make(chan messages.Outcome, 64), errc: make(chan error, 1),
		quit: make(chan struct{}), done: make(chan struct{})}
	go w.read(ctx)
	return w, nil
}

// read moves events from the ordered consumer to w.events until stop.
func (w *waiter) read(ctx context.Context) {
	defer close(w.done)
	for {
		msg, err := w.it.Next(jetstream.NextContext(ctx))
		if err != nil {
			select {
			case <-w.quit:
			default:
				w.errc <- err
			}
			return
		}
		o, ok := w.a.decodeEvent(msg)
		if !ok {
			continue
		}
		select {
		case w.events <- o:
		case <-w.quit:
			return
		}
	}
}

func (w *waiter) stop() {
	close(w.quit)
	w.it.Stop()
	for _, sub := range w.subs {
		_ = sub.Unsubscribe()
	}
	<-w.done
	dropConsumer(w.js, w.cons)
}

// part is one request being waited for: published (ack), or answered
// already by the outcomes bucket.
type part struct {
	req     messages.DrainRequest
	ack     *jetstream.PubAck // nil when not published
	removed int
	outcome *messages.Outcome
	// last is the last progress note with a phase (version 2); its Phase
	// is empty until one came.
	last messages.Progress
	// In instance scope: group is the group of the last note (from its
	// subject), and total the note's total, which counts (group, server,
	// port) parts, not the instances named; 0 until a note came.
	group string
	total int
}

// progressGroup is the group token of a progress note's subject
// slb.drain.progress.<region>.<group>, "" for none.
func progressGroup(subject string) string {
	i := strings.LastIndexByte(subject, '.')
	if i < 0 || !strings.HasPrefix(subject, "slb.drain.progress.") {
		return ""
	}
	return subject[i+1:]
}

// groupServerCount is how many (group, server, port) an outcome's groups
// list.
func groupServerCount(o messages.Outcome) int {
	n := 0
	for _, g := range o.Groups {
		n += len(g.BackendServers)
	}
	return n
}

// wait shows progress until every part has its outcome, then prints the
// outcomes. Parts with an outcome already are counted as answered.
func (w *waiter) wait(ctx context.Context, parts []part, timeout time.Duration, verbose bool) error {
	a := w.a
	index := make(map[string]int, len(parts))
	total, left := 0, 0
	for i, p := range parts {
		index[p.req.RequestID] = i
		total += len(p.req.BackendServers)
		if p.outcome == nil {
			left++
		}
	}
	groups := groupsOf(partRequests(parts))
	// removed and all count backend servers; in instance scope, once its
	// notes say, (group, server, port) parts.
	counts := func() (removed, all int) {
		for _, p := range parts {
			removed += p.removed
			if p.total > 0 {
				all += p.total
			} else {
				all += len(p.req.BackendServers)
			}
		}
		return removed, all
	}
	req0 := parts[0].req
	what := activity(req0) + " " + joinGroups(groups)
	if req0.InstanceScope() {
		what = activity(req0) + " " + instancesText(req0.BackendServers) + " in " + req0.RegionID
	}
	view := a.newProgressView(a.stderr, total, what, doneWord(req0))
	// phaseLine is what a part's last phase note says, now; in instance
	// scope, of which group.
	phaseLine := func(p part) string {
		line := phaseText(p.last, a.now())
		if p.group != "" {
			line = p.group + ": " + line
		}
		if len(parts) > 1 {
			line = p.req.RequestID + ": " + line
		}
		return line
	}
	// A live view counts a wait down each second; lines are written once.
	var tick <-chan time.Time
	if view.live() {
		t := time.NewTicker(time.Second)
		defer t.Stop()
		tick = t.C
	}
	answer := func(i int, o messages.Outcome) {
		parts[i].outcome = &o
		parts[i].removed = removedCount(o)
		if parts[i].req.InstanceScope() {
			// Counted as its notes count, in (group, server, port) parts.
			parts[i].removed = parts[i].last.Removed
			if o.Status == messages.StatusCompleted {
				parts[i].removed = groupServerCount(o)
				parts[i].total = parts[i].removed
			}
		}
		left--
		view.update(counts())
		if len(parts) > 1 {
			view.note(eventLine(o, false))
		}
	}
	// onProgress shows a progress note of a part still waited for.
	onProgress := func(m *nats.Msg) {
		var p messages.Progress
		if json.Unmarshal(m.Data, &p) != nil {
			return
		}
		i, ok := index[p.RequestID]
		if !ok || parts[i].outcome != nil {
			return
		}
		if p.Phase == "" { // version 1: a count
			if p.Removed > parts[i].removed {
				parts[i].removed = p.Removed
				view.update(counts())
			}
			return
		}
		parts[i].removed = max(parts[i].removed, p.Removed)
		parts[i].last = p
		if parts[i].req.InstanceScope() {
			parts[i].group = progressGroup(m.Subject)
			parts[i].total = p.Total
		}
		removed, all := counts()
		view.phase(phaseLine(parts[i]), removed, all)
	}
	// notesFirst shows the notes already received before an outcome is
	// taken: they were sent before it (but a worker may send the note of
	// the call that completes a request after its event).
	notesFirst := func() {
		for {
			select {
			case m := <-w.progress:
				onProgress(m)
			default:
				return
			}
		}
	}
	for left > 0 {
		select {
		case <-ctx.Done():
			view.finish()
			var waiting []messages.DrainRequest
			var answered []part
			for _, p := range parts {
				if p.outcome == nil {
					waiting = append(waiting, p.req)
				} else {
					answered = append(answered, p)
				}
			}
			if len(answered) > 0 {
				// What is known is shown: a failed part must not hide behind the timeout.
				_ = a.printOutcomes(answered, total, verbose)
			}
			err := a.ctxError(ctx, "waiting for the outcome of "+joinIDs(waiting))
			if errors.Is(ctx.Err(), context.DeadlineExceeded) {
				err = timeoutErrorf("timed out after %s waiting for the outcome of %s", timeout, joinIDs(waiting))
			}
			follow := "--region " + groups[0].region
			if len(groups) == 1 && !groups[0].instances() {
				follow += " --group " + groups[0].group
			}
			return fmt.Errorf("%w\n  it is published and stays queued until a worker answers it: is drainworker running? "+
				"(drainctl status; follow it with drainctl watch %s)", err, follow)
		case m := <-w.progress:
			onProgress(m)
		case <-tick:
			for _, p := range parts {
				if p.outcome == nil && p.last.Phase == messages.PhaseWaiting {
					removed, all := counts()
					view.phase(phaseLine(p), removed, all)
				}
			}
		case o := <-w.events:
			notesFirst()
			i, ok := index[o.RequestID]
			if !ok || parts[i].outcome != nil {
				continue
			}
			if seq := parts[i].ack.Sequence; seq != 0 && o.StreamSequence != 0 && o.StreamSequence != seq {
				// An older request under the same id, outside the duplicate
				// window. This one's event carries the same Msg-Id and may be
				// dropped as a duplicate, or never come (the worker acks a
				// known id with no event). The outcomes bucket, when there
				// is one, answers; without it, say so, or the wait looks
				// like a dead worker.
				if w.stored == nil {
					view.note(fmt.Sprintf("note: an earlier request under id %s ended %s; reuse of an id can hide this one's outcome: use a new --request-id",
						o.RequestID, o.Status))
				}
				continue
			}
			answer(i, o)
		case e, ok := <-w.stored:
			if !ok {
				w.stored = nil // the events stream still answers
				continue
			}
			if e == nil {
				continue
			}
			so, ok := a.decodeStored(e)
			if !ok {
				continue
			}
			notesFirst()
			o := so.outcome
			i, ok := index[o.RequestID]
			if !ok || parts[i].outcome != nil {
				continue
			}
			if seq := parts[i].ack.Sequence; seq != 0 && o.StreamSequence != 0 && o.StreamSequence != seq {
				view.note(fmt.Sprintf("note: request %s is answered by an earlier request under its id (stream sequence %d), which ended %s: a request id is answered once",
					o.RequestID, o.StreamSequence, o.Status))
				if d := differsFrom(parts[i].req, o); d != "" {
					view.note(fmt.Sprintf("note: that request was a different one (%s): this id was used before; use a new --request-id", d))
				}
			}
			answer(i, o)
		case err := <-w.errc:
			view.finish()
			if ctx.Err() != nil {
				return a.ctxError(ctx, "waiting for the outcome")
			}
			return failedErrorf("follow outcome events of %s: %w", joinGroups(groups), err)
		}
	}
	view.finish()
	return a.printOutcomes(parts, total, verbose)
}

func partRequests(parts []part) []messages.DrainRequest {
	reqs := make([]messages.DrainRequest, len(parts))
	for i, p := range parts {
		reqs[i] = p.req
	}
	return reqs
}

// activity is what drainctl says it waits for: "draining", "restoring",
// or, for a dry run, "planning".
func activity(req messages.DrainRequest) string {
	switch {
	case req.DryRun:
		return "planning"
	case req.ActionOrDefault() == messages.ActionRestore:
		return "restoring"
	}
	return "draining"
}

// doneWord is what happens to a request's servers: "removed", or, for a
// restore, "restored".
func doneWord(req messages.DrainRequest) string {
	if req.ActionOrDefault() == messages.ActionRestore {
		return "restored"
	}
	return "removed"
}

// phaseText shows a progress note's phase (version 2) at now: "weight 0",
// "waiting until 10:00:30 (27s left)" (UTC), "removed 40/45".
func phaseText(p messages.Progress, now time.Time) string {
	switch p.Phase {
	case messages.PhaseWeightZero:
		return "weight 0"
	case messages.PhaseWaiting:
		left := max(p.Until.Sub(now), 0)
		secs := (left + time.Second - 1) / time.Second // rounded up: 0s left only when it is over
		return fmt.Sprintf("waiting until %s (%ds left)", p.Until.UTC().Format("15:04:05"), secs)
	case messages.PhaseRemoved:
		return fmt.Sprintf("removed %d/%d", p.Removed, p.Total)
	}
	return fmt.Sprintf("%s %d/%d", p.Phase, p.Removed, p.Total) // a phase of a newer worker
}

// outcomeOK reports whether an outcome is a success: completed, or planned
// with no objection (a dry run whose request the worker would carry out).
func outcomeOK(o messages.Outcome) bool {
	return o.Status == messages.StatusCompleted || o.Status == messages.StatusPlanned && o.Error == nil
}

// printOutcomes prints the outcomes and returns the exit error of any that
// did not succeed (see outcomeOK).
func (a *app) printOutcomes(parts []part, total int, verbose bool) error {
	var bad []string
	removed := 0
	for _, p := range parts {
		o := *p.outcome
		removed += removedCount(o)
		if a.json {
			if err := a.printJSON(o); err != nil {
				return err
			}
		} else {
			writeSummary(a.stdout, o, verbose)
		}
		if !outcomeOK(o) {
			why := string(o.Status)
			if o.Error != nil {
				why += " (" + o.Error.Code + ")"
			}
			bad = append(bad, o.RequestID+" "+why)
		}
	}
	if len(parts) > 1 && !a.json {
		req := parts[0].req
		if req.DryRun {
			fmt.Fprintf(a.stdout, "%d of %d requests planned with no objection; nothing was changed\n", len(parts)-len(bad), len(parts))
		} else {
			fmt.Fprintf(a.stdout, "%d of %d requests completed; %d of %d backend servers %s\n",
				len(parts)-len(bad), len(parts), removed, total, doneWord(req))
		}
	}
	if len(bad) > 0 {
		return failedErrorf("request %s", strings.Join(bad, ", request "))
	}
	return nil
}
