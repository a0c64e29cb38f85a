package worker

import (
	"context"
	"sync"
)

// readyQueue is the FIFO of groups whose next call may go out. A group is in
// it at most once (see coalescer), so its length is bounded by the groups.
type readyQueue struct {
	mu     sync.Mutex
	items  []*group
	head   int
	signal chan struct{}
}

func newReadyQueue() *readyQueue { return &readyQueue{signal: make(chan struct{}, 1)} }

func (q *readyQueue) push(g *group) {
	q.mu.Lock()
	q.items = append(q.items, g)
	q.mu.Unlock()
	q.wake()
}

func (q *readyQueue) wake() {
	select {
	case q.signal <- struct{}{}:
	default:
	}
}

// pop waits for a group, or returns nil when ctx is done.
func (q *readyQueue) pop(ctx context.Context) *group {
	for {
		q.mu.Lock()
		if q.head < len(q.items) {
			g := q.items[q.head]
			q.items[q.head] = nil
			q.head++
			more := q.head < len(q.items)
			if !more {
				q.items, q.head = q.items[:0], 0
			} else if q.head > 1024 && 2*q.head > len(q.items) {
				// A queue that never empties must not grow forever.
				n := copy(q.items, q.items[q.head:])
				clear(q.items[n:])
				q.items, q.head = q.items[:n], 0
			}
			q.mu.Unlock()
			if more {
				q.wake() // pass the baton to another waiting dispatcher
			}
			return g
		}
		q.mu.Unlock()
		select {
		case <-q.signal:
		case <-ctx.Done():
			return nil
		}
	}
}

func (q *readyQueue) len() int {
	q.mu.Lock()
	defer q.mu.Unlock()
	return len(q.items) - q.head
}
