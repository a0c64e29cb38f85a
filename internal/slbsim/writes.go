package slbsim

import "fmt"

// removeBackends is RemoveVServerGroupBackendServers: servers absent from
// the group are ignored; the answer lists the servers that remain (sticky
// ones among them, sticky.go).
func (s *Sim) removeBackends(c *call) (any, *apiError) {
	return s.changeGroup(c, func(st *state, g *group, servers []Backend) *apiError {
		if st.unknownServerLocked(c.region, servers) {
			return errServerNotFound
		}
		c.rec.Removed = g.removeLocked(servers, func(k backendKey) bool {
			return st.keepLocked(c.region, c.groupID, k)
		})
		return nil
	})
}

// addBackends is AddVServerGroupBackendServers, weights included (100 when
// left out). The emulator has no ECS, so any ServerId is taken to be a
// running instance of the account.
func (s *Sim) addBackends(c *call) (any, *apiError) {
	return s.changeGroup(c, func(st *state, g *group, servers []Backend) *apiError {
		st.registerLocked(c.region, servers)
		g.addLocked(servers)
		return nil
	})
}

// changeGroup is the frame Add and Remove share: read the group id and the
// BackendServers parameter, find the group under the state lock, apply the
// change, answer with the servers the group holds then.
func (s *Sim) changeGroup(c *call, apply func(st *state, g *group, servers []Backend) *apiError) (any, *apiError) {
	if c.groupID == "" {
		return nil, missing("VServerGroupId")
	}
	servers, apiErr := backendsParam(c)
	if apiErr != nil {
		return nil, apiErr
	}
	st := s.state
	st.mu.Lock()
	defer st.mu.Unlock()
	g, ok := st.groups[groupKey{c.region, c.groupID}]
	if !ok {
		return nil, errGroupNotFound
	}
	if apiErr := apply(st, g, servers); apiErr != nil {
		return nil, apiErr
	}
	return groupServersResponse{RequestId: c.rec.RequestID, VServerGroupId: c.groupID, BackendServers: listJSON(g.backends)}, nil
}

// setGroupAttribute is SetVServerGroupAttribute: it renames the group
// (VServerGroupName) and sets the weights of servers already in it
// (BackendServers, matched by ServerId and Port; a left-out Weight is the
// documented default, 100). It adds and removes nothing: a listed server
// the group does not hold fails the whole call and changes nothing (our
// reading of "modifies the weights of backend servers in the group";
// Alibaba does not document the error).
func (s *Sim) setGroupAttribute(c *call) (any, *apiError) {
	if c.groupID == "" {
		return nil, missing("VServerGroupId")
	}
	var servers []Backend
	if c.params["BackendServers"] != "" {
		var apiErr *apiError
		if servers, apiErr = backendsParam(c); apiErr != nil {
			return nil, apiErr
		}
	}
	st := s.state
	st.mu.Lock()
	defer st.mu.Unlock()
	g, ok := st.groups[groupKey{c.region, c.groupID}]
	if !ok {
		return nil, errGroupNotFound
	}
	if st.unknownServerLocked(c.region, servers) {
		return nil, errServerNotFound
	}
	at := make([]int, len(servers))
	for i, b := range servers {
		if at[i] = g.indexLocked(keyOf(b)); at[i] < 0 {
			return nil, notInGroup(fmt.Sprintf("%s:%d", b.ServerID, b.Port))
		}
	}
	for i, b := range servers {
		cur := &g.backends[at[i]]
		cur.Weight = b.Weight
		if b.Description != "" {
			cur.Description = b.Description
		}
	}
	if name := c.params["VServerGroupName"]; name != "" {
		g.name = name
	}
	c.rec.Servers = len(servers)
	return setAttributeResponse{
		RequestId:        c.rec.RequestID,
		VServerGroupId:   c.groupID,
		VServerGroupName: g.name,
		BackendServers:   listJSON(g.backends),
	}, nil
}

// createGroup is CreateVServerGroup. A LoadBalancerId the emulator does not
// know is taken to exist and created.
func (s *Sim) createGroup(c *call) (any, *apiError) {
	lb := c.params["LoadBalancerId"]
	if lb == "" {
		return nil, missing("LoadBalancerId")
	}
	var servers []Backend
	if c.params["BackendServers"] != "" {
		var apiErr *apiError
		if servers, apiErr = backendsParam(c); apiErr != nil {
			return nil, apiErr
		}
	}
	id := s.randomID("rsp-", 10)
	name := c.params["VServerGroupName"]
	if name == "" {
		name = id
	}
	st := s.state
	st.mu.Lock()
	defer st.mu.Unlock()
	g := st.putGroupLocked(c.region, lb, id, name, servers, s.now())
	c.groupID = id
	c.rec.GroupID = id
	return groupServersResponse{RequestId: c.rec.RequestID, VServerGroupId: id, BackendServers: listJSON(g.backends)}, nil
}
