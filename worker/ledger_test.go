package worker

import (
	"testing"
	"time"
)

func newTestLedger() (*ledger, *fakeClock, *[]*request) {
	clock := newFakeClock()
	var expired []*request
	l := newLedger(clock, newMetrics(nil), func(r *request) {
		if r.decide() {
			expired = append(expired, r)
		}
	})
	return l, clock, &expired
}

func TestLedgerDeadlinesFireInOrderAndOnTime(t *testing.T) {
	l, clock, expired := newTestLedger()
	now := clock.Now()
	late := testRequest(1, "rsp-a", now, 3*time.Second, server(1))
	early := testRequest(2, "rsp-a", now, time.Second, server(2))
	gone := testRequest(3, "rsp-a", now, 2*time.Second, server(3))
	for _, r := range []*request{late, early, gone} {
		l.hold(r)
	}
	l.forget(gone) // its event was acknowledged: its deadline no longer counts
	clock.Advance(time.Second - time.Nanosecond)
	if len(*expired) != 0 {
		t.Fatalf("%d expired before the first deadline", len(*expired))
	}
	clock.Advance(time.Nanosecond)
	if len(*expired) != 1 || (*expired)[0] != early {
		t.Fatalf("at 1s expired %v, want the early request", *expired)
	}
	clock.Advance(2 * time.Second)
	if len(*expired) != 2 || (*expired)[1] != late {
		t.Fatalf("at 3s expired %d, want the late request too (and not the forgotten one)", len(*expired))
	}
	if n := clock.pending(); n != 0 {
		t.Errorf("%d timers armed with no deadline left to watch", n)
	}
}

func TestLedgerEarlierDeadlineRearms(t *testing.T) {
	l, clock, expired := newTestLedger()
	now := clock.Now()
	l.hold(testRequest(1, "rsp-a", now, time.Hour, server(1)))
	soon := testRequest(2, "rsp-a", now, time.Second, server(2))
	l.hold(soon)
	clock.Advance(time.Second)
	if len(*expired) != 1 || (*expired)[0] != soon {
		t.Fatalf("expired %v, want the request held later with the earlier deadline", *expired)
	}
}

func TestLedgerReleaseHandsBackOnlyUndecided(t *testing.T) {
	l, _, _ := newTestLedger()
	now := time.Now()
	open := testRequest(1, "rsp-a", now, time.Hour, server(1))
	decided := testRequest(2, "rsp-a", now, time.Hour, server(2))
	l.hold(open)
	l.hold(decided)
	decided.decide() // its event is on its way
	idle := l.idleCh()
	if left := l.release(); len(left) != 1 {
		t.Fatalf("released %d, want 1 (the undecided one)", len(left))
	}
	if !open.isDecided() {
		t.Error("a handed-back request is still open: the scheduler could still report it")
	}
	if l.len() != 1 {
		t.Fatalf("holds %d, want the decided one still", l.len())
	}
	select {
	case <-idle:
		t.Fatal("idle while a request is still held")
	default:
	}
	l.forget(decided)
	select {
	case <-idle:
	default:
		t.Fatal("not idle after the last request was forgotten")
	}
}

func TestLedgerDueMarksTold(t *testing.T) {
	l, clock, _ := newTestLedger()
	now := clock.Now()
	l.hold(testRequest(1, "rsp-a", now, time.Hour, server(1)))
	clock.Advance(2 * time.Second)
	if got := l.due(clock.Now().Add(-time.Second), clock.Now()); len(got) != 1 {
		t.Fatalf("due %d, want 1", len(got))
	}
	if got := l.due(clock.Now().Add(-time.Second), clock.Now()); len(got) != 0 {
		t.Fatalf("due again at once: %d, want 0", len(got))
	}
}

func TestLedgerRedeliveryReplacesTheHandle(t *testing.T) {
	l, _, _ := newTestLedger()
	r := testRequest(7, "rsp-a", time.Now(), time.Hour, server(1))
	l.hold(r)
	if !l.redelivered(7, delivery{reply: "new"}) {
		t.Fatal("a held sequence was not recognised")
	}
	if d := l.forget(r); d.reply != "new" {
		t.Errorf("forget returned the old delivery %q", d.reply)
	}
	if l.redelivered(8, delivery{}) {
		t.Error("an unknown sequence was taken for a redelivery")
	}
}
