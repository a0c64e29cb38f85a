package slbsim

import (
	"sync"
	"time"

	"golang.org/x/time/rate"
)

// qpsLimit is the emulator's older, simpler flow control (Config.QPS): a
// token bucket per action, shared by every region and account. It is kept
// for the tests and benchmarks that use it; Quotas are how Alibaba counts.
type qpsLimit struct {
	mu     sync.Mutex
	limit  rate.Limit
	burst  int
	perAPI map[string]*rate.Limiter
}

func limitFor(qps float64) rate.Limit {
	if qps <= 0 {
		return rate.Inf
	}
	return rate.Limit(qps)
}

func newQPSLimit(qps float64, burst int) *qpsLimit {
	return &qpsLimit{limit: limitFor(qps), burst: burstFor(qps, burst), perAPI: make(map[string]*rate.Limiter)}
}

// allow takes one call from action's bucket at now.
func (q *qpsLimit) allow(action string, now time.Time) bool {
	q.mu.Lock()
	l := q.perAPI[action]
	if l == nil {
		l = rate.NewLimiter(q.limit, q.burst)
		q.perAPI[action] = l
	}
	q.mu.Unlock()
	return l.AllowN(now, 1)
}

func (q *qpsLimit) set(qps float64, burst int, now time.Time) {
	q.mu.Lock()
	defer q.mu.Unlock()
	q.limit, q.burst = limitFor(qps), burstFor(qps, burst)
	for _, l := range q.perAPI {
		l.SetLimitAt(now, q.limit)
		l.SetBurstAt(now, q.burst)
	}
}
