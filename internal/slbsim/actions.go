package slbsim

import "time"

const (
	apiVersion = "2014-05-15"

	actionRemove   = "RemoveVServerGroupBackendServers"
	actionAdd      = "AddVServerGroupBackendServers"
	actionDescribe = "DescribeVServerGroupAttribute"
	actionCreate   = "CreateVServerGroup"
)

// actionFunc performs an authenticated, admitted call and returns the
// response body (marshalled as JSON) or an API error.
type actionFunc func(s *Sim, c *call) (any, *apiError)

var actions = map[string]actionFunc{
	actionRemove:   (*Sim).removeBackends,
	actionAdd:      (*Sim).addBackends,
	actionDescribe: (*Sim).describeGroup,
	actionCreate:   (*Sim).createGroup,
}

// Response shapes, as the SDK's response structs read them.
type backendJSON struct {
	ServerId    string
	Port        int
	Weight      int
	Type        string
	Description string `json:",omitempty"`
}

type backendListJSON struct {
	BackendServer []backendJSON
}

type groupServersResponse struct {
	RequestId      string
	VServerGroupId string
	BackendServers backendListJSON
}

type describeResponse struct {
	RequestId        string
	VServerGroupId   string
	VServerGroupName string
	LoadBalancerId   string
	CreateTime       string
	BackendServers   backendListJSON
}

func listJSON(backends []Backend) backendListJSON {
	out := make([]backendJSON, len(backends)) // never null: the API answers []
	for i, b := range backends {
		out[i] = backendJSON{ServerId: b.ServerID, Port: b.Port, Weight: b.Weight, Type: b.Type, Description: b.Description}
	}
	return backendListJSON{BackendServer: out}
}

// backendsParam validates the BackendServers parameter of c.
func backendsParam(c *call) ([]Backend, *apiError) {
	if c.params["BackendServers"] == "" {
		return nil, missing("BackendServers")
	}
	if c.wireErr != nil {
		return nil, c.wireErr
	}
	return validateBackends(c.wire)
}

// removeBackends is RemoveVServerGroupBackendServers: servers absent from
// the group are ignored; the answer lists the servers that remain.
func (s *Sim) removeBackends(c *call) (any, *apiError) {
	return s.changeGroup(c, func(st *state, g *group, servers []Backend) *apiError {
		if st.unknownServerLocked(c.region, servers) {
			return errServerNotFound
		}
		c.rec.Removed = g.removeLocked(servers)
		return nil
	})
}

// addBackends is AddVServerGroupBackendServers. The emulator has no ECS, so
// any ServerId is taken to be a running instance of the account.
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

func (s *Sim) describeGroup(c *call) (any, *apiError) {
	if c.groupID == "" {
		return nil, missing("VServerGroupId")
	}
	st := s.state
	st.mu.RLock()
	defer st.mu.RUnlock()
	g, ok := st.groups[groupKey{c.region, c.groupID}]
	if !ok {
		return nil, errGroupNotFound
	}
	return describeResponse{
		RequestId:        c.rec.RequestID,
		VServerGroupId:   c.groupID,
		VServerGroupName: g.name,
		LoadBalancerId:   g.loadBalancerID,
		CreateTime:       g.created.UTC().Format(time.RFC3339),
		BackendServers:   listJSON(g.backends),
	}, nil
}

// createGroup is CreateVServerGroup. The emulator has no load balancers: any
// LoadBalancerId is taken to exist.
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
	st.registerLocked(c.region, servers)
	g := &group{name: name, loadBalancerID: lb, created: s.now()}
	g.addLocked(servers)
	st.groups[groupKey{c.region, id}] = g
	c.groupID = id
	c.rec.GroupID = id
	return groupServersResponse{RequestId: c.rec.RequestID, VServerGroupId: id, BackendServers: listJSON(g.backends)}, nil
}
