package messages

import (
	"strings"
	"testing"
)

func TestParseTraceParent(t *testing.T) {
	const id = "4bf92f3577b34da6a3ce929d0e0e4736"
	for h, want := range map[string]string{
		"00-" + id + "-00f067aa0ba902b7-01":                       id,
		"01-" + id + "-00f067aa0ba902b7-00-xyz":                   id,
		"00-" + id + "-00f067aa0ba902b7-01-x":                     "",
		"ff-" + id + "-00f067aa0ba902b7-01":                       "",
		"00-00000000000000000000000000000000-00f067aa0ba902b7-01": "",
		"00-" + id + "-0000000000000000-01":                       "",
		"00-" + strings.ToUpper(id) + "-00f067aa0ba902b7-01":      "",
		"00-" + id + "-00f067aa0ba902b7":                          "",
		"":                                                        "",
	} {
		got, ok := ParseTraceParent(h)
		if got != want || ok != (want != "") {
			t.Errorf("ParseTraceParent(%q) = %q, %v; want %q", h, got, ok, want)
		}
	}
	if !ValidTraceID(id) || ValidTraceID(strings.Repeat("0", 32)) || ValidTraceID(id[1:]) {
		t.Error("ValidTraceID")
	}
}
