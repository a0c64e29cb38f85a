package slbsim

import (
	"encoding/json"
	"fmt"
	"os"
)

// GroupSpec describes a VServer group to seed, in the JSON of the
// --groups-file of cmd/slbsim.
type GroupSpec struct {
	RegionID       string `json:"region_id"`
	VServerGroupID string `json:"vserver_group_id"`
	// LoadBalancerID is the group's load balancer, shared by the groups
	// that name it ("": a load balancer of its own, "lb-" + the group id).
	LoadBalancerID string        `json:"load_balancer_id,omitempty"`
	BackendServers []BackendSpec `json:"backend_servers"`
}

// BackendSpec is a backend server of a GroupSpec.
type BackendSpec struct {
	ServerID    string `json:"server_id"`
	Port        int    `json:"port"`
	Type        string `json:"type,omitempty"`
	Weight      int    `json:"weight,omitempty"`
	Description string `json:"description,omitempty"`
}

// LoadGroupsFile reads a JSON array of GroupSpec.
func LoadGroupsFile(path string) ([]GroupSpec, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("slbsim: read groups file: %w", err)
	}
	var specs []GroupSpec
	if err := json.Unmarshal(b, &specs); err != nil {
		return nil, fmt.Errorf("slbsim: parse groups file %s: %w", path, err)
	}
	for i, g := range specs {
		if g.RegionID == "" || g.VServerGroupID == "" {
			return nil, fmt.Errorf("slbsim: groups file %s: group %d needs region_id and vserver_group_id", path, i+1)
		}
		for j, b := range g.BackendServers {
			if b.ServerID == "" || b.Port < 1 || b.Port > 65535 {
				return nil, fmt.Errorf("slbsim: groups file %s: group %s: backend server %d needs server_id and a port in 1-65535",
					path, g.VServerGroupID, j+1)
			}
		}
	}
	return specs, nil
}

// GenerateGroups makes n groups rsp-sim0001, rsp-sim0002, ... in region, each
// with m servers i-sim0001-0001:80, i-sim0001-0002:80, ...
func GenerateGroups(region string, n, m int) []GroupSpec {
	specs := make([]GroupSpec, 0, n)
	for i := 1; i <= n; i++ {
		g := GroupSpec{RegionID: region, VServerGroupID: fmt.Sprintf("rsp-sim%04d", i)}
		for j := 1; j <= m; j++ {
			g.BackendServers = append(g.BackendServers, BackendSpec{ServerID: fmt.Sprintf("i-sim%04d-%04d", i, j), Port: 80})
		}
		specs = append(specs, g)
	}
	return specs
}

// GenerateLoadBalancers makes lbs load balancers lb-sim01, lb-sim02, ... in
// region with groupsPerLB groups each (rsp-sim01g01, rsp-sim01g02, ...),
// and servers instances i-lbsim0001, i-lbsim0002, ... that every group
// holds, group g of a load balancer on port 79+g: the layout of an instance
// drain, where one server sits in many groups on several ports.
func GenerateLoadBalancers(region string, lbs, groupsPerLB, servers int) []GroupSpec {
	specs := make([]GroupSpec, 0, lbs*groupsPerLB)
	for l := 1; l <= lbs; l++ {
		for g := 1; g <= groupsPerLB; g++ {
			spec := GroupSpec{
				RegionID:       region,
				LoadBalancerID: fmt.Sprintf("lb-sim%02d", l),
				VServerGroupID: fmt.Sprintf("rsp-sim%02dg%02d", l, g),
			}
			for i := 1; i <= servers; i++ {
				spec.BackendServers = append(spec.BackendServers, BackendSpec{ServerID: fmt.Sprintf("i-lbsim%04d", i), Port: 79 + g})
			}
			specs = append(specs, spec)
		}
	}
	return specs
}

// Seed creates the groups of specs (CreateGroupOn for each, or CreateGroup
// when a spec names no load balancer).
func (s *Sim) Seed(specs []GroupSpec) {
	for _, g := range specs {
		servers := make([]Backend, len(g.BackendServers))
		for i, b := range g.BackendServers {
			servers[i] = Backend(b)
		}
		if g.LoadBalancerID == "" {
			s.CreateGroup(g.RegionID, g.VServerGroupID, servers)
			continue
		}
		s.CreateGroupOn(g.RegionID, g.LoadBalancerID, g.VServerGroupID, servers)
	}
}
