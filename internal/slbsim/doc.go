// Package slbsim emulates the slice of the Alibaba Cloud SLB API (version
// 2014-05-15) that slbdrain uses, over real HTTP, closely enough that the
// official github.com/aliyun/alibaba-cloud-sdk-go services/slb client cannot
// tell it from Alibaba.
//
// It speaks the RPC protocol as the SDK sends it: every parameter in the
// query string (a form body is read too), signed with HMAC-SHA1 signature
// version 1.0 over "METHOD&%2F&" + percentEncode(sorted, percent-encoded
// parameters), the secret being AccessKeySecret + "&". It checks the common
// parameters, the signature, the timestamp window and nonce reuse, answers
// with Alibaba's JSON error shape ({"RequestId","HostId","Code","Message",
// "Recommend"}) and a fresh upper-case UUID RequestId on every answer, and
// implements the writes RemoveVServerGroupBackendServers,
// AddVServerGroupBackendServers, SetVServerGroupAttribute and
// CreateVServerGroup (writes.go) and the reads DescribeVServerGroupAttribute,
// DescribeVServerGroups and DescribeLoadBalancers (reads.go), over several
// regions at once: every resource belongs to one region, and a call naming
// another region's group or load balancer is answered as for one that does
// not exist. Load balancers hold several VServer groups; backend servers
// have weights.
//
// It is never kinder than Alibaba where it can help it. Quotas count calls
// as Alibaba does, per (region, action, account) in fixed windows of N calls
// per W (or a sliding window), optionally with a foreign consumer that
// spends a share of each window first, as another tool of the account would
// (quota.go, window.go, flowcontrol.go); they are opt-in (Config.Quotas,
// AlibabaQuotas), so the zero Config limits nothing. A sticky server stays
// in its group, and in the Remove answer, for its first K Remove calls
// (StickServer). STS credentials are checked like key pairs, SecurityToken
// and expiry included. Groups change behind the API's back with
// AddBackends, RemoveBackends and SetWeight.
//
// For tests and benchmarks it adds latency, injected faults (throttling,
// 503, SystemBusy, slow answers, dropped connections), RAM denies per group,
// AccessKey revocation, and a call log with counters, among them overlapping
// Remove calls on the same group, which the worker must never cause.
//
// # Pointing the SDK at the emulator
//
// The SDK resolves a call's endpoint in this order: the request's Domain, the
// client's exported Domain field, then its endpoint tables. Both the request
// and the client carry a scheme; the client's default (sdk.Config.Scheme) is
// "HTTP". The cleanest SDK-supported way is therefore a client-level endpoint:
//
//	client, _ := slb.NewClientWithOptions(region,
//		sdk.NewConfig().WithScheme("HTTP").WithAutoRetry(false),
//		credentials.NewAccessKeyCredential(id, secret))
//	client.Domain = "127.0.0.1:9100" // host:port, no scheme
//
// Setting request.Scheme = "http" and request.Domain = "127.0.0.1:9100" on each
// request works as well. NewClient does the former, and also exempts the
// emulator's host from HTTP_PROXY, which the SDK otherwise honours.
//
// # Order of checks
//
// Each call goes through, in order: the common parameters (Format, Version,
// Action), the signature parameters and the Timestamp window, the AccessKey,
// the signature, the SecurityToken, the nonce, RegionId, a RAM deny on the
// group, the quotas, injected faults, and the action itself; then the configured latency
// passes and the answer is written. A Drop fault closes the connection
// without answering and without applying the action (the request is lost); a
// Slow fault applies the action and delays only the answer (the response is
// lost to the client's timeout).
//
// Serve it with Start (or Serve/Listen). Under httptest.Server, call
// Sim.Close before closing the server, or a call waiting out a latency or a
// Slow fault holds the close until its client gives up.
package slbsim
