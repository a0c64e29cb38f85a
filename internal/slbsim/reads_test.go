package slbsim

import (
	"net/http"
	"strings"
	"testing"

	"github.com/aliyun/alibaba-cloud-sdk-go/sdk/requests"
	"github.com/aliyun/alibaba-cloud-sdk-go/services/slb"
)

// seedLayout: two load balancers in the test region, lb-a with groups
// rsp-a1 (i-1:80, i-2:80) and rsp-a2 (i-1:8080), lb-b with rsp-b1 (i-2:80);
// and lb-c in cn-beijing holding i-1 too.
func seedLayout(sim *Sim) {
	sim.CreateGroupOn(testRegion, "lb-a", "rsp-a1", []Backend{{ServerID: "i-1", Port: 80}, {ServerID: "i-2", Port: 80}})
	sim.CreateGroupOn(testRegion, "lb-a", "rsp-a2", []Backend{{ServerID: "i-1", Port: 8080, Weight: 40}})
	sim.CreateGroupOn(testRegion, "lb-b", "rsp-b1", []Backend{{ServerID: "i-2", Port: 80}})
	sim.CreateGroupOn("cn-beijing", "lb-c", "rsp-c1", []Backend{{ServerID: "i-1", Port: 80}})
}

func describeGroups(c *slb.Client, lb string) (*slb.DescribeVServerGroupsResponse, error) {
	req := slb.CreateDescribeVServerGroupsRequest()
	req.LoadBalancerId = lb
	return c.DescribeVServerGroups(req)
}

func describeLBs(c *slb.Client, edit func(*slb.DescribeLoadBalancersRequest)) (*slb.DescribeLoadBalancersResponse, error) {
	req := slb.CreateDescribeLoadBalancersRequest()
	edit(req)
	return c.DescribeLoadBalancers(req)
}

func lbIDs(resp *slb.DescribeLoadBalancersResponse) string {
	ids := make([]string, len(resp.LoadBalancers.LoadBalancer))
	for i, lb := range resp.LoadBalancers.LoadBalancer {
		ids[i] = lb.LoadBalancerId
	}
	return strings.Join(ids, ",")
}

func TestDescribeVServerGroupsOfALoadBalancer(t *testing.T) {
	h := start(t, Config{})
	seedLayout(h.sim)
	cl := h.client()

	resp, err := describeGroups(cl, "lb-a")
	if err != nil {
		t.Fatalf("describe groups: %v", err)
	}
	groups := resp.VServerGroups.VServerGroup
	if len(groups) != 2 || groups[0].VServerGroupId != "rsp-a1" || groups[1].VServerGroupId != "rsp-a2" ||
		groups[0].VServerGroupName != "rsp-a1" || groups[0].CreateTime == "" || !requestIDPattern.MatchString(resp.RequestId) {
		t.Errorf("lb-a groups %+v", resp)
	}
	if groups[0].ServerCount != 0 {
		t.Errorf("ServerCount %d: Alibaba leaves it out unless asked by ticket", groups[0].ServerCount)
	}
	if !strings.Contains(resp.GetHttpContentString(), `"Listener":[]`) {
		t.Errorf("body %s: want empty listener lists", resp.GetHttpContentString())
	}

	h.sim.CreateLoadBalancer(testRegion, "lb-empty")
	if resp, err := describeGroups(cl, "lb-empty"); err != nil || len(resp.VServerGroups.VServerGroup) != 0 ||
		!strings.Contains(resp.GetHttpContentString(), `"VServerGroup":[]`) {
		t.Errorf("empty load balancer: %v %s", err, resp.GetHttpContentString())
	}

	for _, lb := range []string{"lb-nope", "lb-c"} { // lb-c is in another region
		_, err := describeGroups(cl, lb)
		se := serverError(t, err, http.StatusNotFound, CodeLoadBalancerNotFound)
		if se.Message() != "The specified LoadBalancerId does not exist." {
			t.Errorf("%s: message %q", lb, se.Message())
		}
	}
	_, err = describeGroups(cl, "")
	serverError(t, err, http.StatusBadRequest, "MissingLoadBalancerId")
}

func TestDescribeLoadBalancersByServerID(t *testing.T) {
	h := start(t, Config{})
	seedLayout(h.sim)
	cl := h.client()

	for _, tc := range []struct {
		server string
		want   string
	}{
		{"i-1", "lb-a"},      // two groups of lb-a, two ports; lb-c is in another region
		{"i-2", "lb-a,lb-b"}, // creation order
		{"i-nope", ""},
		{"", "lb-a,lb-b"},
	} {
		resp, err := describeLBs(cl, func(r *slb.DescribeLoadBalancersRequest) { r.ServerId = tc.server })
		if err != nil {
			t.Fatalf("%q: %v", tc.server, err)
		}
		if got := lbIDs(resp); got != tc.want || resp.TotalCount != strings.Count(tc.want, "lb-") {
			t.Errorf("ServerId %q: %s (total %d), want %s", tc.server, got, resp.TotalCount, tc.want)
		}
	}
	resp, err := describeLBs(cl, func(r *slb.DescribeLoadBalancersRequest) { r.ServerId = "i-2" })
	if err != nil {
		t.Fatal(err)
	}
	lb := resp.LoadBalancers.LoadBalancer[0]
	if lb.RegionId != testRegion || lb.LoadBalancerStatus != "active" || lb.LoadBalancerName != "lb-a" || lb.CreateTimeStamp == 0 ||
		resp.PageNumber != 1 || resp.PageSize != 10 {
		t.Errorf("answer %+v / %+v", resp, lb)
	}

	// A server removed from every group of a load balancer no longer finds it.
	if err := h.sim.RemoveBackends(testRegion, "rsp-b1", Backend{ServerID: "i-2", Port: 80}); err != nil {
		t.Fatal(err)
	}
	resp, err = describeLBs(cl, func(r *slb.DescribeLoadBalancersRequest) { r.ServerId = "i-2" })
	if err != nil || lbIDs(resp) != "lb-a" {
		t.Errorf("after removal: %v %s", err, lbIDs(resp))
	}
}

func TestDescribeLoadBalancersPages(t *testing.T) {
	h := start(t, Config{})
	for _, id := range []string{"lb-1", "lb-2", "lb-3", "lb-4", "lb-5"} {
		h.sim.CreateGroupOn(testRegion, id, "rsp-"+id, []Backend{{ServerID: "i-shared", Port: 80}})
	}
	cl := h.client()
	var pages []string
	for page := 1; page <= 3; page++ {
		resp, err := describeLBs(cl, func(r *slb.DescribeLoadBalancersRequest) {
			r.ServerId = "i-shared"
			r.PageNumber = requests.NewInteger(page)
			r.PageSize = requests.NewInteger(2)
		})
		if err != nil {
			t.Fatalf("page %d: %v", page, err)
		}
		if resp.TotalCount != 5 || resp.PageNumber != page || resp.PageSize != 2 {
			t.Errorf("page %d: total %d number %d size %d", page, resp.TotalCount, resp.PageNumber, resp.PageSize)
		}
		pages = append(pages, lbIDs(resp))
	}
	if got := strings.Join(pages, "|"); got != "lb-1,lb-2|lb-3,lb-4|lb-5" {
		t.Errorf("pages %s", got)
	}

	resp, err := describeLBs(cl, func(r *slb.DescribeLoadBalancersRequest) { r.LoadBalancerId = "lb-4,lb-2,lb-nope" })
	if err != nil || lbIDs(resp) != "lb-2,lb-4" {
		t.Errorf("by id: %v %s", err, lbIDs(resp))
	}
	for _, edit := range []func(*slb.DescribeLoadBalancersRequest){
		func(r *slb.DescribeLoadBalancersRequest) { r.PageSize = requests.NewInteger(101) },
		func(r *slb.DescribeLoadBalancersRequest) { r.PageSize = requests.NewInteger(0) },
		func(r *slb.DescribeLoadBalancersRequest) { r.PageNumber = requests.NewInteger(0) },
		func(r *slb.DescribeLoadBalancersRequest) { r.LoadBalancerId = "a,b,c,d,e,f,g,h,i,j,k" },
	} {
		_, err := describeLBs(cl, edit)
		serverError(t, err, http.StatusBadRequest, CodeInvalidParameter)
	}
}
