package messages

import (
	"bytes"
	"encoding/json"
	"errors"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"
)

func validRequest() DrainRequest {
	deadline := time.Date(2026, 11, 27, 10, 0, 0, 0, time.UTC)
	return DrainRequest{
		Version:        1,
		RequestID:      "asg-42-scalein-0001",
		RegionID:       testRegion,
		VServerGroupID: testGroup,
		BackendServers: []BackendServer{
			{ServerID: "i-bp1a2b3c4d5e6f7g8h9", Port: 80, Type: TypeECS},
			{ServerID: "eni-bp1xyz", Port: 8080, Type: TypeENI},
		},
		Reason:   "scale-in",
		Source:   "ess-lifecycle-hook/asg-42",
		Deadline: &deadline,
	}
}

func TestValidateTable(t *testing.T) {
	year10000 := time.Date(10000, 1, 1, 0, 0, 0, 0, time.UTC)
	for _, tc := range []struct {
		name string
		edit func(r *DrainRequest)
		want string // a substring of the error; "" for valid
	}{
		{"valid", func(r *DrainRequest) {}, ""},
		{"version 0", func(r *DrainRequest) { r.Version = 0 }, "version: must be 1, got 0"},
		{"version 2", func(r *DrainRequest) { r.Version = 2 }, "version: must be 1, got 2"},
		{"request_id empty", func(r *DrainRequest) { r.RequestID = "" }, `request_id: must match [A-Za-z0-9._:-]{1,128}, got ""`},
		{"request_id 129", func(r *DrainRequest) { r.RequestID = strings.Repeat("a", 129) }, "request_id: must match"},
		{"region_id", func(r *DrainRequest) { r.RegionID = "cn" }, "region_id: must match"},
		{"vserver_group_id", func(r *DrainRequest) { r.VServerGroupID = "rsp-" }, "vserver_group_id: must match"},
		{"no servers", func(r *DrainRequest) { r.BackendServers = nil }, "backend_servers: must have 1..1000 entries, got 0"},
		{"1001 servers", func(r *DrainRequest) {
			r.BackendServers = make([]BackendServer, 1001)
			for i := range r.BackendServers {
				r.BackendServers[i] = BackendServer{ServerID: "i-1", Port: 80}
			}
		}, "backend_servers: must have 1..1000 entries, got 1001"},
		{"server_id", func(r *DrainRequest) { r.BackendServers[1].ServerID = "a.b" }, `backend_servers[1].server_id: must match [A-Za-z0-9_-]{1,64}, got "a.b"`},
		{"port 0", func(r *DrainRequest) { r.BackendServers[1].Port = 0 }, "backend_servers[1].port: must be 1..65535, got 0"},
		{"port 65536", func(r *DrainRequest) { r.BackendServers[0].Port = 65536 }, "backend_servers[0].port: must be 1..65535, got 65536"},
		{"type", func(r *DrainRequest) { r.BackendServers[0].Type = "ECS" }, `backend_servers[0].type: must be one of ecs, eni, eci, got "ECS"`},
		{"type defaulted", func(r *DrainRequest) { r.BackendServers[0].Type = "" }, ""},
		{"reason 256 runes", func(r *DrainRequest) { r.Reason = strings.Repeat("界", 256) }, ""},
		{"reason 257 runes", func(r *DrainRequest) { r.Reason = strings.Repeat("界", 257) }, "reason: at most 256 characters, got 257"},
		{"reason invalid UTF-8", func(r *DrainRequest) { r.Reason = "\xff" }, "reason: must be valid UTF-8"},
		{"source 300", func(r *DrainRequest) { r.Source = strings.Repeat("s", 300) }, "source: at most 256 characters, got 300"},
		{"deadline none", func(r *DrainRequest) { r.Deadline = nil }, ""},
		{"deadline year 10000", func(r *DrainRequest) { r.Deadline = &year10000 }, "deadline: must be an RFC 3339 time"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := validRequest()
			tc.edit(&r)
			err := r.Validate()
			if tc.want == "" {
				if err != nil {
					t.Fatal(err)
				}
				return
			}
			var ve *ValidationError
			if !errors.As(err, &ve) || len(ve.Violations) != 1 || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("Validate = %v, want one violation containing %q", err, tc.want)
			}
			if again := r.Validate(); again == nil || again.Error() != err.Error() {
				t.Errorf("second Validate = %v, first %v", again, err)
			}
			// Whatever Validate refuses, Decode refuses too once encoded
			// (when it can be encoded at all; JSON has no invalid UTF-8).
			if strings.Contains(tc.name, "UTF-8") {
				return
			}
			if data, err := json.Marshal(r); err == nil {
				if _, err := Decode(testSubject, data); err == nil {
					t.Errorf("Decode accepted %s", data)
				}
			}
		})
	}
}

func TestValidateNormalises(t *testing.T) {
	r := validRequest()
	r.BackendServers = []BackendServer{
		{ServerID: "i-2", Port: 80},
		{ServerID: "i-1", Port: 80, Type: "ecs"},
		{ServerID: "i-2", Port: 80, Type: "ecs"},
		{ServerID: "i-2", Port: 80, Type: "eci"},
		{ServerID: "i-1", Port: 80},
	}
	given := r.BackendServers
	original := slices.Clone(given)
	if err := r.Validate(); err != nil {
		t.Fatal(err)
	}
	want := []BackendServer{{"i-2", 80, "ecs"}, {"i-1", 80, "ecs"}, {"i-2", 80, "eci"}}
	if !reflect.DeepEqual(r.BackendServers, want) {
		t.Errorf("servers %v, want %v", r.BackendServers, want)
	}
	if !reflect.DeepEqual(given, original) {
		t.Errorf("Validate changed the caller's array: %v", given)
	}
}

func TestValidateListsEveryViolation(t *testing.T) {
	r := DrainRequest{BackendServers: []BackendServer{{ServerID: "", Port: 0, Type: "x"}}}
	err := r.Validate()
	var ve *ValidationError
	if !errors.As(err, &ve) {
		t.Fatalf("Validate = %v", err)
	}
	if err2 := r.Validate(); err2 == nil || err2.Error() != err.Error() {
		t.Errorf("second Validate = %v", err2)
	}
	var fields []string
	for _, v := range ve.Violations {
		fields = append(fields, v.Field)
	}
	want := []string{"version", "request_id", "region_id", "vserver_group_id",
		"backend_servers[0].server_id", "backend_servers[0].port", "backend_servers[0].type"}
	if !reflect.DeepEqual(fields, want) {
		t.Errorf("fields %v, want %v", fields, want)
	}
}

func TestValidationErrorMessage(t *testing.T) {
	err := &ValidationError{Violations: []Violation{
		{"backend_servers[3].port", "must be 1..65535, got 0"},
		{"request_id", "required"},
		{"", `unknown field "backend_server"`},
	}}
	const want = `invalid drain request: backend_servers[3].port: must be 1..65535, got 0; request_id: required; unknown field "backend_server"`
	if err.Error() != want {
		t.Errorf("Error() = %s", err)
	}
}

// TestRequestMarshalJSON: MarshalJSON writes what encoding/json
// would (same names, same values), reads back unchanged, and leaves HTML
// characters alone.
func TestRequestMarshalJSON(t *testing.T) {
	r := validRequest()
	r.Reason = `<a & "b">` + "\n\u2028"
	d := time.Date(2026, 11, 27, 18, 0, 0, 123456789, time.FixedZone("CST", 8*3600))
	r.Deadline = &d
	got, err := json.Marshal(r)
	if err != nil {
		t.Fatal(err)
	}
	type plain DrainRequest // no MarshalJSON method
	want, err := json.Marshal(plain(r))
	if err != nil {
		t.Fatal(err)
	}
	var gotMap, wantMap map[string]any
	json.Unmarshal(got, &gotMap)
	json.Unmarshal(want, &wantMap)
	wantMap["deadline"] = "2026-11-27T10:00:00.123456789Z" // ours is in UTC
	if !reflect.DeepEqual(gotMap, wantMap) {
		t.Errorf("got  %s\nwant %s", got, want)
	}
	direct, _ := r.MarshalJSON()
	if !bytes.Contains(direct, []byte(`"reason":"<a & \"b\">\n\u2028"`)) {
		t.Errorf("MarshalJSON = %s", direct)
	}
	back, err := Decode(testSubject, direct)
	if err != nil {
		t.Fatal(err)
	}
	if back.Reason != r.Reason || !back.Deadline.Equal(*r.Deadline) {
		t.Errorf("round trip: %+v", back)
	}
	// Empty lists encode as [], not null.
	empty, _ := DrainRequest{}.MarshalJSON()
	if !bytes.Contains(empty, []byte(`"backend_servers":[]`)) || bytes.Contains(empty, []byte("deadline")) {
		t.Errorf("empty request = %s", empty)
	}
}
