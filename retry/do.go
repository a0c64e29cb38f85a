package retry

import (
	"context"
	"errors"
	"time"

	"github.com/cenkalti/backoff/v4"
)

// ErrDeadline is wrapped in the error Policy.Do returns when it gave up
// because the next wait would have ended after the deadline.
var ErrDeadline = errors.New("retry deadline reached")

// Do runs op until it succeeds (Do returns nil), returns an error that is not
// retryable (class Permanent or Credentials: Do returns it redacted, wrapping it),
// the next wait would end after deadline (a zero deadline never does), or ctx
// is done. Between tries it waits per the policy, and a done ctx ends the wait
// at once. notify, if not nil, is called with the error and the wait before
// each wait.
//
// Op always runs at least once unless ctx is done before it starts: the
// deadline bounds the retries, not the first try.
//
// When Do gives up on a retryable error, the error it returns wraps both the
// last try's error and the reason: ErrDeadline, or ctx.Err() (so errors.Is
// with context.Canceled or context.DeadlineExceeded works). Classify, Code,
// RequestID, HTTPStatus and Message of that error describe the last try's
// error. If ctx is done before the first try, the error wraps only ctx.Err().
//
// The SDK takes no context, so a try in flight is not interrupted: its own
// connect and read timeouts bound it.
func (p Policy) Do(ctx context.Context, deadline time.Time, op func() error, notify func(err error, wait time.Duration)) error {
	if err := ctx.Err(); err != nil {
		return &giveUpError{reason: err}
	}
	b := p.NewBackOff(deadline, nil)
	var timer *time.Timer
	for {
		err := op()
		if err == nil {
			return nil
		}
		if !Classify(err).Retryable() {
			return Redact(err)
		}
		wait := b.NextBackOff()
		if wait == backoff.Stop {
			return &giveUpError{last: err, reason: ErrDeadline}
		}
		if notify != nil {
			notify(err, wait)
		}
		if timer == nil {
			timer = time.NewTimer(wait)
			defer timer.Stop()
		} else {
			timer.Reset(wait)
		}
		select {
		case <-ctx.Done():
			return &giveUpError{last: err, reason: ctx.Err()}
		case <-timer.C:
		}
		// Both may have been ready, and select picks at random.
		if ctxErr := ctx.Err(); ctxErr != nil {
			return &giveUpError{last: err, reason: ctxErr}
		}
	}
}

// giveUpError is what Do returns when it stops retrying a retryable error.
type giveUpError struct {
	last   error // the last try's error; nil if op never ran
	reason error // ErrDeadline or ctx.Err()
}

func (e *giveUpError) Error() string {
	if e.last == nil {
		return "retry: not started: " + e.reason.Error()
	}
	// Redacted: op's error may be an SDK error whose text holds the signed URL.
	return "retry: gave up (" + e.reason.Error() + "): " + redactedText(e.last)
}

// Unwrap lists the last error first, so errors.As finds the API error of the
// last try before anything else.
func (e *giveUpError) Unwrap() []error {
	if e.last == nil {
		return []error{e.reason}
	}
	return []error{e.last, e.reason}
}

// lastTry returns the last try's error when err comes from Do giving up, so
// that a reason such as context.DeadlineExceeded does not pass for the error
// the API call met; otherwise err.
func lastTry(err error) error {
	if g, ok := errors.AsType[*giveUpError](err); ok && g.last != nil {
		return g.last
	}
	return err
}
