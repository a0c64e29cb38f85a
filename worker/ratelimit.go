package worker

import (
	"context"
	"sync"
	"time"

	"golang.org/x/time/rate"
)

// adaptiveLimiter paces API calls for the account: additive increase on
// success, multiplicative decrease on a throttled answer, never above max.
// A burst of throttled answers from one overload counts as one decrease: after
// a decrease, further ones wait for the cooldown, like TCP's once per RTT.
type adaptiveLimiter struct {
	lim      *rate.Limiter
	max      float64
	min      float64
	step     float64
	cooldown time.Duration
	now      func() time.Time
	onChange func(float64)

	mu           sync.Mutex
	lastDecrease time.Time
}

func newAdaptiveLimiter(max float64, now func() time.Time, onChange func(float64)) *adaptiveLimiter {
	l := &adaptiveLimiter{
		// Burst 1: calls leave evenly spaced, so a quota measured per second
		// is never exceeded by a clump.
		lim:      rate.NewLimiter(rate.Limit(max), 1),
		max:      max,
		min:      max / 64,
		step:     max / 32,
		cooldown: time.Second,
		now:      now,
		onChange: onChange,
	}
	onChange(max)
	return l
}

// Wait blocks until a call may go out.
func (l *adaptiveLimiter) Wait(ctx context.Context) error { return l.lim.Wait(ctx) }

func (l *adaptiveLimiter) Succeeded() {
	l.mu.Lock()
	defer l.mu.Unlock()
	cur := float64(l.lim.Limit())
	if cur >= l.max {
		return
	}
	l.set(min(l.max, cur+l.step))
}

func (l *adaptiveLimiter) Throttled() {
	l.mu.Lock()
	defer l.mu.Unlock()
	now := l.now()
	if !l.lastDecrease.IsZero() && now.Sub(l.lastDecrease) < l.cooldown {
		return
	}
	l.lastDecrease = now
	l.set(max(l.min, float64(l.lim.Limit())/2))
}

func (l *adaptiveLimiter) set(r float64) {
	l.lim.SetLimitAt(l.now(), rate.Limit(r))
	l.onChange(r)
}
