package main

import (
	"fmt"
	"math/rand/v2"

	"github.com/nats-io/nats.go"

	"github.com/slbdrain/slbdrain/internal/slbsim"
	"github.com/slbdrain/slbdrain/messages"
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

// encode turns requests into the messages a publisher sends: the contract's
// subject and Nats-Msg-Id, the body as messages encodes it.
func encode(reqs []messages.DrainRequest) ([]*nats.Msg, error) {
	msgs := make([]*nats.Msg, len(reqs))
	for i, r := range reqs {
		data, err := r.MarshalJSON()
		if err != nil {
			return nil, fmt.Errorf("encode request %s: %w", r.RequestID, err)
		}
		msgs[i] = &nats.Msg{
			Subject: messages.RequestSubject(r.RegionID, r.VServerGroupID),
			Data:    data,
			Header:  nats.Header{messages.MsgIDHeader: []string{r.RequestID}},
		}
	}
	return msgs, nil
}
