package messages

import (
	"reflect"
	"testing"
)

func TestFoldServers(t *testing.T) {
	list := []BackendServer{
		{ServerID: "i-2", Port: 80},
		{ServerID: "i-1", Port: 80, Type: TypeECS},
		{ServerID: "i-2", Port: 80, Type: TypeECS}, // same as the first: empty type is ecs
		{ServerID: "i-2", Port: 80, Type: TypeECI},
		{ServerID: "i-1", Port: 81},
		{ServerID: "i-1", Port: 80},
	}
	got := FoldServers(list)
	want := []BackendServer{{ServerID: "i-2", Port: 80, Type: "ecs"}, {ServerID: "i-1", Port: 80, Type: "ecs"}, {ServerID: "i-2", Port: 80, Type: "eci"}, {ServerID: "i-1", Port: 81, Type: "ecs"}}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("FoldServers = %v, want %v", got, want)
	}
	if tail := list[len(got):]; !reflect.DeepEqual(tail, make([]BackendServer, len(tail))) {
		t.Errorf("elements past the result = %v, want them zeroed", tail)
	}
}

// TestFoldLongList covers the map-based fold used for long lists.
func TestFoldLongList(t *testing.T) {
	var list, want []BackendServer
	for i := range 300 {
		b := BackendServer{ServerID: "i-1", Port: i%100 + 1}
		list = append(list, b)
		if i < 100 {
			b.Type = TypeECS
			want = append(want, b)
		}
	}
	if got := FoldServers(list); !reflect.DeepEqual(got, want) {
		t.Errorf("fold kept %d of 300, want the first 100 in order, typed ecs", len(got))
	}
}
