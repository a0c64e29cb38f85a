package main

import (
	"fmt"
	"maps"
	"math/rand/v2"
	"slices"

	"github.com/nats-io/nats.go"

	"github.com/slbdrain/slbdrain/internal/slbsim"
	"github.com/slbdrain/slbdrain/messages"
	"github.com/slbdrain/slbdrain/worker"
)

// benchRegion is the region of every generated request.
const benchRegion = "cn-hangzhou"

// workload is a set of drain requests in publishing order, with the VServer
// groups the emulator must hold for them.
type workload struct {
	reqs []messages.DrainRequest
	// groups maps a group id to the backend servers to seed it with: the
	// union of the servers the requests name.
	groups map[string][]slbsim.Backend
	// regionOf names the region of a group that is not in benchRegion.
	regionOf map[string]string
	// lbOf names the load balancer of a group that shares one with
	// others (instanceWorkload); a group not in it has one of its own.
	lbOf map[string]string
}

// region is the region group g lives in.
func (wl *workload) region(g string) string {
	if r, ok := wl.regionOf[g]; ok {
		return r
	}
	return benchRegion
}

func benchGroupID(g int) string     { return fmt.Sprintf("rsp-bench%05d", g) }
func benchServerID(g, k int) string { return fmt.Sprintf("i-bench%05d-%05d", g, k) }

func benchRequest(i, g int, servers []messages.BackendServer) messages.DrainRequest {
	return messages.DrainRequest{
		Version:        messages.Version,
		RequestID:      fmt.Sprintf("bench-%07d", i),
		RegionID:       benchRegion,
		VServerGroupID: benchGroupID(g),
		BackendServers: servers,
		Reason:         "scale-in",
		Source:         "drainbench",
	}
}

// zipfWorkload is n requests of minServers..maxServers servers each, their
// groups Zipf-distributed (exponent s) over groups groups, their servers drawn
// uniformly from a pool of pool servers per group, so hot groups see some of
// their servers asked for twice, as re-sent hooks do. Seeded: the same
// arguments give the same workload.
func zipfWorkload(n, groups, minServers, maxServers, pool int, s float64, seed uint64) *workload {
	rng := rand.New(rand.NewPCG(seed, seed^0xd1b54a32d192ed03))
	zipf := rand.NewZipf(rng, s, 1, uint64(groups-1))
	wl := &workload{groups: make(map[string][]slbsim.Backend)}
	seen := make(map[string]bool)
	for i := range n {
		g := int(zipf.Uint64())
		k := minServers + rng.IntN(maxServers-minServers+1)
		servers := make([]messages.BackendServer, 0, k)
		inReq := make(map[int]bool, k)
		for len(servers) < k {
			idx := rng.IntN(pool)
			if inReq[idx] {
				continue // distinct within a request, as an autoscaling hook sends them
			}
			inReq[idx] = true
			servers = append(servers, messages.BackendServer{ServerID: benchServerID(g, idx), Port: 80, Type: messages.TypeECS})
		}
		wl.add(benchRequest(i, g, servers), seen)
	}
	return wl
}

// uniformWorkload is n single-server requests spread evenly over groups
// groups (request i goes to group i mod groups, with a server of its own),
// in a seeded random publishing order.
func uniformWorkload(n, groups int, seed uint64) *workload {
	rng := rand.New(rand.NewPCG(seed, seed^0xd1b54a32d192ed03))
	wl := &workload{groups: make(map[string][]slbsim.Backend)}
	seen := make(map[string]bool)
	for _, i := range rng.Perm(n) {
		g := i % groups
		servers := []messages.BackendServer{{ServerID: benchServerID(g, i/groups), Port: 80, Type: messages.TypeECS}}
		wl.add(benchRequest(i, g, servers), seen)
	}
	return wl
}

func (wl *workload) add(req messages.DrainRequest, seen map[string]bool) {
	wl.reqs = append(wl.reqs, req)
	for _, s := range req.BackendServers {
		key := req.VServerGroupID + "/" + s.ServerID
		if seen[key] {
			continue
		}
		seen[key] = true
		wl.groups[req.VServerGroupID] = append(wl.groups[req.VServerGroupID],
			slbsim.Backend{ServerID: s.ServerID, Port: s.Port, Type: s.Type})
	}
}

// twoRegionWorkload is uniformWorkload(n, groups) in benchRegion followed by
// stuck single-server requests over stuckGroups groups of region, each
// with a server of its own.
func twoRegionWorkload(n, groups, stuck, stuckGroups int, region string, seed uint64) *workload {
	wl := uniformWorkload(n, groups, seed)
	wl.regionOf = make(map[string]string)
	seen := make(map[string]bool)
	for k := range stuck {
		g := k % stuckGroups
		r := benchRequest(n+k, g, []messages.BackendServer{{ServerID: stuckServerID(g, k/stuckGroups), Port: 80, Type: messages.TypeECS}})
		r.RegionID, r.VServerGroupID = region, stuckGroupID(g)
		wl.regionOf[r.VServerGroupID] = region
		wl.add(r, seen)
	}
	return wl
}

func stuckGroupID(g int) string     { return fmt.Sprintf("rsp-stuck%05d", g) }
func stuckServerID(g, k int) string { return fmt.Sprintf("i-stuck%05d-%05d", g, k) }

// idealCalls is Σ⌈unique servers per group / maxBatch⌉ over reqs: the fewest
// API calls that can take their servers out.
func idealCalls(reqs []messages.DrainRequest, maxBatch int) int {
	unique := make(map[string]map[string]bool)
	for _, r := range reqs {
		u := unique[r.VServerGroupID]
		if u == nil {
			u = make(map[string]bool)
			unique[r.VServerGroupID] = u
		}
		for _, s := range r.BackendServers {
			u[s.String()] = true
		}
	}
	calls := 0
	for _, u := range unique {
		calls += (len(u) + maxBatch - 1) / maxBatch
	}
	return calls
}

// naiveCalls is what one call per request costs: Σ⌈servers / maxBatch⌉.
func naiveCalls(reqs []messages.DrainRequest, maxBatch int) int {
	calls := 0
	for _, r := range reqs {
		calls += (len(r.BackendServers) + maxBatch - 1) / maxBatch
	}
	return calls
}

// encode turns requests into the messages a publisher sends, as
// messages.Publish builds them: validated, on the contract's subject
// (req.Subject()), with Nats-Msg-Id, the body as messages encodes it.
func encode(reqs []messages.DrainRequest) ([]*nats.Msg, error) {
	msgs := make([]*nats.Msg, len(reqs))
	for i, r := range reqs {
		m, err := messages.NewRequestMsg(r) // req.Subject(): the instances token in instance scope
		if err != nil {
			return nil, fmt.Errorf("encode: %w", err)
		}
		msgs[i] = m
	}
	return msgs, nil
}

// The instances row's fleet: each load balancer has instanceGroupsPerLB
// VServer groups, group k of a load balancer on backend port
// instancePorts[k] (one listener each), and every instance of the fleet is
// in every group of every load balancer. The fleet keeps a quarter more
// instances than are drained (at least one), so that the worker's guard
// (--min-remaining 1, its default) lets every drain through.
const instanceGroupsPerLB = 4

var instancePorts = [instanceGroupsPerLB]int{80, 443, 8080, 9000}

func benchLBID(l int) string        { return fmt.Sprintf("lb-bench%05d", l) }
func benchInstanceID(k int) string  { return fmt.Sprintf("i-benchinst%05d", k) }
func instanceKept(n int) int        { return max(1, n/4) }
func instanceLBs(groups int) int    { return (groups + instanceGroupsPerLB - 1) / instanceGroupsPerLB }
func instancePort(group int) int    { return instancePorts[group%instanceGroupsPerLB] }
func instanceLBOf(group int) string { return benchLBID(group / instanceGroupsPerLB) }

// instanceWorkload is n single-instance version-2 requests in instance
// scope (no group, no port: every group and port that holds the
// instance), in a seeded random order, as a scaling activity's lifecycle
// hooks send them; the fleet of n + instanceKept(n) instances is in each of
// groups groups, instanceGroupsPerLB to a load balancer.
func instanceWorkload(n, groups int, seed uint64) *workload {
	rng := rand.New(rand.NewPCG(seed, seed^0xd1b54a32d192ed03))
	wl := &workload{groups: make(map[string][]slbsim.Backend, groups), lbOf: make(map[string]string, groups)}
	fleet := n + instanceKept(n)
	for g := range groups {
		id := benchGroupID(g)
		wl.lbOf[id] = instanceLBOf(g)
		backends := make([]slbsim.Backend, fleet)
		for k := range fleet {
			backends[k] = slbsim.Backend{ServerID: benchInstanceID(k), Port: instancePort(g), Type: messages.TypeECS}
		}
		wl.groups[id] = backends
	}
	for _, k := range rng.Perm(n) {
		wl.reqs = append(wl.reqs, messages.DrainRequest{
			Version:        messages.Version2,
			RequestID:      fmt.Sprintf("bench-%07d", k),
			RegionID:       benchRegion,
			BackendServers: []messages.BackendServer{{ServerID: benchInstanceID(k), Type: messages.TypeECS}},
			Reason:         "scale-in",
			Source:         "drainbench",
		})
	}
	return wl
}

// groupScoped is the workload's requests with each instance-scope request
// replaced by what it resolves to (resolver): one group-scope request per
// group that holds one of its servers. Group-scope requests are kept as
// they are. idealCalls of it is the fewest remove calls that can drain the
// workload.
func (wl *workload) groupScoped() []messages.DrainRequest {
	resolve := wl.resolver()
	out := make([]messages.DrainRequest, 0, len(wl.reqs))
	for _, r := range wl.reqs {
		if r.InstanceScope() {
			out = append(out, resolve(r)...)
		} else {
			out = append(out, r)
		}
	}
	return out
}

// resolver returns what the worker resolves an instance-scope request to,
// from the seeded groups: for each group that holds one of its servers (in
// the groups' order), a request of that group naming the (server, port)
// pairs it holds, every port of the server or the one named.
func (wl *workload) resolver() func(messages.DrainRequest) []messages.DrainRequest {
	type member struct {
		group string
		b     slbsim.Backend
	}
	bySrv := map[string][]member{}
	for _, g := range slices.Sorted(maps.Keys(wl.groups)) {
		for _, b := range wl.groups[g] {
			bySrv[b.ServerID] = append(bySrv[b.ServerID], member{g, b})
		}
	}
	return func(r messages.DrainRequest) []messages.DrainRequest {
		parts := map[string][]messages.BackendServer{}
		var order []string
		for _, s := range r.BackendServers {
			for _, m := range bySrv[s.ServerID] {
				if s.Port != 0 && m.b.Port != s.Port {
					continue
				}
				if parts[m.group] == nil {
					order = append(order, m.group)
				}
				parts[m.group] = append(parts[m.group], messages.BackendServer{ServerID: m.b.ServerID, Port: m.b.Port, Type: m.b.Type})
			}
		}
		out := make([]messages.DrainRequest, 0, len(order))
		for _, g := range order {
			part := r
			part.VServerGroupID, part.BackendServers = g, parts[g]
			out = append(out, part)
		}
		return out
	}
}

// idealReads are the fewest read calls, per action, that can resolve the
// workload's instance-scope requests: one DescribeLoadBalancers per
// instance named (it takes one ServerId), one DescribeVServerGroups per
// load balancer that holds one, one DescribeVServerGroupAttribute per group
// that holds one. Empty for a workload with none.
func (wl *workload) idealReads() map[string]int {
	instances, lbs, groups := map[string]bool{}, map[string]bool{}, map[string]bool{}
	resolve := wl.resolver()
	for _, r := range wl.reqs {
		if !r.InstanceScope() {
			continue
		}
		for _, s := range r.BackendServers {
			instances[s.ServerID] = true
		}
		for _, part := range resolve(r) {
			groups[part.VServerGroupID] = true
			lbs[wl.loadBalancer(part.VServerGroupID)] = true
		}
	}
	if len(instances) == 0 {
		return map[string]int{}
	}
	return map[string]int{worker.ActionDescribeLBs: len(instances), worker.ActionListGroups: len(lbs), worker.ActionDescribe: len(groups)}
}

// loadBalancer is the load balancer group g is seeded on.
func (wl *workload) loadBalancer(g string) string {
	if lb, ok := wl.lbOf[g]; ok {
		return lb
	}
	return "lb-" + g // slbsim.CreateGroup's
}
