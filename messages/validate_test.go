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
		{"version 0", func(r *DrainRequest) { r.Version = 0 }, "version: must be 1 or 2, got 0"},
		{"version 3", func(r *DrainRequest) { r.Version = 3 }, "version: must be 1 or 2, got 3"},
		{"version 2", func(r *DrainRequest) { r.Version = 2 }, ""},
		{"version 1 with an action", func(r *DrainRequest) { r.Action = ActionDrain }, "action: only in version 2"},
		{"version 1 with dry_run", func(r *DrainRequest) { r.DryRun = true }, "dry_run: only in version 2"},
		{"version 1 with a weight", func(r *DrainRequest) { r.BackendServers[1].Weight = WeightOf(1) }, "backend_servers[1].weight: only in version 2"},
		{"version 1 without group", func(r *DrainRequest) { r.VServerGroupID = "" }, `vserver_group_id: must match rsp-[a-z0-9]+, got ""`},
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

func validRequestV2() DrainRequest {
	d := 45 * time.Second
	return DrainRequest{
		Version:        2,
		RequestID:      "asg-42-scalein-0002",
		RegionID:       testRegion,
		VServerGroupID: testGroup,
		BackendServers: []BackendServer{
			{ServerID: "i-bp1a2b3c4d5e6f7g8h9", Port: 80, Type: TypeECS},
			{ServerID: "eni-bp1xyz", Port: 8080, Type: TypeENI},
		},
		Mode:         ModeGraceful,
		DrainTimeout: &d,
	}
}

// TestValidateTableV2: Validate judges a version-2 request as Decode judges
// its encoding, valid or not.
func TestValidateTableV2(t *testing.T) {
	hour := time.Hour
	over := time.Hour + 1
	negative := -time.Second
	for _, tc := range []struct {
		name string
		edit func(r *DrainRequest)
		want string // a substring of the error; "" for valid
	}{
		{"valid", func(r *DrainRequest) {}, ""},
		{"instance scope", func(r *DrainRequest) { r.VServerGroupID = ""; r.BackendServers[0].Port = 0 }, ""},
		{"instance scope restore", func(r *DrainRequest) {
			r.VServerGroupID, r.Action, r.Mode, r.DrainTimeout = "", ActionRestore, "", nil
			r.BackendServers[0].Weight = WeightOf(0)
		}, ""},
		{"every port in group scope", func(r *DrainRequest) { r.BackendServers[0].Port = 0 }, "backend_servers[0].port: required in group scope"},
		{"port 65536", func(r *DrainRequest) { r.BackendServers[0].Port = 65536 }, "backend_servers[0].port: must be 1..65535, got 65536"},
		{"action unknown", func(r *DrainRequest) { r.Action = "undo" }, `action: must be one of drain, restore, got "undo"`},
		{"mode unknown", func(r *DrainRequest) { r.Mode = "fast"; r.DrainTimeout = nil }, `mode: must be one of remove, graceful, got "fast"`},
		{"drain_timeout 1h", func(r *DrainRequest) { r.DrainTimeout = &hour }, ""},
		{"drain_timeout over 1h", func(r *DrainRequest) { r.DrainTimeout = &over }, `drain_timeout: must be at most 1h, got "1h0m0.000000001s"`},
		{"drain_timeout negative", func(r *DrainRequest) { r.DrainTimeout = &negative }, `drain_timeout: must be a Go duration of 0s..1h, such as 90s or 2m30s, got "-1s"`},
		{"drain_timeout with mode remove", func(r *DrainRequest) { r.Mode = ModeRemove }, "drain_timeout: only with mode graceful"},
		{"drain_timeout without mode", func(r *DrainRequest) { r.Mode = "" }, "drain_timeout: only with mode graceful"},
		{"weight in a drain", func(r *DrainRequest) { r.BackendServers[0].Weight = WeightOf(5) }, "backend_servers[0].weight: only with action restore"},
		{"weight 101", func(r *DrainRequest) {
			r.Action, r.Mode, r.DrainTimeout = ActionRestore, "", nil
			r.BackendServers[0].Weight = WeightOf(101)
		}, "backend_servers[0].weight: must be 0..100, got 101"},
		{"mode in a restore", func(r *DrainRequest) { r.Action, r.DrainTimeout = ActionRestore, nil }, "mode: only with action drain"},
		{"restore_of in a drain", func(r *DrainRequest) { r.RestoreOf = "r-1" }, "restore_of: only with action restore"},
		{"restore_of invalid", func(r *DrainRequest) { r.Action, r.Mode, r.DrainTimeout, r.RestoreOf = ActionRestore, "", nil, "a/b" }, `restore_of: must match [A-Za-z0-9._:-]{1,128}, got "a/b"`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := validRequestV2()
			tc.edit(&r)
			subject := r.Subject()
			data, err := json.Marshal(r)
			if err != nil {
				t.Fatal(err)
			}
			decoded, decodeErr := Decode(subject, data)
			err = r.Validate()
			if tc.want == "" {
				if err != nil || decodeErr != nil {
					t.Fatalf("Validate = %v, Decode = %v of %s", err, decodeErr, data)
				}
				if !sameRequest(r, decoded) {
					t.Errorf("Validate left\n%+v\nDecode read\n%+v", r, decoded)
				}
				return
			}
			var ve *ValidationError
			if !errors.As(err, &ve) || len(ve.Violations) != 1 || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("Validate = %v, want one violation containing %q", err, tc.want)
			}
			if decodeErr == nil || decodeErr.Error() != err.Error() {
				t.Errorf("Decode = %v, Validate %v, of %s", decodeErr, err, data)
			}
		})
	}
}

func TestValidateNormalisesV2(t *testing.T) {
	r := DrainRequest{Version: 2, RequestID: "r", RegionID: testRegion, BackendServers: []BackendServer{{ServerID: "i-1"}, {ServerID: "i-1", Type: "ecs"}}}
	if err := r.Validate(); err != nil {
		t.Fatal(err)
	}
	if r.Action != ActionDrain || r.Mode != ModeRemove || len(r.BackendServers) != 1 || r.BackendServers[0].Type != TypeECS {
		t.Errorf("normalised to %+v", r)
	}
	r = DrainRequest{Version: 2, RequestID: "r", RegionID: testRegion, Action: ActionRestore, BackendServers: []BackendServer{{ServerID: "i-1"}}}
	if err := r.Validate(); err != nil || r.Mode != "" {
		t.Errorf("restore: %v, mode %q", err, r.Mode)
	}
}

// A version-1 request encodes as it always has: the contract's example,
// byte for byte.
func TestRequestMarshalJSONV1Golden(t *testing.T) {
	got, err := validRequest().MarshalJSON()
	if err != nil {
		t.Fatal(err)
	}
	const want = `{"version":1,"request_id":"asg-42-scalein-0001","region_id":"cn-hangzhou","vserver_group_id":"rsp-cige6j5e7p",` +
		`"backend_servers":[{"server_id":"i-bp1a2b3c4d5e6f7g8h9","port":80,"type":"ecs"},{"server_id":"eni-bp1xyz","port":8080,"type":"eni"}],` +
		`"reason":"scale-in","source":"ess-lifecycle-hook/asg-42","deadline":"2026-11-27T10:00:00Z"}`
	if string(got) != want {
		t.Errorf("got  %s\nwant %s", got, want)
	}
}

func TestRequestMarshalJSONV2(t *testing.T) {
	r := validRequestV2()
	r.DryRun, r.Force = true, true
	got, err := r.MarshalJSON()
	if err != nil {
		t.Fatal(err)
	}
	const want = `{"version":2,"request_id":"asg-42-scalein-0002","region_id":"cn-hangzhou","vserver_group_id":"rsp-cige6j5e7p",` +
		`"backend_servers":[{"server_id":"i-bp1a2b3c4d5e6f7g8h9","port":80,"type":"ecs"},{"server_id":"eni-bp1xyz","port":8080,"type":"eni"}],` +
		`"mode":"graceful","drain_timeout":"45s","dry_run":true,"force":true}`
	if string(got) != want {
		t.Errorf("got  %s\nwant %s", got, want)
	}
	inst := DrainRequest{Version: 2, RequestID: "r", RegionID: testRegion, Action: ActionRestore, RestoreOf: "q",
		BackendServers: []BackendServer{{ServerID: "i-1", Weight: WeightOf(0)}, {ServerID: "i-2", Port: 80}}}
	got, _ = inst.MarshalJSON()
	const wantInst = `{"version":2,"request_id":"r","action":"restore","region_id":"cn-hangzhou",` +
		`"backend_servers":[{"server_id":"i-1","weight":0},{"server_id":"i-2","port":80}],"restore_of":"q"}`
	if string(got) != wantInst {
		t.Errorf("got  %s\nwant %s", got, wantInst)
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
	want := []BackendServer{{ServerID: "i-2", Port: 80, Type: "ecs"}, {ServerID: "i-1", Port: 80, Type: "ecs"}, {ServerID: "i-2", Port: 80, Type: "eci"}}
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
