package retry

import (
	"math"
	"strings"
	"testing"
	"time"

	"github.com/cenkalti/backoff/v4"
)

type fakeClock struct{ now time.Time }

func (c *fakeClock) Now() time.Time          { return c.now }
func (c *fakeClock) Advance(d time.Duration) { c.now = c.now.Add(d) }

func newFakeClock() *fakeClock {
	return &fakeClock{now: time.Date(2026, 11, 27, 10, 0, 0, 0, time.UTC)}
}

// within reports whether wait is a jittered interval: in
// [interval*(1-j), interval*(1+j)], plus the 1ns backoff/v4 may add on top.
func within(wait, interval time.Duration, j float64) bool {
	lo := time.Duration(float64(interval) * (1 - j))
	hi := time.Duration(float64(interval)*(1+j)) + 1
	return lo <= wait && wait <= hi
}

func TestBackOffBounds(t *testing.T) {
	p := Policy{Initial: 100 * time.Millisecond, Max: time.Second, Multiplier: 2, Jitter: 0.5}
	const runs, steps = 100, 12
	firsts := map[time.Duration]bool{}
	var below, above int
	for range runs {
		b := p.NewBackOff(time.Time{}, newFakeClock())
		interval := p.Initial
		for n := range steps {
			wait := b.NextBackOff()
			if !within(wait, interval, p.Jitter) {
				t.Fatalf("wait %d = %v, want within %v ± %.0f%%", n, wait, interval, p.Jitter*100)
			}
			if limit := time.Duration(float64(p.Max)*(1+p.Jitter)) + 1; wait > limit {
				t.Fatalf("wait %d = %v is above Max*(1+Jitter) = %v", n, wait, limit)
			}
			if n == 0 {
				firsts[wait] = true
				if wait < interval {
					below++
				} else {
					above++
				}
			}
			interval = min(2*interval, p.Max)
		}
		// Grown to the cap: the last waits are at least Max*(1-Jitter).
		if wait := b.NextBackOff(); wait < time.Duration(float64(p.Max)*(1-p.Jitter)) {
			t.Fatalf("wait after %d steps = %v, want at least %v", steps, wait, time.Duration(float64(p.Max)*(1-p.Jitter)))
		}
	}
	// The jitter is there: first waits differ and fall on both sides.
	if len(firsts) < runs/2 || below == 0 || above == 0 {
		t.Fatalf("first waits look unjittered: %d distinct of %d, %d below and %d above the interval", len(firsts), runs, below, above)
	}
}

func TestBackOffReset(t *testing.T) {
	p := Policy{Initial: 100 * time.Millisecond, Max: 10 * time.Second, Multiplier: 2, Jitter: 0.5}
	b := p.NewBackOff(time.Time{}, nil)
	for range 10 {
		b.NextBackOff()
	}
	b.Reset()
	if wait := b.NextBackOff(); !within(wait, p.Initial, p.Jitter) {
		t.Fatalf("first wait after Reset = %v, want within %v ± 50%%", wait, p.Initial)
	}
}

func TestBackOffZeroPolicyIsDefault(t *testing.T) {
	if DefaultPolicy() != (Policy{Initial: 100 * time.Millisecond, Max: 5 * time.Second, Multiplier: 2, Jitter: 0.5}) {
		t.Fatalf("DefaultPolicy() = %+v", DefaultPolicy())
	}
	firsts := map[time.Duration]bool{}
	for range 50 {
		b := Policy{}.NewBackOff(time.Time{}, nil)
		interval := DefaultInitial
		for n := range 10 {
			wait := b.NextBackOff()
			if !within(wait, interval, DefaultJitter) {
				t.Fatalf("zero policy: wait %d = %v, want within %v ± 50%%", n, wait, interval)
			}
			if n == 0 {
				firsts[wait] = true
			}
			interval = min(2*interval, DefaultMax)
		}
	}
	if len(firsts) < 25 {
		t.Fatalf("zero policy: %d distinct first waits of 50, want jitter", len(firsts))
	}
}

func TestBackOffStopsAtDeadline(t *testing.T) {
	p := Policy{Initial: 100 * time.Millisecond, Max: time.Second, Multiplier: 2, Jitter: 0.5}

	t.Run("never past the deadline", func(t *testing.T) {
		for range 50 {
			clock := newFakeClock()
			deadline := clock.now.Add(10 * time.Second)
			b := p.NewBackOff(deadline, clock)
			stopped := false
			for range 100 {
				wait := b.NextBackOff()
				if wait == backoff.Stop {
					stopped = true
					break
				}
				if end := clock.now.Add(wait); end.After(deadline) {
					t.Fatalf("wait %v ends at %v, after the deadline %v", wait, end, deadline)
				}
				clock.Advance(wait)
			}
			if !stopped {
				t.Fatal("no Stop in 100 waits of at least 50ms before a 10s deadline")
			}
			// The last wait could not fit: Stop came with less than
			// Max*(1+Jitter) left.
			if left := deadline.Sub(clock.now); left > time.Duration(float64(p.Max)*(1+p.Jitter))+1 {
				t.Fatalf("stopped with %v left before the deadline", left)
			}
			// Sticky until Reset, even if time went back.
			clock.now = deadline.Add(-time.Hour)
			if wait := b.NextBackOff(); wait != backoff.Stop {
				t.Fatalf("after Stop: %v, want Stop", wait)
			}
			b.Reset()
			if wait := b.NextBackOff(); wait == backoff.Stop {
				t.Fatal("after Reset: Stop, want a wait")
			}
		}
	})

	t.Run("first wait cannot fit", func(t *testing.T) {
		clock := newFakeClock()
		// The first wait is at least 50ms.
		b := p.NewBackOff(clock.now.Add(49*time.Millisecond), clock)
		if wait := b.NextBackOff(); wait != backoff.Stop {
			t.Fatalf("NextBackOff = %v, want Stop", wait)
		}
	})

	t.Run("first wait always fits", func(t *testing.T) {
		for range 50 {
			clock := newFakeClock()
			// The first wait is at most 150ms (and 1ns).
			b := p.NewBackOff(clock.now.Add(151*time.Millisecond), clock)
			if wait := b.NextBackOff(); wait == backoff.Stop {
				t.Fatal("NextBackOff = Stop, want a wait")
			}
		}
	})

	t.Run("deadline passed", func(t *testing.T) {
		clock := newFakeClock()
		b := p.NewBackOff(clock.now.Add(-time.Second), clock)
		if wait := b.NextBackOff(); wait != backoff.Stop {
			t.Fatalf("NextBackOff = %v, want Stop", wait)
		}
	})

	t.Run("zero deadline never stops", func(t *testing.T) {
		clock := newFakeClock()
		b := p.NewBackOff(time.Time{}, clock)
		for range 1000 {
			wait := b.NextBackOff()
			if wait == backoff.Stop {
				t.Fatal("Stop with a zero deadline")
			}
			clock.Advance(24 * time.Hour) // elapsed time must not matter either
		}
	})
}

func TestValidate(t *testing.T) {
	tests := []struct {
		name string
		p    Policy
		want []string // substrings of the error; none: valid
	}{
		{name: "default", p: DefaultPolicy()},
		{name: "zero", p: Policy{}},
		{name: "constant", p: Policy{Initial: time.Second, Max: time.Second, Multiplier: 1, Jitter: 1}},
		{name: "negative initial", p: Policy{Initial: -time.Second}, want: []string{"initial"}},
		{name: "negative max", p: Policy{Max: -time.Second}, want: []string{"max wait -1s is negative"}},
		{name: "max below initial", p: Policy{Initial: time.Second, Max: time.Millisecond}, want: []string{"below initial"}},
		{name: "max below default initial", p: Policy{Max: time.Millisecond}, want: []string{"below initial wait 100ms"}},
		{name: "multiplier below 1", p: Policy{Multiplier: 0.5}, want: []string{"multiplier"}},
		{name: "multiplier NaN", p: Policy{Multiplier: math.NaN()}, want: []string{"multiplier"}},
		{name: "multiplier Inf", p: Policy{Multiplier: math.Inf(1)}, want: []string{"multiplier"}},
		{name: "jitter above 1", p: Policy{Jitter: 1.5}, want: []string{"jitter"}},
		{name: "jitter negative", p: Policy{Jitter: -0.1}, want: []string{"jitter"}},
		{name: "several", p: Policy{Initial: -1, Jitter: 2}, want: []string{"initial", "jitter"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			err := tc.p.Validate()
			if len(tc.want) == 0 {
				if err != nil {
					t.Fatalf("Validate() = %v, want nil", err)
				}
				return
			}
			if err == nil {
				t.Fatalf("Validate() = nil, want an error about %q", tc.want)
			}
			for _, s := range tc.want {
				if !strings.Contains(err.Error(), s) {
					t.Errorf("Validate() = %q, want it to mention %q", err, s)
				}
			}
		})
	}
}

// An invalid policy is clamped into range rather than producing nonsense waits.
func TestBackOffClampsInvalidPolicy(t *testing.T) {
	p := Policy{Initial: 10 * time.Millisecond, Max: time.Millisecond, Multiplier: 0.5, Jitter: 7}
	b := p.NewBackOff(time.Time{}, nil)
	for n := range 20 {
		// Max raised to Initial, multiplier to 1, jitter to 1: [0, 20ms].
		if wait := b.NextBackOff(); wait < 0 || wait > 20*time.Millisecond+1 {
			t.Fatalf("wait %d = %v, want within [0, 20ms]", n, wait)
		}
	}
}
