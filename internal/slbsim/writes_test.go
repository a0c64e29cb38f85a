package slbsim

import (
	"net/http"
	"strconv"
	"strings"
	"testing"

	"github.com/aliyun/alibaba-cloud-sdk-go/services/slb"
)

func setAttribute(c *slb.Client, group, name, backends string) (*slb.SetVServerGroupAttributeResponse, error) {
	req := slb.CreateSetVServerGroupAttributeRequest()
	req.VServerGroupId = group
	req.VServerGroupName = name
	req.BackendServers = backends
	return c.SetVServerGroupAttribute(req)
}

func describe(c *slb.Client, group string) (*slb.DescribeVServerGroupAttributeResponse, error) {
	req := slb.CreateDescribeVServerGroupAttributeRequest()
	req.VServerGroupId = group
	return c.DescribeVServerGroupAttribute(req)
}

// weights lists "id:port=weight" of an SDK answer's servers.
func weightsOf[T any](list []T, get func(T) (string, int, int)) string {
	out := make([]string, len(list))
	for i, b := range list {
		id, port, w := get(b)
		out[i] = id + ":" + strconv.Itoa(port) + "=" + strconv.Itoa(w)
	}
	return strings.Join(out, ",")
}

func TestSetVServerGroupAttributeSetsWeights(t *testing.T) {
	h := start(t, Config{})
	seedGroup(h.sim, "rsp-a", 3) // i-1..i-3 on 80, weight 100
	cl := h.client()

	resp, err := setAttribute(cl, "rsp-a", "web-v2",
		`[{"ServerId":"i-1","Port":"80","Weight":"0"},{"ServerId":"i-3","Port":80,"Weight":30,"Description":"canary"}]`)
	if err != nil {
		t.Fatalf("set: %v", err)
	}
	if resp.VServerGroupId != "rsp-a" || resp.VServerGroupName != "web-v2" || !requestIDPattern.MatchString(resp.RequestId) {
		t.Errorf("answer %+v", resp)
	}
	got := weightsOf(resp.BackendServers.BackendServer, func(b slb.BackendServerInSetVServerGroupAttribute) (string, int, int) {
		return b.ServerId, b.Port, b.Weight
	})
	if got != "i-1:80=0,i-2:80=100,i-3:80=30" {
		t.Errorf("answer lists %s", got)
	}
	d, err := describe(cl, "rsp-a")
	if err != nil {
		t.Fatalf("describe: %v", err)
	}
	list := d.BackendServers.BackendServer
	if d.VServerGroupName != "web-v2" || len(list) != 3 || list[0].Weight != 0 || list[2].Weight != 30 || list[2].Description != "canary" {
		t.Errorf("describe after set: %s %+v", d.VServerGroupName, list)
	}

	// A left-out Weight is the documented default, 100.
	if _, err := setAttribute(cl, "rsp-a", "", `[{"ServerId":"i-1","Port":"80"}]`); err != nil {
		t.Fatalf("set without weight: %v", err)
	}
	if bs, _ := h.sim.Backends(testRegion, "rsp-a"); bs[0].Weight != 100 || bs[2].Weight != 30 {
		t.Errorf("after a set without weight: %+v", bs)
	}
	// A rename alone changes no weight.
	if _, err := setAttribute(cl, "rsp-a", "web-v3", ""); err != nil {
		t.Fatalf("rename: %v", err)
	}
	if bs, _ := h.sim.Backends(testRegion, "rsp-a"); bs[2].Weight != 30 {
		t.Errorf("a rename changed weights: %+v", bs)
	}
	if c := h.lastCall(actionSet); c.Servers != 0 || c.Code != "" {
		t.Errorf("call log %+v", c)
	}
}

// lastCall returns the last logged call of action.
func (h *harness) lastCall(action string) Call {
	h.t.Helper()
	calls := h.sim.Calls()
	for i := len(calls) - 1; i >= 0; i-- {
		if calls[i].Action == action {
			return calls[i]
		}
	}
	h.t.Fatalf("no %s call logged", action)
	return Call{}
}

func TestSetVServerGroupAttributeChangesOnlyMembers(t *testing.T) {
	h := start(t, Config{})
	seedGroup(h.sim, "rsp-a", 2)
	h.sim.AddInstances(testRegion, "i-elsewhere")
	cl := h.client()

	// One server the group does not hold fails the call, and the other
	// server's weight is not changed either.
	_, err := setAttribute(cl, "rsp-a", "", `[{"ServerId":"i-1","Port":"80","Weight":"0"},{"ServerId":"i-elsewhere","Port":"80","Weight":"0"}]`)
	se := serverError(t, err, http.StatusBadRequest, CodeInvalidParameter)
	if !strings.Contains(se.Message(), "i-elsewhere:80") {
		t.Errorf("message %q does not name the server", se.Message())
	}
	_, err = setAttribute(cl, "rsp-a", "", `[{"ServerId":"i-1","Port":"81","Weight":"0"}]`)
	serverError(t, err, http.StatusBadRequest, CodeInvalidParameter) // right server, wrong port
	_, err = setAttribute(cl, "rsp-a", "", `[{"ServerId":"i-never","Port":"80","Weight":"0"}]`)
	serverError(t, err, http.StatusNotFound, CodeServerNotFound)
	if bs, _ := h.sim.Backends(testRegion, "rsp-a"); bs[0].Weight != 100 || bs[1].Weight != 100 {
		t.Errorf("a refused set changed weights: %+v", bs)
	}

	_, err = setAttribute(cl, "rsp-nope", "", `[{"ServerId":"i-1","Port":"80","Weight":"0"}]`)
	serverError(t, err, http.StatusNotFound, CodeInvalidParameter)
	_, err = setAttribute(cl, "", "x", "")
	serverError(t, err, http.StatusBadRequest, "MissingVServerGroupId")
	_, err = setAttribute(cl, "rsp-a", "", `[{"ServerId":"i-1","Port":"80","Weight":"101"}]`)
	serverError(t, err, http.StatusBadRequest, CodeBackendsMalformed)
}

func TestAddWithWeights(t *testing.T) {
	h := start(t, Config{})
	seedGroup(h.sim, "rsp-a", 1)
	cl := h.client()
	req := slb.CreateAddVServerGroupBackendServersRequest()
	req.VServerGroupId = "rsp-a"
	req.BackendServers = `[{"ServerId":"i-2","Port":"80","Weight":"0"},{"ServerId":"i-3","Port":"80","Weight":"55"},{"ServerId":"i-4","Port":"80"}]`
	resp, err := cl.AddVServerGroupBackendServers(req)
	if err != nil {
		t.Fatalf("add: %v", err)
	}
	got := weightsOf(resp.BackendServers.BackendServer, func(b slb.BackendServerInAddVServerGroupBackendServers) (string, int, int) {
		return b.ServerId, b.Port, b.Weight
	})
	if got != "i-1:80=100,i-2:80=0,i-3:80=55,i-4:80=100" {
		t.Errorf("add answers %s", got)
	}
	d, err := describe(cl, "rsp-a")
	if err != nil {
		t.Fatalf("describe: %v", err)
	}
	if got := weightsOf(d.BackendServers.BackendServer, func(b slb.BackendServerInDescribeVServerGroupAttribute) (string, int, int) {
		return b.ServerId, b.Port, b.Weight
	}); got != "i-1:80=100,i-2:80=0,i-3:80=55,i-4:80=100" {
		t.Errorf("describe lists %s", got)
	}
}
