package slbsim

// Forever, as the calls of StickServer, keeps the server for good.
const Forever = -1

// stickyKey is a (server, port) of a group that a Remove call does not take
// out for a while.
type stickyKey struct {
	region, groupID string
	backendKey
}

// StickServer makes the server on port stay in the group for the next
// calls successful Remove calls that name it while it is there (Forever:
// for good): the call succeeds and its answer, which lists the servers
// that remain, still lists it, as when the API's answer lags behind its
// action or disagrees with it. After those calls a Remove takes it out as
// usual. calls 0 lifts a StickServer. RemoveBackends, behind the API's
// back, removes it at once.
func (s *Sim) StickServer(region, groupID, serverID string, port, calls int) {
	st := s.state
	st.mu.Lock()
	defer st.mu.Unlock()
	k := stickyKey{region, groupID, backendKey{serverID, port}}
	if calls == 0 {
		delete(st.sticky, k)
		return
	}
	st.sticky[k] = calls
}

// keepLocked reports whether a Remove call on the group must leave the
// backend k in it, and counts the call.
func (st *state) keepLocked(region, groupID string, k backendKey) bool {
	sk := stickyKey{region, groupID, k}
	n, ok := st.sticky[sk]
	switch {
	case !ok:
		return false
	case n == Forever:
		return true
	case n <= 1:
		delete(st.sticky, sk)
	default:
		st.sticky[sk] = n - 1
	}
	return true
}
