package slbsim

import (
	"strconv"
	"strings"
	"time"
)

// describeGroup is DescribeVServerGroupAttribute: the group with its
// servers, weights included.
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

// describeGroups is DescribeVServerGroups: the groups of one load balancer
// (LoadBalancerId is required), without their servers.
func (s *Sim) describeGroups(c *call) (any, *apiError) {
	lbID := c.params["LoadBalancerId"]
	if lbID == "" {
		return nil, missing("LoadBalancerId")
	}
	st := s.state
	st.mu.RLock()
	defer st.mu.RUnlock()
	if _, ok := st.loadBalancers[groupKey{c.region, lbID}]; !ok {
		return nil, errLoadBalancerNotFound
	}
	var out describeGroupsResponse
	out.RequestId = c.rec.RequestID
	out.VServerGroups.VServerGroup = []vServerGroupJSON{}
	for _, id := range st.groupsOfLocked(c.region, lbID) {
		out.VServerGroups.VServerGroup = append(out.VServerGroups.VServerGroup, groupJSON(id, st.groups[groupKey{c.region, id}]))
	}
	return out, nil
}

// Paging of DescribeLoadBalancers, as Alibaba documents it.
const (
	defaultPageSize = 10
	maxPageSize     = 100
	maxLBIDs        = 10 // LoadBalancerId takes up to 10, comma separated
)

// describeLoadBalancers is DescribeLoadBalancers with the filters slbdrain
// uses: ServerId (load balancers one of whose VServer groups holds the
// server) and LoadBalancerId; paged by PageNumber and PageSize.
func (s *Sim) describeLoadBalancers(c *call) (any, *apiError) {
	page, apiErr := intParam(c, "PageNumber", 1, 1, 1<<30)
	if apiErr != nil {
		return nil, apiErr
	}
	size, apiErr := intParam(c, "PageSize", defaultPageSize, 1, maxPageSize)
	if apiErr != nil {
		return nil, apiErr
	}
	var ids map[string]bool
	if raw := c.params["LoadBalancerId"]; raw != "" {
		list := strings.Split(raw, ",")
		if len(list) > maxLBIDs {
			return nil, invalidParam("LoadBalancerId")
		}
		ids = make(map[string]bool, len(list))
		for _, id := range list {
			ids[strings.TrimSpace(id)] = true
		}
	}
	serverID := c.params["ServerId"]

	st := s.state
	st.mu.RLock()
	defer st.mu.RUnlock()
	found := st.loadBalancersLocked(c.region, func(lb *loadBalancer) bool {
		return (ids == nil || ids[lb.id]) && (serverID == "" || st.holdsServerLocked(c.region, lb, serverID))
	})
	out := describeLoadBalancersResponse{RequestId: c.rec.RequestID, PageNumber: page, PageSize: size, TotalCount: len(found)}
	out.LoadBalancers.LoadBalancer = []loadBalancerJSON{}
	for i := (page - 1) * size; i < len(found) && i < page*size; i++ {
		out.LoadBalancers.LoadBalancer = append(out.LoadBalancers.LoadBalancer, loadBalancerOf(c.region, found[i]))
	}
	return out, nil
}

// intParam reads an optional integer parameter in [lo, hi].
func intParam(c *call, name string, def, lo, hi int) (int, *apiError) {
	raw := c.params[name]
	if raw == "" {
		return def, nil
	}
	n, err := strconv.Atoi(raw)
	if err != nil || n < lo || n > hi {
		return 0, invalidParam(name)
	}
	return n, nil
}
