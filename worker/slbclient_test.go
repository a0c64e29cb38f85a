package worker

import (
	"testing"
	"time"

	"github.com/go-json-experiment/json"

	"github.com/slbdrain/slbdrain/internal/slbsim"
	"github.com/slbdrain/slbdrain/messages"
)

func TestEncodeBackendServersIsTheAPIsParameter(t *testing.T) {
	got := encodeBackendServers([]messages.BackendServer{
		{ServerID: "i-bp1", Port: 80, Type: "ecs"},
		{ServerID: "eni-x", Port: 8080, Type: "eni"},
		{ServerID: "i-untyped", Port: 443},
	})
	want := `[{"ServerId":"i-bp1","Port":"80","Type":"ecs"},{"ServerId":"eni-x","Port":"8080","Type":"eni"},{"ServerId":"i-untyped","Port":"443","Type":"ecs"}]`
	if got != want {
		t.Errorf("got  %s\nwant %s", got, want)
	}
}

func TestProgressNoteWireForm(t *testing.T) {
	data, err := json.Marshal(messages.Progress{RequestID: "asg-42:a_b.c-1", Removed: 40, Total: 45})
	if err != nil {
		t.Fatal(err)
	}
	if want := `{"request_id":"asg-42:a_b.c-1","removed":40,"total":45}`; string(data) != want {
		t.Errorf("got %s, want %s", data, want)
	}
}

func TestEncodeWeightedServers(t *testing.T) {
	got := encodeWeighted([]WeightedServer{
		{messages.BackendServer{ServerID: "i-1", Port: 80, Type: "ecs"}, 0},
		{messages.BackendServer{ServerID: "i-2", Port: 443}, 100},
	})
	want := `[{"ServerId":"i-1","Port":"80","Type":"ecs","Weight":"0"},{"ServerId":"i-2","Port":"443","Type":"ecs","Weight":"100"}]`
	if got != want {
		t.Errorf("got  %s\nwant %s", got, want)
	}
}

// The adapter's read and weight calls through the real SDK and the emulator.
func TestSDKAdapterDescribeSetAdd(t *testing.T) {
	h := newHarness(t, slbsim.Config{})
	servers := h.seedGroup("rsp-weights", 3)
	factory, err := NewSDKRemoverFactory(SDKConfig{Endpoint: h.simURL, ReadTimeout: 2 * time.Second, Credential: staticAK(testAK, testSecret)})
	if err != nil {
		t.Fatal(err)
	}
	api, err := factory()
	if err != nil {
		t.Fatal(err)
	}
	info, err := api.DescribeGroup(testRegion, "rsp-weights")
	if err != nil {
		t.Fatal(err)
	}
	if info.LoadBalancerID == "" || info.RequestID == "" || len(info.Servers) != 3 || info.Servers[0].Weight != 100 {
		t.Fatalf("describe: %+v", info)
	}
	res, err := api.SetWeights(testRegion, "rsp-weights", []WeightedServer{{servers[0], 0}})
	if err != nil {
		t.Fatal(err)
	}
	weights := map[string]int{}
	for _, s := range res.Servers {
		weights[s.ServerID] = s.Weight
	}
	if weights[servers[0].ServerID] != 0 || weights[servers[1].ServerID] != 100 {
		t.Errorf("after setting weight 0: %v", weights)
	}
	if _, err := api.RemoveBackendServers(testRegion, "rsp-weights", servers[:1]); err != nil {
		t.Fatal(err)
	}
	res, err = api.AddBackendServers(testRegion, "rsp-weights", []WeightedServer{{servers[0], 40}})
	if err != nil {
		t.Fatal(err)
	}
	found := false
	for _, s := range res.Servers {
		found = found || (s.ServerID == servers[0].ServerID && s.Weight == 40)
	}
	if !found {
		t.Errorf("after adding with weight 40 the answer lists %+v", res.Servers)
	}
}
