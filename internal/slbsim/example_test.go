package slbsim_test

import (
	"fmt"
	"time"

	"github.com/aliyun/alibaba-cloud-sdk-go/services/slb"

	"github.com/slbdrain/slbdrain/internal/slbsim"
)

// A test serves the emulator, seeds a group and drives it with the real SDK.
func ExampleStart() {
	sim, srv, err := slbsim.Start(slbsim.Config{AccessKeys: map[string]string{"ak": "secret"}})
	if err != nil {
		panic(err)
	}
	defer srv.Close()
	sim.CreateGroup("cn-hangzhou", "rsp-web", []slbsim.Backend{{ServerID: "i-1", Port: 80}, {ServerID: "i-2", Port: 80}})

	client, err := slbsim.NewClient(srv.URL, "cn-hangzhou", "ak", "secret", 5*time.Second)
	if err != nil {
		panic(err)
	}
	req := slb.CreateRemoveVServerGroupBackendServersRequest()
	req.VServerGroupId = "rsp-web"
	req.BackendServers = `[{"ServerId":"i-1","Port":"80","Type":"ecs"}]`
	resp, err := client.RemoveVServerGroupBackendServers(req)
	if err != nil {
		panic(err)
	}
	left, _ := sim.Backends("cn-hangzhou", "rsp-web")
	fmt.Println(len(resp.BackendServers.BackendServer), left[0].ServerID, sim.Stats().ServersRemoved)
	// Output: 1 i-2 1
}

// A benchmark opts into Alibaba's quotas, scales the remove quota down, and
// has another tool of the account spend 30 % of every window.
func ExampleAlibabaQuotas() {
	quotas := slbsim.AlibabaQuotas()
	remove, err := slbsim.ParseQuota("15/10s,foreign=0.3")
	if err != nil {
		panic(err)
	}
	quotas["RemoveVServerGroupBackendServers"] = remove
	sim, srv, err := slbsim.Start(slbsim.Config{AccessKeys: map[string]string{"ak": "secret"}, Quotas: quotas})
	if err != nil {
		panic(err)
	}
	defer srv.Close()
	sim.Seed(slbsim.GenerateLoadBalancers("cn-hangzhou", 3, 4, 200))

	fmt.Println(quotas["DescribeLoadBalancers"], remove, "leaves", remove.Available(), "calls per window")
	// Output: 270/60s 15/10s,foreign=0.3 leaves 10 calls per window
}
