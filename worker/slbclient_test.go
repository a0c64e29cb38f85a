package worker

import (
	"testing"

	"github.com/go-json-experiment/json"

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
