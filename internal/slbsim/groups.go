package slbsim

import (
	"sync"
	"time"
)

type groupKey struct{ region, id string }

type group struct {
	name           string
	loadBalancerID string
	created        time.Time
	backends       []Backend
}

// backendKey names a backend within a group: a server may sit in one group
// on several ports.
type backendKey struct {
	serverID string
	port     int
}

// state is the account's resources: VServer groups, the instances it owns
// (per region) and the groups a RAM policy denies.
type state struct {
	mu        sync.RWMutex
	groups    map[groupKey]*group
	instances map[groupKey]struct{} // (region, server id)
	denied    map[groupKey]struct{}
}

func newState() *state {
	return &state{
		groups:    make(map[groupKey]*group),
		instances: make(map[groupKey]struct{}),
		denied:    make(map[groupKey]struct{}),
	}
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

// removeLocked takes servers out of g, ignoring those absent, and returns how
// many it removed.
func (g *group) removeLocked(servers []Backend) int {
	drop := make(map[backendKey]struct{}, len(servers))
	for _, b := range servers {
		drop[backendKey{b.ServerID, b.Port}] = struct{}{}
	}
	kept := g.backends[:0]
	for _, b := range g.backends {
		if _, ok := drop[backendKey{b.ServerID, b.Port}]; !ok {
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
		found := false
		for i := range g.backends {
			if g.backends[i].ServerID == b.ServerID && g.backends[i].Port == b.Port {
				g.backends[i] = b
				found = true
				break
			}
		}
		if !found {
			g.backends = append(g.backends, b)
		}
	}
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
// servers, and registers the servers as instances of the account. An empty
// Type is ecs; a zero Weight is 100 (seed through the API for weight 0).
func (s *Sim) CreateGroup(region, groupID string, servers []Backend) {
	servers = withDefaults(servers)
	st := s.state
	st.mu.Lock()
	defer st.mu.Unlock()
	st.registerLocked(region, servers)
	st.groups[groupKey{region, groupID}] = &group{
		name:           groupID,
		loadBalancerID: "lb-" + groupID,
		created:        s.now(),
		backends:       servers,
	}
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
	return append([]Backend(nil), g.backends...), true
}

// Groups returns the number of VServer groups.
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
