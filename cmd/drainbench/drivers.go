package main

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/slbdrain/slbdrain/messages"
)

// The drivers of the rows whose trial is not one plain drain: a drain that
// starts as a quota window opens, two regions of which one is throttled, a
// graceful restart and a crash failover.

// windowStartOffset is how far into a window of the remove quota
// atWindowStart starts publishing: enough that no call of the drain can be
// counted in the window before, on a machine whose clock the emulator
// shares.
const windowStartOffset = 10 * time.Millisecond

// atWindowStart is whileRunning with the publishing started just after a
// window of the emulator's remove quota opens (its windows are fixed, whole
// multiples of the window since the epoch): so the bound, the windows the
// drain needs, is counted from the window it starts in, not from a phase
// that varies from run to run by up to a window.
func atWindowStart(ctx context.Context, tr *trialRun) error {
	if err := tr.start(ctx, true); err != nil {
		return err
	}
	if err := sleepUntil(ctx, nextWindow(time.Now(), removeQuota(tr.p.sim).Window).Add(windowStartOffset)); err != nil {
		return err
	}
	return tr.publishAndDrain(ctx)
}

// nextWindow is when the fixed window after the one holding now starts, as
// the emulator counts them (slbsim's window.indexAt).
func nextWindow(now time.Time, window time.Duration) time.Time {
	d := int64(window)
	return time.Unix(0, (now.UnixNano()/d+1)*d)
}

func sleepUntil(ctx context.Context, t time.Time) error {
	select {
	case <-time.After(time.Until(t)):
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// throttledRegion is the two-regions row's second region, where another
// tool of the account spends every call of every window.
const throttledRegion = "cn-beijing"

// stuckDeadline is how long after their publishing the throttled region's
// requests may wait: past the healthy region's drain (about 1 s alone), so
// that the region stays throttled, with requests waiting in it, throughout.
const stuckDeadline = 8 * time.Second

// byRegion splits the plan's requests into those of benchRegion, as
// encoded, and the others.
func (tr *trialRun) byRegion() (healthy []*nats.Msg, stuck []messages.DrainRequest) {
	for i, r := range tr.p.wl.reqs {
		if r.RegionID == benchRegion {
			healthy = append(healthy, tr.p.msgs[i])
		} else {
			stuck = append(stuck, r)
		}
	}
	return healthy, stuck
}

// twoRegions: the throttled region's requests first, with their deadline
// stuckDeadline away; once that region has answered spentEvidence calls
// Throttling.User, the healthy region's drain, timed as a drain alone is (healthyAlone).
// Then the stuck requests fail at their deadline, each late by what its
// mark says.
func twoRegions(ctx context.Context, tr *trialRun) error {
	healthy, stuck := tr.byRegion()
	if err := tr.start(ctx, true); err != nil {
		return err
	}
	deadline := time.Now().Add(stuckDeadline)
	for i := range stuck {
		stuck[i].Deadline = &deadline
	}
	stuckMsgs, err := encode(stuck)
	if err != nil {
		return err
	}
	tr.expect(append(append([]*nats.Msg{}, healthy...), stuckMsgs...), len(stuckMsgs))
	failed := awaitAll(tr.e.events, stuckMsgs)
	if err := tr.e.publishAll(ctx, stuckMsgs); err != nil {
		return err
	}
	if err := tr.e.waitThrottled(ctx, throttledRegion, spentEvidence, stuckDeadline/2); err != nil {
		return err
	}
	if err := tr.drainOf(ctx, healthy); err != nil || tr.res.timedOut {
		return err
	}
	timeout := time.After(time.Until(deadline) + 30*time.Second)
	for _, ch := range failed {
		select {
		case t := <-ch:
			tr.res.mark("deadline_late_ms", t.Sub(deadline))
		case <-timeout:
			tr.res.timedOut = true
			return nil
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	return nil
}

// healthyAlone is the healthy region's drain of twoRegions with nothing
// else going on.
func healthyAlone(ctx context.Context, tr *trialRun) error {
	healthy, _ := tr.byRegion()
	tr.expect(healthy, 0)
	if err := tr.start(ctx, true); err != nil {
		return err
	}
	return tr.drainOf(ctx, healthy)
}

// drainOf publishes msgs at once and times them from the first publish to
// the last one's event, as elapsed.
func (tr *trialRun) drainOf(ctx context.Context, msgs []*nats.Msg) error {
	got := awaitAll(tr.e.events, msgs)
	t0 := time.Now()
	if err := tr.e.publishAll(ctx, msgs); err != nil {
		return err
	}
	tr.res.publish = time.Since(t0)
	timeout := time.After(tr.p.timeout)
	var last time.Time
	for _, ch := range got {
		select {
		case t := <-ch:
			if t.After(last) {
				last = t
			}
		case <-timeout:
			tr.res.timedOut = true
			return nil
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	tr.res.elapsed = last.Sub(t0)
	return nil
}

// awaitAll registers for the events of msgs (before they are published).
func awaitAll(c *collector, msgs []*nats.Msg) []<-chan time.Time {
	out := make([]<-chan time.Time, len(msgs))
	for i, m := range msgs {
		out[i] = c.await(m.Header.Get(messages.MsgIDHeader))
	}
	return out
}

// spentEvidence is how many Throttling.User answers tell a worker that a
// window is spent where the API does not throttle at random (two in a row:
// worker/quota.go). The healthy drain starts once the throttled region has
// given that many: the worker knows, and has no reason left to call there.
const spentEvidence = 2

// waitThrottled waits until the emulator has answered n calls in region
// Throttling.User, or timeout passed (then the drain goes on: the row's
// figures show how many calls the region had).
func (e *env) waitThrottled(ctx context.Context, region string, n int, timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	for time.Now().Before(deadline) {
		if e.sim.Stats().Throttled >= int64(n) {
			refused := 0
			for _, c := range e.sim.Calls() {
				if c.RegionID == region && isQuotaRefusal(c.Code) {
					refused++
				}
			}
			if refused >= n {
				return nil
			}
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(5 * time.Millisecond):
		}
	}
	return nil
}

// takeoverTimeout is how long a restart or failover may take before the
// trial is called timed out: far beyond the goals, and beyond the 15 s
// pinned TTL that a stalled takeover waits for.
const takeoverTimeout = 60 * time.Second

// roundTrip publishes m and waits for its event: when it was published and
// when its event came; ok is false if none came within takeoverTimeout.
func (tr *trialRun) roundTrip(ctx context.Context, m *nats.Msg) (published, arrived time.Time, ok bool, err error) {
	got := tr.e.events.await(m.Header.Get(messages.MsgIDHeader))
	if err := tr.e.publishSync(ctx, m); err != nil {
		return time.Time{}, time.Time{}, false, err
	}
	published = time.Now()
	select {
	case arrived = <-got:
		return published, arrived, true, nil
	case <-time.After(takeoverTimeout):
		tr.res.timedOut = true
		return published, time.Time{}, false, nil
	case <-ctx.Done():
		return published, time.Time{}, false, ctx.Err()
	}
}

// warmUp starts the system, waits until it is ready and drains the warm-up
// requests one at a time: the worker then holds the consumer's pin, as a
// worker that has been running does.
func (tr *trialRun) warmUp(ctx context.Context) error {
	if err := tr.start(ctx, true); err != nil {
		return err
	}
	for _, m := range tr.msgs[:tr.p.warmup] {
		if _, _, ok, err := tr.roundTrip(ctx, m); err != nil || !ok {
			return err
		}
	}
	return nil
}

// restart: a graceful stop (the worker's context cancelled, Run returned)
// and a start of a new worker on the same consumer, then one request
// published at once. Marks: how long the stop took, the time from the old
// worker's end to the request's completed event (restart to first
// completion), and from the publish to the event.
func restart(ctx context.Context, tr *trialRun) error {
	if err := tr.warmUp(ctx); err != nil || tr.res.timedOut {
		return err
	}
	for _, m := range tr.msgs[tr.p.warmup:] {
		s0 := time.Now()
		if err := tr.stop(); err != nil {
			return err
		}
		stopped := time.Now()
		if err := tr.start(ctx, false); err != nil {
			return err
		}
		published, arrived, ok, err := tr.roundTrip(ctx, m)
		if err != nil || !ok {
			return err
		}
		tr.res.mark("stop_ms", stopped.Sub(s0))
		tr.res.mark("restart_ms", arrived.Sub(stopped))
		tr.res.mark("publish_to_event_ms", arrived.Sub(published))
	}
	return nil
}

// failover: the active worker and a standby on the same consumer and
// priority group, each in a process of its own; the active one is killed
// (SIGKILL: no shutdown, no unpinning, its connection dropped by the
// kernel) and one request published at once. Marks: the time from the kill
// to that request's completed event, and from its publish. The standby is
// the active worker of the next repetition, beside a new standby.
func failover(ctx context.Context, tr *trialRun) (err error) {
	if err := tr.warmUp(ctx); err != nil || tr.res.timedOut {
		return err
	}
	for _, m := range tr.msgs[tr.p.warmup:] {
		standby, err := tr.sys.start(ctx, tr.e.natsURL(), tr.e.simSrv.URL)
		if err != nil {
			return err
		}
		if err := tr.e.waitPulling(ctx, tr.p.cfg.Consumer, 2, 5*time.Second); err != nil {
			return joinStop(err, standby)
		}
		if tr.r.kill == nil {
			return joinStop(fmt.Errorf("%s: runs in this process: it cannot be killed", tr.sys.name), standby)
		}
		killed := time.Now()
		if err := tr.r.kill(); err != nil {
			return joinStop(err, standby)
		}
		tr.r = standby
		published, arrived, ok, err := tr.roundTrip(ctx, m)
		if err != nil || !ok {
			return err
		}
		tr.res.mark("failover_ms", arrived.Sub(killed))
		tr.res.mark("publish_to_event_ms", arrived.Sub(published))
	}
	return nil
}

func joinStop(err error, r *running) error {
	if serr := r.stop(); serr != nil {
		return fmt.Errorf("%w (and stopping: %v)", err, serr)
	}
	return err
}

// waitPulling waits until the consumer has at least n pull requests
// waiting (a standby has joined the active worker), or timeout passed:
// then the failover goes on, and its time says what that cost.
func (e *env) waitPulling(ctx context.Context, consumer string, n int, timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	for {
		c, err := e.js.Consumer(ctx, messages.RequestStream, consumer)
		if err != nil && !isNotFound(err) {
			return fmt.Errorf("consumer %s: %w", consumer, err)
		}
		if err == nil && c.CachedInfo().NumWaiting >= n || time.Now().After(deadline) {
			return nil
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(5 * time.Millisecond):
		}
	}
}

func isNotFound(err error) bool { return errors.Is(err, jetstream.ErrConsumerNotFound) }
