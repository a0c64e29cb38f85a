package slbsim

import (
	"fmt"
	"net/http"
	"regexp"
	"strings"
	"testing"

	"github.com/aliyun/alibaba-cloud-sdk-go/services/slb"
)

var requestIDPattern = regexp.MustCompile(`^[0-9A-F]{8}-[0-9A-F]{4}-4[0-9A-F]{3}-[89AB][0-9A-F]{3}-[0-9A-F]{12}$`)

func TestRemoveSignedCallRemovesServers(t *testing.T) {
	h := start(t, Config{})
	h.sim.CreateGroup(testRegion, "rsp-a", []Backend{
		{ServerID: "i-1", Port: 80}, {ServerID: "i-2", Port: 80}, {ServerID: "i-3", Port: 8080, Type: "eni", Weight: 50},
	})

	resp, err := remove(h.client(), "rsp-a", servers("i-1:80", "i-2:80"))
	if err != nil {
		t.Fatalf("remove: %v", err)
	}
	if !requestIDPattern.MatchString(resp.RequestId) {
		t.Errorf("RequestId %q is not an upper-case UUID", resp.RequestId)
	}
	if resp.VServerGroupId != "rsp-a" {
		t.Errorf("VServerGroupId = %q", resp.VServerGroupId)
	}
	remaining := resp.BackendServers.BackendServer
	if len(remaining) != 1 || remaining[0].ServerId != "i-3" || remaining[0].Port != 8080 ||
		remaining[0].Type != "eni" || remaining[0].Weight != 50 {
		t.Errorf("answer lists %+v, want only i-3:8080 eni weight 50", remaining)
	}
	got, ok := h.sim.Backends(testRegion, "rsp-a")
	if !ok || backendIDs(got) != "i-3:8080" {
		t.Errorf("group holds %q (exists %v), want i-3:8080", backendIDs(got), ok)
	}

	c := h.waitCall()
	if c.Action != actionRemove || c.RegionID != testRegion || c.GroupID != "rsp-a" || c.Code != "" ||
		c.HTTPStatus != http.StatusOK || c.Servers != 2 || c.Removed != 2 || c.RequestID != resp.RequestId ||
		c.AccessKeyID != testAK || c.Overlap || c.End.Before(c.Start) {
		t.Errorf("call log entry %+v", c)
	}
	st := h.sim.Stats()
	want := Stats{Calls: 1, Succeeded: 1, MaxBatch: 2, RemoveCalls: 1, ServersRemoved: 2}
	if st != want {
		t.Errorf("stats %+v, want %+v", st, want)
	}
}

func TestRemoveMatchesServerAndPort(t *testing.T) {
	h := start(t, Config{})
	h.sim.CreateGroup(testRegion, "rsp-a", []Backend{{ServerID: "i-1", Port: 80}, {ServerID: "i-1", Port: 443}})

	// Port as a number, Type left out: both are what Alibaba accepts.
	if _, err := remove(h.client(), "rsp-a", `[{"ServerId":"i-1","Port":443}]`); err != nil {
		t.Fatalf("remove: %v", err)
	}
	if got, _ := h.sim.Backends(testRegion, "rsp-a"); backendIDs(got) != "i-1:80" {
		t.Errorf("group holds %q, want i-1:80", backendIDs(got))
	}
}

func TestRemoveIgnoresAbsentServers(t *testing.T) {
	h := start(t, Config{})
	seedGroup(h.sim, "rsp-a", 2) // i-1, i-2
	h.sim.AddInstances(testRegion, "i-elsewhere")
	cl := h.client()

	if _, err := remove(cl, "rsp-a", servers("i-1:80")); err != nil {
		t.Fatalf("first remove: %v", err)
	}
	// i-1 is gone already, i-2 is on another port, i-elsewhere was never in
	// the group: all ignored, as the reference says.
	resp, err := remove(cl, "rsp-a", servers("i-1:80", "i-2:81", "i-elsewhere:80"))
	if err != nil {
		t.Fatalf("remove of absent servers: %v", err)
	}
	if l := resp.BackendServers.BackendServer; len(l) != 1 || l[0].ServerId != "i-2" {
		t.Errorf("answer lists %+v, want i-2", l)
	}
	if st := h.sim.Stats(); st.ServersRemoved != 1 || st.Succeeded != 2 {
		t.Errorf("stats %+v, want 1 server removed over 2 successful calls", st)
	}
}

func TestRemoveLastServerAnswersEmptyList(t *testing.T) {
	h := start(t, Config{})
	seedGroup(h.sim, "rsp-a", 1)
	resp, err := remove(h.client(), "rsp-a", servers("i-1:80"))
	if err != nil {
		t.Fatalf("remove: %v", err)
	}
	if resp.BackendServers.BackendServer == nil || len(resp.BackendServers.BackendServer) != 0 {
		t.Errorf("want an empty list, got %#v", resp.BackendServers.BackendServer)
	}
	if !strings.Contains(resp.GetHttpContentString(), `"BackendServer":[]`) {
		t.Errorf("body %s: want BackendServer as an empty array", resp.GetHttpContentString())
	}
}

func TestRemoveTooManyServers(t *testing.T) {
	h := start(t, Config{})
	seedGroup(h.sim, "rsp-a", 25)
	items := make([]string, 21)
	for i := range items {
		items[i] = fmt.Sprintf("i-%d:80", i+1)
	}
	_, err := remove(h.client(), "rsp-a", servers(items...))
	se := serverError(t, err, http.StatusBadRequest, CodeTooManyBackends)
	if !strings.Contains(se.Message(), "max supported number: 20") {
		t.Errorf("message %q", se.Message())
	}
	if got, _ := h.sim.Backends(testRegion, "rsp-a"); len(got) != 25 {
		t.Errorf("group has %d servers, want all 25 kept", len(got))
	}
	if st := h.sim.Stats(); st.MaxBatch != 21 || st.RemoveCalls != 1 || st.Succeeded != 0 {
		t.Errorf("stats %+v: want the 21-server batch seen and refused", st)
	}

	// Exactly 20 is fine.
	if _, err := remove(h.client(), "rsp-a", servers(items[:20]...)); err != nil {
		t.Fatalf("remove of 20: %v", err)
	}
}

func TestRemoveUnknownGroup(t *testing.T) {
	h := start(t, Config{})
	seedGroup(h.sim, "rsp-a", 1)
	h.sim.CreateGroup("cn-beijing", "rsp-b", []Backend{{ServerID: "i-1", Port: 80}})
	cl := h.client()

	for _, group := range []string{"rsp-nope", "rsp-b"} { // rsp-b is in another region
		_, err := remove(cl, group, servers("i-1:80"))
		se := serverError(t, err, http.StatusNotFound, CodeInvalidParameter)
		if se.Message() != "The specified VServerGroupId does not exist." {
			t.Errorf("%s: message %q", group, se.Message())
		}
	}
	if got, _ := h.sim.Backends("cn-beijing", "rsp-b"); len(got) != 1 {
		t.Errorf("group in the other region changed: %v", got)
	}
}

func TestRemoveUnknownServerIDFailsWholeCall(t *testing.T) {
	h := start(t, Config{})
	seedGroup(h.sim, "rsp-a", 2)
	_, err := remove(h.client(), "rsp-a", servers("i-1:80", "i-never:80"))
	serverError(t, err, http.StatusNotFound, CodeServerNotFound)
	if got, _ := h.sim.Backends(testRegion, "rsp-a"); len(got) != 2 {
		t.Errorf("group changed to %q: a refused call must change nothing", backendIDs(got))
	}
}

func TestRemoveMalformedBackendServers(t *testing.T) {
	h := start(t, Config{})
	seedGroup(h.sim, "rsp-a", 3)
	cl := h.client()
	for _, tc := range []struct {
		param  string
		status int
		code   string
	}{
		{`not json`, http.StatusBadRequest, CodeBackendsMalformed},
		{`{"ServerId":"i-1","Port":80}`, http.StatusBadRequest, CodeBackendsMalformed},
		{`[]`, http.StatusBadRequest, CodeBackendsMalformed},
		{`[{"Port":80}]`, http.StatusBadRequest, CodeBackendsMalformed},
		{`[{"ServerId":"i-1"}]`, http.StatusBadRequest, CodeBackendsMalformed},
		{`[{"ServerId":"i-1","Port":"eighty"}]`, http.StatusBadRequest, CodeBackendsMalformed},
		{`[{"ServerId":"i-1","Port":70000}]`, http.StatusBadRequest, CodeBackendsMalformed},
		{`[{"ServerId":"i-1","Port":80,"Type":"vm"}]`, http.StatusBadRequest, CodeInvalidType},
	} {
		_, err := remove(cl, "rsp-a", tc.param)
		serverError(t, err, tc.status, tc.code)
	}
	if got, _ := h.sim.Backends(testRegion, "rsp-a"); len(got) != 3 {
		t.Errorf("group changed to %q", backendIDs(got))
	}

	// The single-quoted form of Alibaba's own example is accepted.
	if _, err := remove(cl, "rsp-a", `[{'ServerId':'i-1','Port':'80'},{'ServerId':'i-2','Port':'80'}]`); err != nil {
		t.Fatalf("single-quoted example: %v", err)
	}
	if got, _ := h.sim.Backends(testRegion, "rsp-a"); backendIDs(got) != "i-3:80" {
		t.Errorf("group holds %q, want i-3:80", backendIDs(got))
	}
}

func TestRemoveMissingParameters(t *testing.T) {
	h := start(t, Config{})
	seedGroup(h.sim, "rsp-a", 1)
	cl := h.client()
	_, err := remove(cl, "", servers("i-1:80"))
	serverError(t, err, http.StatusBadRequest, "MissingVServerGroupId")
	_, err = remove(cl, "rsp-a", "")
	serverError(t, err, http.StatusBadRequest, "MissingBackendServers")
}

func TestDenyGroup(t *testing.T) {
	h := start(t, Config{})
	seedGroup(h.sim, "rsp-a", 2)
	seedGroup(h.sim, "rsp-b", 2)
	h.sim.DenyGroup(testRegion, "rsp-a")
	cl := h.client()

	_, err := remove(cl, "rsp-a", servers("i-1:80"))
	se := serverError(t, err, http.StatusForbidden, CodeForbiddenRAM)
	if se.Message() != "User not authorized to operate on the specified resource, or this API doesn't support RAM." {
		t.Errorf("message %q", se.Message())
	}
	if got, _ := h.sim.Backends(testRegion, "rsp-a"); len(got) != 2 {
		t.Errorf("denied group changed: %q", backendIDs(got))
	}
	if _, err := remove(cl, "rsp-b", servers("i-1:80")); err != nil {
		t.Errorf("other group: %v", err)
	}

	h.sim.AllowGroup(testRegion, "rsp-a")
	if _, err := remove(cl, "rsp-a", servers("i-1:80")); err != nil {
		t.Errorf("after AllowGroup: %v", err)
	}
}

func TestGroupLifecycleThroughAPI(t *testing.T) {
	h := start(t, Config{})
	cl := h.client()

	create := slb.CreateCreateVServerGroupRequest()
	create.LoadBalancerId = "lb-1"
	create.VServerGroupName = "web"
	create.BackendServers = servers("i-1:80")
	created, err := cl.CreateVServerGroup(create)
	if err != nil {
		t.Fatalf("create: %v", err)
	}
	id := created.VServerGroupId
	if !regexp.MustCompile(`^rsp-[a-z0-9]{10}$`).MatchString(id) {
		t.Errorf("group id %q", id)
	}

	add := slb.CreateAddVServerGroupBackendServersRequest()
	add.VServerGroupId = id
	// Characters the signature must encode exactly as the SDK does.
	add.BackendServers = `[{"ServerId":"i-2","Port":"8080","Weight":"0","Description":"a b*c~d/é+&=%"},{"ServerId":"i-3","Port":81,"Type":"eci"}]`
	added, err := cl.AddVServerGroupBackendServers(add)
	if err != nil {
		t.Fatalf("add: %v", err)
	}
	if n := len(added.BackendServers.BackendServer); n != 3 {
		t.Errorf("add answers %d servers, want the group's 3", n)
	}

	describe := slb.CreateDescribeVServerGroupAttributeRequest()
	describe.VServerGroupId = id
	got, err := cl.DescribeVServerGroupAttribute(describe)
	if err != nil {
		t.Fatalf("describe: %v", err)
	}
	if got.VServerGroupName != "web" || got.LoadBalancerId != "lb-1" || got.CreateTime == "" {
		t.Errorf("describe: name %q lb %q created %q", got.VServerGroupName, got.LoadBalancerId, got.CreateTime)
	}
	list := got.BackendServers.BackendServer
	if len(list) != 3 || list[1].ServerId != "i-2" || list[1].Weight != 0 || list[1].Description != "a b*c~d/é+&=%" ||
		list[2].Type != "eci" || list[0].Weight != 100 {
		t.Errorf("describe lists %+v", list)
	}

	// Servers added through the API are instances of the account: removing
	// one twice is fine, not InvalidServerId.NotFound.
	for range 2 {
		if _, err := remove(cl, id, servers("i-2:8080")); err != nil {
			t.Fatalf("remove: %v", err)
		}
	}
	if bs, _ := h.sim.Backends(testRegion, id); backendIDs(bs) != "i-1:80,i-3:81" {
		t.Errorf("group holds %q", backendIDs(bs))
	}

	describe = slb.CreateDescribeVServerGroupAttributeRequest()
	describe.VServerGroupId = "rsp-nope"
	_, err = cl.DescribeVServerGroupAttribute(describe)
	serverError(t, err, http.StatusNotFound, CodeInvalidParameter)
}
