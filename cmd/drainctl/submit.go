package main

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"time"

	"github.com/cenkalti/backoff/v4"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/slbdrain/slbdrain/messages"
	"github.com/slbdrain/slbdrain/retry"
)

// submission is what drain, retry and restore publish: the requests of one
// group (a drain of more than messages.MaxServers servers is split in
// parts), or a restore's one request per group, and whether to wait for
// their outcome.
type submission struct {
	reqs    []messages.DrainRequest
	wait    bool
	timeout time.Duration // the whole run: connecting, publishing and, with wait, the outcome
	verbose bool
}

const (
	// publishAttemptTimeout bounds one publish: a node failover can swallow
	// an ack, and the same Nats-Msg-Id makes publishing again safe.
	publishAttemptTimeout = 2 * time.Second
	maxPublishBackoff     = 2 * time.Second
	// clockSkew widens the replay of events before this run, for a broker
	// whose clock is behind ours.
	clockSkew = 30 * time.Second
)

// submit publishes s.reqs in order and, with s.wait, waits for the outcome
// of each and prints it. A failed or rejected outcome is exit 1, no outcome
// in time exit 3.
func (a *app) submit(ctx context.Context, s submission) error {
	ctx, cancel := context.WithTimeout(ctx, s.timeout)
	defer cancel()
	nc, js, err := a.connect(s.timeout)
	if err != nil {
		return err
	}
	defer nc.Close()
	return a.submitOn(ctx, nc, js, s)
}

// submitOn is submit on a connection, within ctx's deadline.
func (a *app) submitOn(ctx context.Context, nc *nats.Conn, js jetstream.JetStream, s submission) error {
	rs, err := a.stream(ctx, js, messages.RequestStream)
	if err != nil {
		return err
	}
	if !s.wait {
		for i, req := range s.reqs {
			ack, err := a.publish(ctx, js, req)
			if err != nil {
				return publishedBefore(err, s.reqs[:i])
			}
			if err := a.reportPublished(req, ack, false); err != nil {
				return err
			}
		}
		return nil
	}
	// A request whose outcome is remembered is answered: it is shown, not
	// published again (the worker would ack it with no call and no event).
	// The watch also catches an outcome stored while we wait, which is the
	// only answer a request gets when an earlier one under its id is answered
	// first.
	stored, err := a.watchStored(ctx, js, s.reqs)
	if err != nil {
		return err
	}
	defer stored.stop()
	parts := make([]part, len(s.reqs))
	var todo []messages.DrainRequest
	for i, req := range s.reqs {
		parts[i].req = req
		if so, ok := stored.initialOf(req.RequestID); ok {
			parts[i].outcome = &so.outcome
			parts[i].removed = removedCount(so.outcome)
			fmt.Fprintln(a.stderr, knownNote(req, so))
			continue
		}
		todo = append(todo, req)
	}
	if len(todo) == 0 {
		return a.printOutcomes(parts, serverCount(s.reqs), s.verbose)
	}
	// Subscribe before publishing, so the outcome cannot slip by. A request
	// re-sent under its id within the duplicate window is the same request,
	// whose event may be older than this run: start there.
	start := a.now().Add(-rs.CachedInfo().Config.Duplicates - clockSkew)
	w, err := a.startWaiting(ctx, nc, js, todo, start)
	if err != nil {
		return err
	}
	defer w.stop()
	w.stored = stored.updates()
	var published []messages.DrainRequest
	for i := range parts {
		if parts[i].outcome != nil {
			continue
		}
		req := parts[i].req
		ack, err := a.publish(ctx, js, req)
		if err != nil {
			return publishedBefore(err, published)
		}
		parts[i].ack = ack
		published = append(published, req)
		if err := a.reportPublished(req, ack, true); err != nil {
			return err
		}
	}
	return w.wait(ctx, parts, s.timeout, s.verbose)
}

// publishedBefore adds to a publish error which parts were published before.
func publishedBefore(err error, published []messages.DrainRequest) error {
	if len(published) == 0 {
		return err
	}
	return fmt.Errorf("%w\n  (the parts before it are published: %s)", err, joinIDs(published))
}

func serverCount(reqs []messages.DrainRequest) int {
	n := 0
	for _, r := range reqs {
		n += len(r.BackendServers)
	}
	return n
}

func joinIDs(reqs []messages.DrainRequest) string {
	ids := make([]string, len(reqs))
	for i, r := range reqs {
		ids[i] = r.RequestID
	}
	return strings.Join(ids, ", ")
}

// publish sends req, publishing again after a lost or late ack until ctx
// ends: the same Nats-Msg-Id makes that safe.
func (a *app) publish(ctx context.Context, js messages.Publisher, req messages.DrainRequest) (*jetstream.PubAck, error) {
	var (
		attempts int
		last     error
	)
	try := func() (*jetstream.PubAck, error) {
		attempts++
		actx, cancel := context.WithTimeout(ctx, publishAttemptTimeout)
		defer cancel()
		ack, err := messages.Publish(actx, js, req)
		if err == nil {
			return ack, nil
		}
		last = err
		if _, ok := errors.AsType[*messages.ValidationError](err); ok {
			return nil, backoff.Permanent(&exitError{code: exitUsage, err: err})
		}
		if ctx.Err() == nil && !retryablePublish(err) {
			return nil, backoff.Permanent(failedErrorf("%w", err))
		}
		return nil, err
	}
	// No deadline of its own: ctx bounds the retries.
	b := backoff.WithContext(retry.Policy{Initial: 100 * time.Millisecond, Max: maxPublishBackoff}.NewBackOff(time.Time{}, nil), ctx)
	ack, err := backoff.RetryNotifyWithData(try, b, func(err error, _ time.Duration) {
		fmt.Fprintf(a.stderr, "drainctl: %v (attempt %d); publishing again\n", err, attempts)
	})
	if _, ok := errors.AsType[*exitError](err); ok || err == nil {
		return ack, err
	}
	// Otherwise the backoff stopped, which it does only when ctx ends.
	return nil, a.ctxError(ctx, fmt.Sprintf("publishing drain request %s after %d attempts (last: %v)", req.RequestID, attempts, last))
}

// retryablePublish says whether a publish may succeed when tried again: no
// ack in time, no stream leader for a moment, a reconnecting client.
func retryablePublish(err error) bool {
	var apiErr *jetstream.APIError
	switch {
	case errors.Is(err, context.DeadlineExceeded), errors.Is(err, nats.ErrTimeout),
		errors.Is(err, jetstream.ErrNoStreamResponse), errors.Is(err, nats.ErrNoResponders),
		errors.Is(err, nats.ErrConnectionReconnecting), errors.Is(err, nats.ErrDisconnected):
		return true
	case errors.As(err, &apiErr):
		return apiErr.Code == http.StatusServiceUnavailable
	}
	return false
}

// published is the JSON line of a request published without --wait.
type published struct {
	RequestID string `json:"request_id"`
	Subject   string `json:"subject"`
	Stream    string `json:"stream"`
	Sequence  uint64 `json:"seq"`
	Duplicate bool   `json:"duplicate"`
	Servers   int    `json:"servers"`
}

func (a *app) reportPublished(req messages.DrainRequest, ack *jetstream.PubAck, wait bool) error {
	p := published{RequestID: req.RequestID, Subject: req.Subject(),
		Stream: ack.Stream, Sequence: ack.Sequence, Duplicate: ack.Duplicate, Servers: len(req.BackendServers)}
	if a.json && !wait {
		return a.printJSON(p)
	}
	noun := "backend server"
	if req.InstanceScope() {
		noun = "instance"
	}
	line := fmt.Sprintf("published %s: %s to %s (stream %s, sequence %d)",
		p.RequestID, plural(p.Servers, noun), p.Subject, p.Stream, p.Sequence)
	if p.Duplicate {
		line += "; a duplicate of the request already published under this id, which is answered once"
	}
	w := a.stdout
	if wait {
		w = a.stderr // stdout carries the outcome only
	}
	_, err := fmt.Fprintln(w, line)
	return err
}
