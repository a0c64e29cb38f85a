package retry

import (
	"cmp"
	"errors"
	"fmt"
	"math"
	"time"

	"github.com/cenkalti/backoff/v4"
)

// Policy is an exponential backoff with jitter: the n-th wait is drawn
// uniformly from [i*(1-Jitter), i*(1+Jitter)] where i = min(Initial *
// Multiplier^(n-1), Max). A zero field takes its default, so the zero Policy is
// DefaultPolicy(). (So Jitter cannot be switched off: workers retrying in
// lockstep after an outage is exactly what it is for.)
type Policy struct {
	Initial    time.Duration // first wait before jitter; default 100ms
	Max        time.Duration // cap on a wait before jitter; default 5s
	Multiplier float64       // growth per wait, >= 1; default 2
	Jitter     float64       // randomisation factor in (0, 1]; default 0.5
}

// Defaults of Policy.
const (
	DefaultInitial    = 100 * time.Millisecond
	DefaultMax        = 5 * time.Second
	DefaultMultiplier = 2
	DefaultJitter     = 0.5
)

// DefaultPolicy returns the policy with every field at its default.
func DefaultPolicy() Policy {
	return Policy{Initial: DefaultInitial, Max: DefaultMax, Multiplier: DefaultMultiplier, Jitter: DefaultJitter}
}

// Validate reports what is wrong with p (a negative duration, Max below
// Initial, Multiplier below 1, Jitter outside [0, 1], NaN or infinity), all at
// once. Zero fields are valid: they take their defaults. Call it when reading
// configuration; NewBackOff and Do clamp an invalid policy rather than fail.
func (p Policy) Validate() error {
	var errs []error
	if p.Initial < 0 {
		errs = append(errs, fmt.Errorf("retry policy: initial wait %v is negative", p.Initial))
	}
	if p.Max < 0 {
		errs = append(errs, fmt.Errorf("retry policy: max wait %v is negative", p.Max))
	}
	if p.Initial >= 0 && p.Max >= 0 {
		initial, maxWait := cmp.Or(p.Initial, DefaultInitial), cmp.Or(p.Max, DefaultMax)
		if maxWait < initial {
			errs = append(errs, fmt.Errorf("retry policy: max wait %v is below initial wait %v", maxWait, initial))
		}
	}
	if math.IsNaN(p.Multiplier) || math.IsInf(p.Multiplier, 0) || (p.Multiplier != 0 && p.Multiplier < 1) {
		errs = append(errs, fmt.Errorf("retry policy: multiplier %v is not a finite number >= 1", p.Multiplier))
	}
	if math.IsNaN(p.Jitter) || p.Jitter < 0 || p.Jitter > 1 {
		errs = append(errs, fmt.Errorf("retry policy: jitter %v is outside [0, 1]", p.Jitter))
	}
	return errors.Join(errs...)
}

// normalized fills defaults in and clamps invalid values into range.
func (p Policy) normalized() Policy {
	if p.Initial <= 0 {
		p.Initial = DefaultInitial
	}
	if p.Max <= 0 {
		p.Max = DefaultMax
	}
	if p.Max < p.Initial {
		p.Max = p.Initial
	}
	switch {
	case p.Multiplier == 0 || math.IsNaN(p.Multiplier) || math.IsInf(p.Multiplier, 0):
		p.Multiplier = DefaultMultiplier
	case p.Multiplier < 1:
		p.Multiplier = 1
	}
	switch {
	case p.Jitter == 0 || math.IsNaN(p.Jitter) || p.Jitter < 0:
		p.Jitter = DefaultJitter
	case p.Jitter > 1:
		p.Jitter = 1
	}
	return p
}

// NewBackOff returns a fresh backoff.BackOff following p whose NextBackOff
// returns backoff.Stop once the next wait would end after deadline, and keeps
// returning it until Reset. A zero deadline never stops. clock is read to
// compare with the deadline; nil means the real clock. Like the
// backoff.ExponentialBackOff inside it, the result is not safe for concurrent
// use: make one per retry loop.
func (p Policy) NewBackOff(deadline time.Time, clock backoff.Clock) backoff.BackOff {
	if clock == nil {
		clock = backoff.SystemClock
	}
	n := p.normalized()
	exp := backoff.NewExponentialBackOff(
		backoff.WithInitialInterval(n.Initial),
		backoff.WithMaxInterval(n.Max),
		backoff.WithMultiplier(n.Multiplier),
		backoff.WithRandomizationFactor(n.Jitter),
		backoff.WithMaxElapsedTime(0), // the deadline bounds us instead
		backoff.WithClockProvider(clock),
	)
	return &deadlineBackOff{exp: exp, deadline: deadline, clock: clock}
}

// deadlineBackOff stops an exponential backoff at an absolute deadline rather
// than after an elapsed time: a request's deadline is a point in time, and its
// call may start long after the request was received.
type deadlineBackOff struct {
	exp      *backoff.ExponentialBackOff
	deadline time.Time
	clock    backoff.Clock
	stopped  bool
}

func (b *deadlineBackOff) NextBackOff() time.Duration {
	if b.stopped {
		return backoff.Stop
	}
	next := b.exp.NextBackOff()
	// Sticky: a later, luckier draw of the jitter must not revive a loop that
	// already told its caller to give up.
	if next == backoff.Stop || (!b.deadline.IsZero() && b.clock.Now().Add(next).After(b.deadline)) {
		b.stopped = true
		return backoff.Stop
	}
	return next
}

func (b *deadlineBackOff) Reset() {
	b.exp.Reset()
	b.stopped = false
}
