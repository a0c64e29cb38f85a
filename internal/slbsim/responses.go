package slbsim

import "time"

// Response shapes, with the field names of the SDK's response structs
// (services/slb/*_response and struct_*.go). Lists are never null: the API
// answers [] for none.

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

// groupServersResponse answers Add, Remove and Create.
type groupServersResponse struct {
	RequestId      string
	VServerGroupId string
	BackendServers backendListJSON
}

// setAttributeResponse answers SetVServerGroupAttribute.
type setAttributeResponse struct {
	RequestId        string
	VServerGroupId   string
	VServerGroupName string
	BackendServers   backendListJSON
}

type describeResponse struct {
	RequestId        string
	VServerGroupId   string
	VServerGroupName string
	LoadBalancerId   string
	CreateTime       string
	BackendServers   backendListJSON
}

// describeGroupsResponse answers DescribeVServerGroups. ServerCount is left
// out, as Alibaba does unless the account asked for it by ticket.
type describeGroupsResponse struct {
	RequestId     string
	VServerGroups struct {
		VServerGroup []vServerGroupJSON
	}
}

type vServerGroupJSON struct {
	VServerGroupId    string
	VServerGroupName  string
	CreateTime        string
	AssociatedObjects struct {
		Listeners struct{ Listener []struct{} }
		Rules     struct{ Rule []struct{} }
	}
}

type describeLoadBalancersResponse struct {
	RequestId     string
	PageNumber    int
	PageSize      int
	TotalCount    int
	LoadBalancers struct {
		LoadBalancer []loadBalancerJSON
	}
}

type loadBalancerJSON struct {
	LoadBalancerId     string
	LoadBalancerName   string
	LoadBalancerStatus string
	RegionId           string
	RegionIdAlias      string
	AddressType        string
	NetworkType        string
	CreateTime         string
	CreateTimeStamp    int64
}

func listJSON(backends []Backend) backendListJSON {
	out := make([]backendJSON, len(backends))
	for i, b := range backends {
		out[i] = backendJSON{ServerId: b.ServerID, Port: b.Port, Weight: b.Weight, Type: b.Type, Description: b.Description}
	}
	return backendListJSON{BackendServer: out}
}

func groupJSON(id string, g *group) vServerGroupJSON {
	v := vServerGroupJSON{VServerGroupId: id, VServerGroupName: g.name, CreateTime: g.created.UTC().Format(time.RFC3339)}
	v.AssociatedObjects.Listeners.Listener = []struct{}{}
	v.AssociatedObjects.Rules.Rule = []struct{}{}
	return v
}

// lbCreateTimeLayout is the CreateTime of DescribeLoadBalancers, minutes
// only, as Alibaba's examples show it ("2021-05-20T07:18Z").
const lbCreateTimeLayout = "2006-01-02T15:04Z"

func loadBalancerOf(region string, lb *loadBalancer) loadBalancerJSON {
	return loadBalancerJSON{
		LoadBalancerId:     lb.id,
		LoadBalancerName:   lb.name,
		LoadBalancerStatus: "active",
		RegionId:           region,
		RegionIdAlias:      region,
		AddressType:        "intranet",
		NetworkType:        "vpc",
		CreateTime:         lb.created.UTC().Format(lbCreateTimeLayout),
		CreateTimeStamp:    lb.created.UnixMilli(),
	}
}
