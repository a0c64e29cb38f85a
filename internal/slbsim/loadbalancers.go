package slbsim

import (
	"cmp"
	"slices"
	"time"
)

// loadBalancer is a CLB instance: the emulator keeps only what the read
// calls answer with; its VServer groups point at it by id.
type loadBalancer struct {
	id      string
	name    string
	created time.Time
	seq     uint64
}

func (st *state) ensureLoadBalancerLocked(region, id string, now time.Time) *loadBalancer {
	k := groupKey{region, id}
	if lb, ok := st.loadBalancers[k]; ok {
		return lb
	}
	lb := &loadBalancer{id: id, name: id, created: now, seq: st.nextSeqLocked()}
	st.loadBalancers[k] = lb
	return lb
}

// loadBalancersLocked returns the load balancers of region that match, in
// creation order.
func (st *state) loadBalancersLocked(region string, match func(*loadBalancer) bool) []*loadBalancer {
	var out []*loadBalancer
	for k, lb := range st.loadBalancers {
		if k.region == region && match(lb) {
			out = append(out, lb)
		}
	}
	slices.SortFunc(out, func(a, b *loadBalancer) int { return cmp.Compare(a.seq, b.seq) })
	return out
}

// holdsServerLocked reports whether a VServer group of the load balancer
// holds the server, on any port.
func (st *state) holdsServerLocked(region string, lb *loadBalancer, serverID string) bool {
	for k, g := range st.groups {
		if k.region != region || g.loadBalancerID != lb.id {
			continue
		}
		if slices.ContainsFunc(g.backends, func(b Backend) bool { return b.ServerID == serverID }) {
			return true
		}
	}
	return false
}

// CreateLoadBalancer seeds a load balancer with no groups (CreateGroupOn
// creates one as needed; this is for one that holds none).
func (s *Sim) CreateLoadBalancer(region, loadBalancerID string) {
	st := s.state
	st.mu.Lock()
	defer st.mu.Unlock()
	st.ensureLoadBalancerLocked(region, loadBalancerID, s.now())
}
