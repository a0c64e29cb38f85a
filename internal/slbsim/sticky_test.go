package slbsim

import (
	"errors"
	"testing"
)

func TestStickyServerStaysForItsFirstCalls(t *testing.T) {
	h := start(t, Config{})
	seedGroup(h.sim, "rsp-a", 3) // i-1, i-2, i-3
	h.sim.StickServer(testRegion, "rsp-a", "i-1", 80, 2)
	cl := h.client()

	for call := 1; call <= 3; call++ {
		resp, err := remove(cl, "rsp-a", servers("i-1:80", "i-2:80"))
		if err != nil {
			t.Fatalf("call %d: %v", call, err)
		}
		var listed []Backend
		for _, b := range resp.BackendServers.BackendServer {
			listed = append(listed, Backend{ServerID: b.ServerId, Port: b.Port})
		}
		want := "i-1:80,i-3:80" // the answer lists the sticky server: the worker must see it is still there
		if call == 3 {
			want = "i-3:80"
		}
		if got := backendIDs(listed); got != want {
			t.Errorf("call %d answers %s, want %s", call, got, want)
		}
		if bs, _ := h.sim.Backends(testRegion, "rsp-a"); backendIDs(bs) != want {
			t.Errorf("call %d: group holds %s, want %s", call, backendIDs(bs), want)
		}
	}
	if st := h.sim.Stats(); st.ServersRemoved != 2 || st.Succeeded != 3 {
		t.Errorf("stats %+v: want i-2 then i-1 removed, every call successful", st)
	}
}

func TestStickyServerForeverAndLifted(t *testing.T) {
	h := start(t, Config{})
	seedGroup(h.sim, "rsp-a", 2)
	h.sim.StickServer(testRegion, "rsp-a", "i-1", 80, Forever)
	h.sim.StickServer(testRegion, "rsp-a", "i-2", 80, 1)
	cl := h.client()

	// Calls that do not name a sticky server do not count against it.
	for range 3 {
		if _, err := remove(cl, "rsp-a", servers("i-1:80")); err != nil {
			t.Fatal(err)
		}
	}
	if bs, _ := h.sim.Backends(testRegion, "rsp-a"); backendIDs(bs) != "i-1:80,i-2:80" {
		t.Fatalf("group holds %s", backendIDs(bs))
	}
	if _, err := remove(cl, "rsp-a", servers("i-2:80")); err != nil { // its one sticky call
		t.Fatal(err)
	}
	if _, err := remove(cl, "rsp-a", servers("i-2:80")); err != nil {
		t.Fatal(err)
	}
	if bs, _ := h.sim.Backends(testRegion, "rsp-a"); backendIDs(bs) != "i-1:80" {
		t.Fatalf("group holds %s, want only the Forever one", backendIDs(bs))
	}
	h.sim.StickServer(testRegion, "rsp-a", "i-1", 80, 0)
	if _, err := remove(cl, "rsp-a", servers("i-1:80")); err != nil {
		t.Fatal(err)
	}
	if bs, _ := h.sim.Backends(testRegion, "rsp-a"); len(bs) != 0 {
		t.Errorf("lifted sticky server still held: %s", backendIDs(bs))
	}
}

func TestMembersChangeBehindTheAPIsBack(t *testing.T) {
	h := start(t, Config{})
	seedGroup(h.sim, "rsp-a", 1)
	if err := h.sim.AddBackends(testRegion, "rsp-a", Backend{ServerID: "i-new", Port: 80, Weight: 20}, Backend{ServerID: "i-1", Port: 80, Weight: 50}); err != nil {
		t.Fatal(err)
	}
	if err := h.sim.SetWeight(testRegion, "rsp-a", "i-new", 80, 0); err != nil {
		t.Fatal(err)
	}
	d, err := describe(h.client(), "rsp-a")
	if err != nil {
		t.Fatal(err)
	}
	list := d.BackendServers.BackendServer
	if len(list) != 2 || list[0].Weight != 50 || list[1].ServerId != "i-new" || list[1].Weight != 0 || list[1].Type != "ecs" {
		t.Errorf("describe lists %+v", list)
	}
	// An added server is an instance of the account: removing it twice
	// through the API is fine.
	for range 2 {
		if _, err := remove(h.client(), "rsp-a", servers("i-new:80")); err != nil {
			t.Fatal(err)
		}
	}
	if err := h.sim.RemoveBackends(testRegion, "rsp-a", Backend{ServerID: "i-1", Port: 80}); err != nil {
		t.Fatal(err)
	}
	if bs, _ := h.sim.Backends(testRegion, "rsp-a"); len(bs) != 0 {
		t.Errorf("group holds %s", backendIDs(bs))
	}
	if st := h.sim.Stats(); st.Calls != 3 {
		t.Errorf("%d calls logged, want only the 3 API calls", st.Calls)
	}
	for _, err := range []error{
		h.sim.AddBackends("cn-beijing", "rsp-a", Backend{ServerID: "i-1", Port: 80}),
		h.sim.RemoveBackends(testRegion, "rsp-nope"),
		h.sim.SetWeight(testRegion, "rsp-nope", "i-1", 80, 0),
	} {
		if !errors.Is(err, ErrNoGroup) {
			t.Errorf("err %v, want ErrNoGroup", err)
		}
	}
	if err := h.sim.SetWeight(testRegion, "rsp-a", "i-1", 80, 0); !errors.Is(err, ErrNoBackend) {
		t.Errorf("err %v, want ErrNoBackend", err)
	}
}
