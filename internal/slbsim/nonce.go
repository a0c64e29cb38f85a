package slbsim

import (
	"sync"
	"time"
)

// nonceWindow is how long a SignatureNonce stays used. Alibaba accepts a
// Timestamp within 15 minutes of its clock, so a replay older than that is
// refused by the timestamp check and its nonce need not be kept.
const nonceWindow = 15 * time.Minute

const nonceBucket = time.Minute

// nonceSet remembers nonces for nonceWindow in one-minute buckets, so memory
// is bounded by the call rate times the window and expiry drops a whole map
// at a time instead of scanning entries.
type nonceSet struct {
	mu      sync.Mutex
	buckets map[int64]map[string]struct{} // minute number -> nonces first seen then
}

func newNonceSet() *nonceSet {
	return &nonceSet{buckets: make(map[int64]map[string]struct{})}
}

// use records nonce as used at now and reports whether it was fresh.
func (n *nonceSet) use(nonce string, now time.Time) bool {
	minute := now.UnixNano() / int64(nonceBucket)
	oldest := minute - int64(nonceWindow/nonceBucket)
	n.mu.Lock()
	defer n.mu.Unlock()
	for m, set := range n.buckets {
		if m < oldest {
			delete(n.buckets, m)
			continue
		}
		if _, seen := set[nonce]; seen {
			return false
		}
	}
	set := n.buckets[minute]
	if set == nil {
		set = make(map[string]struct{})
		n.buckets[minute] = set
	}
	set[nonce] = struct{}{}
	return true
}

func (n *nonceSet) len() int {
	n.mu.Lock()
	defer n.mu.Unlock()
	total := 0
	for _, set := range n.buckets {
		total += len(set)
	}
	return total
}
