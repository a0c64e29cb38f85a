package worker

import (
	"cmp"
	"fmt"
	"net/url"
	"strings"
	"sync"
	"time"

	"github.com/aliyun/alibaba-cloud-sdk-go/sdk"
	"github.com/aliyun/alibaba-cloud-sdk-go/sdk/auth"
	"github.com/aliyun/alibaba-cloud-sdk-go/sdk/auth/credentials"
	"github.com/aliyun/alibaba-cloud-sdk-go/sdk/requests"
	"github.com/aliyun/alibaba-cloud-sdk-go/services/slb"
	"github.com/go-json-experiment/json"

	"github.com/slbdrain/slbdrain/messages"
	"github.com/slbdrain/slbdrain/retry"
)

// Remover is what the dispatcher needs of the SLB API. One Remover serves one
// goroutine at a time: the SDK client behind it is not safe for concurrent use.
type Remover interface {
	// RemoveBackendServers calls RemoveVServerGroupBackendServers once.
	// On an error, retry.RequestID gives Alibaba's RequestId where there was one.
	RemoveBackendServers(region, group string, servers []messages.BackendServer) (RemoveResult, error)
	// Probe makes a read-only call (DescribeVServerGroupAttribute) to learn
	// whether the worker's credentials work again.
	Probe(region, group string) error
	// DescribeGroup calls DescribeVServerGroupAttribute: the group's load
	// balancer and its backend servers with their weights.
	DescribeGroup(region, group string) (GroupInfo, error)
	// SetWeights calls SetVServerGroupAttribute with new weights of servers
	// the group holds; the answer lists the group's servers after it.
	SetWeights(region, group string, servers []WeightedServer) (WriteResult, error)
	// AddBackendServers calls AddVServerGroupBackendServers; the answer
	// lists the group's servers after it.
	AddBackendServers(region, group string, servers []WeightedServer) (WriteResult, error)
	// LoadBalancersOf calls DescribeLoadBalancers with ServerId (every page):
	// the load balancers one of whose groups holds the server.
	LoadBalancersOf(region, serverID string) (IDList, error)
	// GroupsOf calls DescribeVServerGroups: the VServer groups of a load balancer.
	GroupsOf(region, loadBalancerID string) (IDList, error)
}

// IDList is the answer of a listing read: ids, and the RequestIds of the
// calls that made it.
type IDList struct {
	RequestIDs []string
	IDs        []string
}

// WeightedServer is a backend server of a group and its weight (0..100).
type WeightedServer struct {
	messages.BackendServer
	Weight int
}

// GroupInfo is what DescribeGroup learns of a group.
type GroupInfo struct {
	RequestID      string
	LoadBalancerID string
	Servers        []WeightedServer
}

// WriteResult is the answer of a write call that lists the group's servers.
type WriteResult struct {
	RequestID string
	Servers   []WeightedServer
}

// RemoveResult is the remove call's answer.
type RemoveResult struct {
	RequestID string
	// Remaining is the group's backend servers after the call, as the API
	// lists them: a requested (server, port) among them was not removed.
	Remaining []WeightedServer
}

// RemoverFactory builds a Remover. It is called once per dispatcher goroutine,
// and again after a credentials error so that rotated credentials are picked up.
type RemoverFactory func() (Remover, error)

// SDKConfig configures the Alibaba Cloud SDK adapter.
type SDKConfig struct {
	// Endpoint overrides the SLB endpoint, with scheme ("http://127.0.0.1:9100").
	// Empty: the SDK resolves the endpoint of each request's region, over HTTPS.
	Endpoint       string
	ReadTimeout    time.Duration
	ConnectTimeout time.Duration
	// Credential, when nil, comes from the SDK's default credentials chain:
	// ALIBABA_CLOUD_ACCESS_KEY_ID/SECRET (+ SECURITY_TOKEN), OIDC (RRSA),
	// the CLI and credentials files, the ECS RAM role, a credentials URI.
	Credential auth.Credential
}

// NewSDKRemoverFactory validates cfg and returns a factory of SDK-backed Removers.
func NewSDKRemoverFactory(cfg SDKConfig) (RemoverFactory, error) {
	scheme, domain := "HTTPS", ""
	if cfg.Endpoint != "" {
		u, err := url.Parse(cfg.Endpoint)
		if err != nil || u.Host == "" || (u.Scheme != "http" && u.Scheme != "https") {
			return nil, fmt.Errorf("slb endpoint %q: want scheme://host[:port] with scheme http or https", cfg.Endpoint)
		}
		scheme, domain = strings.ToUpper(u.Scheme), u.Host
	}
	// The SDK initialises package-level endpoint tables lazily, unguarded:
	// clients are created one at a time.
	var creating sync.Mutex
	return func() (Remover, error) {
		creating.Lock()
		defer creating.Unlock()
		cred := cfg.Credential
		if cred == nil {
			// One chain per client: the SDK's chain remembers its last
			// provider without a lock. Resolving now makes a missing
			// credential a clear error at once rather than at the first call.
			chain := credentials.NewDefaultCredentialsProvider()
			if _, err := chain.GetCredentials(); err != nil {
				return nil, retry.WithClass(fmt.Errorf("no usable Alibaba Cloud credentials (environment, OIDC, credentials file, ECS RAM role): %w", retry.Redact(err)), retry.Credentials)
			}
			cred = chain
		}
		config := sdk.NewConfig().WithAutoRetry(false).WithScheme(scheme)
		// The region given here only seeds the SDK; every request names its own.
		client, err := slb.NewClientWithOptions("cn-hangzhou", config, cred)
		if err != nil {
			return nil, fmt.Errorf("create slb client: %w", err)
		}
		return &sdkRemover{client: client, scheme: scheme, domain: domain,
			readTimeout: cfg.ReadTimeout, connectTimeout: cfg.ConnectTimeout}, nil
	}, nil
}

type sdkRemover struct {
	client         *slb.Client
	scheme, domain string
	readTimeout    time.Duration
	connectTimeout time.Duration
}

func (r *sdkRemover) prepare(req *requests.RpcRequest, region string) {
	req.Scheme = r.scheme
	if r.domain != "" {
		req.Domain = r.domain
	}
	req.RegionId = region
	// Timeouts per request: setting them on the client writes shared state.
	if r.readTimeout > 0 {
		req.SetReadTimeout(r.readTimeout)
	}
	if r.connectTimeout > 0 {
		req.SetConnectTimeout(r.connectTimeout)
	}
}

func (r *sdkRemover) RemoveBackendServers(region, group string, servers []messages.BackendServer) (RemoveResult, error) {
	req := slb.CreateRemoveVServerGroupBackendServersRequest()
	r.prepare(req.RpcRequest, region)
	req.VServerGroupId = group
	req.BackendServers = encodeBackendServers(servers)
	resp, err := r.client.RemoveVServerGroupBackendServers(req)
	if err != nil {
		// The SDK's transport errors quote the signed URL, security token included.
		return RemoveResult{}, retry.Redact(err)
	}
	return RemoveResult{RequestID: resp.RequestId, Remaining: listed(resp.BackendServers.BackendServer)}, nil
}

func (r *sdkRemover) DescribeGroup(region, group string) (GroupInfo, error) {
	req := slb.CreateDescribeVServerGroupAttributeRequest()
	r.prepare(req.RpcRequest, region)
	req.VServerGroupId = group
	resp, err := r.client.DescribeVServerGroupAttribute(req)
	if err != nil {
		return GroupInfo{}, retry.Redact(err)
	}
	out := GroupInfo{RequestID: resp.RequestId, LoadBalancerID: resp.LoadBalancerId}
	for _, bs := range resp.BackendServers.BackendServer {
		out.Servers = append(out.Servers, WeightedServer{messages.BackendServer{ServerID: bs.ServerId, Port: bs.Port, Type: bs.Type}, bs.Weight})
	}
	return out, nil
}

func (r *sdkRemover) SetWeights(region, group string, servers []WeightedServer) (WriteResult, error) {
	req := slb.CreateSetVServerGroupAttributeRequest()
	r.prepare(req.RpcRequest, region)
	req.VServerGroupId = group
	req.BackendServers = encodeWeighted(servers)
	resp, err := r.client.SetVServerGroupAttribute(req)
	if err != nil {
		return WriteResult{}, retry.Redact(err)
	}
	return WriteResult{RequestID: resp.RequestId, Servers: listed(resp.BackendServers.BackendServer)}, nil
}

func (r *sdkRemover) AddBackendServers(region, group string, servers []WeightedServer) (WriteResult, error) {
	req := slb.CreateAddVServerGroupBackendServersRequest()
	r.prepare(req.RpcRequest, region)
	req.VServerGroupId = group
	req.BackendServers = encodeWeighted(servers)
	resp, err := r.client.AddVServerGroupBackendServers(req)
	if err != nil {
		return WriteResult{}, retry.Redact(err)
	}
	return WriteResult{RequestID: resp.RequestId, Servers: listed(resp.BackendServers.BackendServer)}, nil
}

func (r *sdkRemover) LoadBalancersOf(region, serverID string) (IDList, error) {
	var out IDList
	for page := 1; ; page++ {
		req := slb.CreateDescribeLoadBalancersRequest()
		r.prepare(req.RpcRequest, region)
		req.ServerId = serverID
		req.PageNumber = requests.NewInteger(page)
		req.PageSize = requests.NewInteger(100)
		resp, err := r.client.DescribeLoadBalancers(req)
		if err != nil {
			return out, retry.Redact(err)
		}
		out.RequestIDs = append(out.RequestIDs, resp.RequestId)
		for _, lb := range resp.LoadBalancers.LoadBalancer {
			out.IDs = append(out.IDs, lb.LoadBalancerId)
		}
		if len(resp.LoadBalancers.LoadBalancer) == 0 || page*100 >= resp.TotalCount {
			return out, nil
		}
	}
}

func (r *sdkRemover) GroupsOf(region, loadBalancerID string) (IDList, error) {
	req := slb.CreateDescribeVServerGroupsRequest()
	r.prepare(req.RpcRequest, region)
	req.LoadBalancerId = loadBalancerID
	resp, err := r.client.DescribeVServerGroups(req)
	if err != nil {
		return IDList{}, retry.Redact(err)
	}
	out := IDList{RequestIDs: []string{resp.RequestId}}
	for _, g := range resp.VServerGroups.VServerGroup {
		out.IDs = append(out.IDs, g.VServerGroupId)
	}
	return out, nil
}

func (r *sdkRemover) Probe(region, group string) error {
	req := slb.CreateDescribeVServerGroupAttributeRequest()
	r.prepare(req.RpcRequest, region)
	req.VServerGroupId = group
	_, err := r.client.DescribeVServerGroupAttribute(req)
	return retry.Redact(err)
}

// sdkListed is the SDK's entry of a group's server list in the answers of
// the write calls (one struct per action, with the same fields).
type sdkListed = slb.BackendServerInRemoveVServerGroupBackendServers

// listed converts a write call's list of the group's servers.
func listed[T sdkListed | slb.BackendServerInSetVServerGroupAttribute | slb.BackendServerInAddVServerGroupBackendServers](list []T) []WeightedServer {
	out := make([]WeightedServer, 0, len(list))
	for _, e := range list {
		bs := sdkListed(e)
		out = append(out, WeightedServer{messages.BackendServer{ServerID: bs.ServerId, Port: bs.Port, Type: bs.Type}, bs.Weight})
	}
	return out
}

// apiBackendServer is one entry of the API's BackendServers parameter:
// {"ServerId":"i-1","Port":"80","Type":"ecs"} (the port as a string), with
// "Weight" in the calls that set one.
type apiBackendServer struct {
	ServerID string `json:"ServerId"`
	Port     int    `json:"Port,string"`
	Type     string `json:"Type"`
	Weight   *int   `json:"Weight,omitempty,string"`
}

// encodeWeighted writes the BackendServers parameter of Set and Add calls.
func encodeWeighted(servers []WeightedServer) string {
	list := make([]apiBackendServer, len(servers))
	for i, s := range servers {
		list[i] = apiBackendServer{ServerID: s.ServerID, Port: s.Port, Type: cmp.Or(s.Type, messages.TypeECS), Weight: &s.Weight}
	}
	data, err := json.Marshal(list)
	if err != nil {
		panic(fmt.Sprintf("encode BackendServers: %v", err))
	}
	return string(data)
}

// encodeBackendServers writes the API's BackendServers parameter.
func encodeBackendServers(servers []messages.BackendServer) string {
	list := make([]apiBackendServer, len(servers))
	for i, s := range servers {
		list[i] = apiBackendServer{ServerID: s.ServerID, Port: s.Port, Type: cmp.Or(s.Type, messages.TypeECS)}
	}
	data, err := json.Marshal(list)
	if err != nil {
		// Strings and ints always encode; a failure here is a bug, not input.
		panic(fmt.Sprintf("encode BackendServers: %v", err))
	}
	return string(data)
}
