package worker

import (
	"context"
	"time"
)

// Clock is the worker's source of time and timers. Injected so that every
// transition of the scheduler and the ledger can be driven by a test without
// waiting.
type Clock interface {
	Now() time.Time
	// AfterFunc calls f in its own goroutine once d has passed.
	AfterFunc(d time.Duration, f func()) Timer
}

// Timer is a pending AfterFunc call.
type Timer interface {
	// Stop prevents the call if it has not started; false if it has (or was stopped).
	Stop() bool
}

// systemClock is the wall clock and the runtime's timers.
type systemClock struct{}

func (systemClock) Now() time.Time { return time.Now() }

func (systemClock) AfterFunc(d time.Duration, f func()) Timer { return time.AfterFunc(d, f) }

// sleep waits d, or until ctx is done; it reports whether the wait ran out
// (false: ctx ended it). For the retry loops of set-up and background work.
func sleep(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return false
	case <-t.C:
		return true
	}
}
