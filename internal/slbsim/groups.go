package slbsim

import (
	"cmp"
	"errors"
	"fmt"
	"slices"
	"sync"
	"time"
)

type groupKey struct{ region, id string }

type group struct {
	name           string
	loadBalancerID string
	created        time.Time
	seq            uint64 // creation order: listings answer in it
	backends       []Backend
}

// backendKey names a backend within a group: a server may sit in one group
// on several ports.
type backendKey struct {
	serverID string
	port     int
}

func keyOf(b Backend) backendKey { return backendKey{b.ServerID, b.Port} }

// state is the account's resources: load balancers and their VServer
// groups, the instances it owns (per region), the groups a RAM policy
// denies, and the servers that stay after their removal (sticky.go). Every
// resource is per region: an id of one region is unknown in another, as on
// Alibaba.
type state struct {
	mu            sync.RWMutex
	seq           uint64
	groups        map[groupKey]*group
	loadBalancers map[groupKey]*loadBalancer // (region, load balancer id)
	instances     map[groupKey]struct{}      // (region, server id)
	denied        map[groupKey]struct{}
	sticky        map[stickyKey]int
}

func newState() *state {
	return &state{
		groups:        make(map[groupKey]*group),
		loadBalancers: make(map[groupKey]*loadBalancer),
		instances:     make(map[groupKey]struct{}),
		denied:        make(map[groupKey]struct{}),
		sticky:        make(map[stickyKey]int),
	}
}

func (st *state) nextSeqLocked() uint64 {
	st.seq++
	return st.seq
}

func (st *state) isDenied(region, groupID string) bool {
	st.mu.RLock()
	defer st.mu.RUnlock()
	_, ok := st.denied[groupKey{region, groupID}]
	return ok
}

// registerLocked records servers as instances of the account in region.
func (st *state) registerLocked(region string, servers []Backend) {
	for _, b := range servers {
		st.instances[groupKey{region, b.ServerID}] = struct{}{}
	}
}

func (st *state) unknownServerLocked(region string, servers []Backend) bool {
	for _, b := range servers {
		if _, ok := st.instances[groupKey{region, b.ServerID}]; !ok {
			return true
		}
	}
	return false
}

// putGroupLocked stores a new group (replacing one with the same id) on
// its load balancer, which it creates when needed.
func (st *state) putGroupLocked(region, lbID, groupID, name string, servers []Backend, now time.Time) *group {
	st.registerLocked(region, servers)
	st.ensureLoadBalancerLocked(region, lbID, now)
	seq := st.nextSeqLocked()
	if old, ok := st.groups[groupKey{region, groupID}]; ok {
		seq = old.seq // a replaced group keeps its place in listings
	}
	g := &group{name: name, loadBalancerID: lbID, created: now, seq: seq}
	g.addLocked(servers)
	st.groups[groupKey{region, groupID}] = g
	return g
}

// groupsOfLocked returns the ids of the groups of a load balancer, in
// creation order.
func (st *state) groupsOfLocked(region, lbID string) []string {
	var ids []string
	for k, g := range st.groups {
		if k.region == region && g.loadBalancerID == lbID {
			ids = append(ids, k.id)
		}
	}
	slices.SortFunc(ids, func(a, b string) int {
		return cmp.Compare(st.groups[groupKey{region, a}].seq, st.groups[groupKey{region, b}].seq)
	})
	return ids
}

// removeLocked takes servers out of g, ignoring those absent and keeping
// those keep says stay, and returns how many it removed.
func (g *group) removeLocked(servers []Backend, keep func(backendKey) bool) int {
	drop := make(map[backendKey]struct{}, len(servers))
	for _, b := range servers {
		drop[keyOf(b)] = struct{}{}
	}
	kept := g.backends[:0]
	for _, b := range g.backends {
		if _, named := drop[keyOf(b)]; !named || keep(keyOf(b)) {
			kept = append(kept, b)
		}
	}
	removed := len(g.backends) - len(kept)
	clear(g.backends[len(kept):])
	g.backends = kept
	return removed
}

// addLocked adds servers to g; one already there (same ServerId and Port)
// keeps its place and takes the new weight and description.
func (g *group) addLocked(servers []Backend) {
	for _, b := range servers {
		if i := g.indexLocked(keyOf(b)); i >= 0 {
			g.backends[i] = b
			continue
		}
		g.backends = append(g.backends, b)
	}
}

func (g *group) indexLocked(k backendKey) int {
	return slices.IndexFunc(g.backends, func(b Backend) bool { return keyOf(b) == k })
}

func withDefaults(servers []Backend) []Backend {
	out := make([]Backend, len(servers))
	for i, b := range servers {
		if b.Type == "" {
			b.Type = defaultType
		}
		if b.Weight == 0 {
			b.Weight = defaultWeight
		}
		out[i] = b
	}
	return out
}

// CreateGroup seeds (or replaces) the VServer group groupID in region with
// servers, on a load balancer of its own, "lb-" + groupID; it registers the
// servers as instances of the account. An empty Type is ecs; a zero Weight
// is 100 (use AddBackends or the API for weight 0).
func (s *Sim) CreateGroup(region, groupID string, servers []Backend) {
	s.CreateGroupOn(region, "lb-"+groupID, groupID, servers)
}

// CreateGroupOn is CreateGroup on the load balancer loadBalancerID, which
// is created if it does not exist: several groups may share one.
func (s *Sim) CreateGroupOn(region, loadBalancerID, groupID string, servers []Backend) {
	st := s.state
	st.mu.Lock()
	defer st.mu.Unlock()
	st.putGroupLocked(region, loadBalancerID, groupID, groupID, withDefaults(servers), s.now())
}

// AddInstances registers server ids as instances of the account in region,
// so that Remove ignores them when absent from a group instead of answering
// InvalidServerId.NotFound.
func (s *Sim) AddInstances(region string, serverIDs ...string) {
	st := s.state
	st.mu.Lock()
	defer st.mu.Unlock()
	for _, id := range serverIDs {
		st.instances[groupKey{region, id}] = struct{}{}
	}
}

// ErrNoGroup is what the behind-the-back methods answer for a group that
// does not exist in the region.
var ErrNoGroup = errors.New("no such VServer group")

// AddBackends adds servers to an existing group behind the API's back (as
// another tool of the account would), with no call logged and no quota
// spent, and registers them as instances of the account. A server already
// in the group on that port takes the new weight and description. Type and
// Weight default as in CreateGroup; SetWeight sets any weight, 0 included.
func (s *Sim) AddBackends(region, groupID string, servers ...Backend) error {
	servers = withDefaults(servers)
	st := s.state
	st.mu.Lock()
	defer st.mu.Unlock()
	g, ok := st.groups[groupKey{region, groupID}]
	if !ok {
		return fmt.Errorf("slbsim: add backends to %s/%s: %w", region, groupID, ErrNoGroup)
	}
	st.registerLocked(region, servers)
	g.addLocked(servers)
	return nil
}

// SetWeight sets the weight of the server on port in a group behind the
// API's back.
func (s *Sim) SetWeight(region, groupID, serverID string, port, weight int) error {
	st := s.state
	st.mu.Lock()
	defer st.mu.Unlock()
	g, ok := st.groups[groupKey{region, groupID}]
	if !ok {
		return fmt.Errorf("slbsim: set weight in %s/%s: %w", region, groupID, ErrNoGroup)
	}
	i := g.indexLocked(backendKey{serverID, port})
	if i < 0 {
		return fmt.Errorf("slbsim: set weight of %s:%d in %s/%s: %w", serverID, port, region, groupID, ErrNoBackend)
	}
	g.backends[i].Weight = weight
	return nil
}

// ErrNoBackend is SetWeight's answer for a server the group does not hold.
var ErrNoBackend = errors.New("the group holds no such backend server")

// RemoveBackends takes servers (matched by ServerID and Port) out of an
// existing group behind the API's back; absent ones are ignored. Sticky
// servers go too: this is not the API.
func (s *Sim) RemoveBackends(region, groupID string, servers ...Backend) error {
	st := s.state
	st.mu.Lock()
	defer st.mu.Unlock()
	g, ok := st.groups[groupKey{region, groupID}]
	if !ok {
		return fmt.Errorf("slbsim: remove backends from %s/%s: %w", region, groupID, ErrNoGroup)
	}
	g.removeLocked(servers, func(backendKey) bool { return false })
	return nil
}

// Backends returns a copy of the backend servers of a group, and whether the
// group exists.
func (s *Sim) Backends(region, groupID string) ([]Backend, bool) {
	st := s.state
	st.mu.RLock()
	defer st.mu.RUnlock()
	g, ok := st.groups[groupKey{region, groupID}]
	if !ok {
		return nil, false
	}
	return slices.Clone(g.backends), true
}

// Groups returns the number of VServer groups, over all regions.
func (s *Sim) Groups() int {
	s.state.mu.RLock()
	defer s.state.mu.RUnlock()
	return len(s.state.groups)
}

// DenyGroup makes a RAM policy deny every call on the group: 403
// Forbidden.RAM. AllowGroup lifts it.
func (s *Sim) DenyGroup(region, groupID string) {
	s.state.mu.Lock()
	defer s.state.mu.Unlock()
	s.state.denied[groupKey{region, groupID}] = struct{}{}
}

// AllowGroup lifts a DenyGroup.
func (s *Sim) AllowGroup(region, groupID string) {
	s.state.mu.Lock()
	defer s.state.mu.Unlock()
	delete(s.state.denied, groupKey{region, groupID})
}
