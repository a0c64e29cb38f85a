package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/slbdrain/slbdrain/messages"
)

// waiter follows the outcome events and progress notes of one group.
type waiter struct {
	a        *app
	js       jetstream.JetStream
	cons     jetstream.Consumer
	it       jetstream.MessagesContext
	sub      *nats.Subscription
	progress chan *nats.Msg
	events   chan messages.Outcome
	// stored delivers the outcomes bucket's updates for the ids waited
	// for; nil without the bucket.
	stored <-chan jetstream.KeyValueEntry
	errc   chan error
	quit   chan struct{}
	done   chan struct{}
}

func (a *app) startWaiting(ctx context.Context, nc *nats.Conn, js jetstream.JetStream, reqs []messages.DrainRequest, start time.Time) (*waiter, error) {
	region, group := reqs[0].RegionID, reqs[0].VServerGroupID
	cons, err := a.eventConsumer(ctx, js, []string{messages.EventSubject("*", region, group)}, &start)
	if err != nil {
		return nil, err
	}
	it, err := cons.Messages()
	if err != nil {
		dropConsumer(js, cons)
		return nil, failedErrorf("follow outcome events of %s/%s: %w", region, group, err)
	}
	// Progress notes are core NATS and best effort: a full channel drops them.
	progress := make(chan *nats.Msg, 1024)
	sub, err := nc.ChanSubscribe(messages.ProgressSubject(region, group), progress)
	if err != nil {
		it.Stop()
		dropConsumer(js, cons)
		return nil, failedErrorf("subscribe to progress notes of %s/%s: %w", region, group, err)
	}
	if err := nc.FlushWithContext(ctx); err != nil { // the subscription is in place before we publish
		it.Stop()
		dropConsumer(js, cons)
		_ = sub.Unsubscribe()
		if ctx.Err() != nil {
			return nil, a.ctxError(ctx, "subscribing to progress notes")
		}
		return nil, failedErrorf("subscribe to progress notes of %s/%s: %w", region, group, err)
	}
	w := &waiter{a: a, js: js, cons: cons, it: it, sub: sub, progress: progress,
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
	_ = w.sub.Unsubscribe()
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
	region, group := parts[0].req.RegionID, parts[0].req.VServerGroupID
	removed := func() int {
		n := 0
		for _, p := range parts {
			n += p.removed
		}
		return n
	}
	view := a.newProgressView(a.stderr, total, fmt.Sprintf("draining %s/%s", region, group))
	answer := func(i int, o messages.Outcome) {
		parts[i].outcome = &o
		parts[i].removed = removedCount(o)
		left--
		view.update(removed(), total)
		if len(parts) > 1 {
			view.note(eventLine(o, false))
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
			return fmt.Errorf("%w\n  it is published and stays queued until a worker answers it: is drainworker running? "+
				"(drainctl status; follow it with drainctl watch --region %s --group %s)", err, region, group)
		case m := <-w.progress:
			var p messages.Progress
			if json.Unmarshal(m.Data, &p) != nil {
				continue
			}
			if i, ok := index[p.RequestID]; ok && parts[i].outcome == nil && p.Removed > parts[i].removed {
				parts[i].removed = p.Removed
				view.update(removed(), total)
			}
		case o := <-w.events:
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
			return failedErrorf("follow outcome events of %s/%s: %w", region, group, err)
		}
	}
	view.finish()
	return a.printOutcomes(parts, total, verbose)
}

// printOutcomes prints the outcomes and returns the exit error of any that
// did not complete.
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
		if o.Status != messages.StatusCompleted {
			why := string(o.Status)
			if o.Error != nil {
				why += " (" + o.Error.Code + ")"
			}
			bad = append(bad, o.RequestID+" "+why)
		}
	}
	if len(parts) > 1 && !a.json {
		fmt.Fprintf(a.stdout, "%d of %d requests completed; %d of %d backend servers removed\n",
			len(parts)-len(bad), len(parts), removed, total)
	}
	if len(bad) > 0 {
		return failedErrorf("request %s", strings.Join(bad, ", request "))
	}
	return nil
}
