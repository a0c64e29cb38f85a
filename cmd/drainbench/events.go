package main

import (
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/slbdrain/slbdrain/messages"
)

// collector follows outcome events as they are published, on a core NATS
// subscription of its own connection: it sees an event when the broker routes
// it (the events stream stores it at the same moment), without the delivery
// hop of a consumer. It reads only the Nats-Msg-Id header and the subject,
// never the body, so that following 100,000 events costs the process that
// also runs the system under test next to nothing.
type collector struct {
	nc  *nats.Conn
	sub *nats.Subscription

	mu       sync.Mutex
	want     int
	seen     map[string]struct{}
	byStatus map[messages.Status]int
	dups     int // events published more than once for a request (the stream de-duplicates them)
	last     time.Time
	done     chan struct{} // closed once want distinct requests have an event
	waiters  map[string]chan time.Time
}

func newCollector(url string) (*collector, error) {
	nc, err := nats.Connect(url, nats.Name("drainbench-events"))
	if err != nil {
		return nil, fmt.Errorf("collector: connect to %s: %w", url, err)
	}
	c := &collector{nc: nc}
	c.expect(0)
	c.sub, err = nc.Subscribe(messages.EventSubjects, c.onEvent)
	if err != nil {
		nc.Close()
		return nil, fmt.Errorf("collector: subscribe %s: %w", messages.EventSubjects, err)
	}
	// A burst of events must never be dropped as a slow consumer.
	if err := c.sub.SetPendingLimits(-1, -1); err != nil {
		nc.Close()
		return nil, fmt.Errorf("collector: pending limits: %w", err)
	}
	if err := nc.Flush(); err != nil {
		nc.Close()
		return nil, fmt.Errorf("collector: flush subscription: %w", err)
	}
	return c, nil
}

// expect resets the counts and waits for n distinct requests.
func (c *collector) expect(n int) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.want = n
	c.seen = make(map[string]struct{}, n)
	c.byStatus = make(map[messages.Status]int)
	c.dups = 0
	c.last = time.Time{}
	c.done = make(chan struct{})
	c.waiters = make(map[string]chan time.Time)
	if n == 0 {
		close(c.done)
	}
}

// await returns a channel that receives the arrival time of requestID's
// event. Register before publishing.
func (c *collector) await(requestID string) <-chan time.Time {
	ch := make(chan time.Time, 1)
	c.mu.Lock()
	c.waiters[requestID] = ch
	c.mu.Unlock()
	return ch
}

func (c *collector) onEvent(msg *nats.Msg) {
	now := time.Now()
	id := strings.TrimPrefix(msg.Header.Get(messages.MsgIDHeader), "event:")
	// slb.drain.event.<status>.<region>.<group>
	var status messages.Status
	if tokens := strings.SplitN(msg.Subject, ".", 5); len(tokens) > 3 {
		status = messages.Status(tokens[3])
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if _, ok := c.seen[id]; ok {
		c.dups++
		return
	}
	c.seen[id] = struct{}{}
	c.byStatus[status]++
	c.last = now
	if ch := c.waiters[id]; ch != nil {
		ch <- now
		delete(c.waiters, id)
	}
	if len(c.seen) == c.want {
		close(c.done)
	}
}

// doneCh is closed once every expected request has its event.
func (c *collector) doneCh() <-chan struct{} {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.done
}

// eventCounts is what the collector saw.
type eventCounts struct {
	distinct  int
	completed int
	failed    int
	rejected  int
	dups      int
	last      time.Time
}

func (c *collector) counts() eventCounts {
	c.mu.Lock()
	defer c.mu.Unlock()
	return eventCounts{
		distinct:  len(c.seen),
		completed: c.byStatus[messages.StatusCompleted],
		failed:    c.byStatus[messages.StatusFailed],
		rejected:  c.byStatus[messages.StatusRejected],
		dups:      c.dups,
		last:      c.last,
	}
}

func (c *collector) close() {
	c.nc.Close()
}
