package messages

import (
	"errors"
	"reflect"
	"strings"
	"testing"
	"time"
)

// decodeCasesV2 are the rows of version 2's rules, and of version 1's
// refusal of version 2's fields.
func decodeCasesV2() []decodeCase {
	g, inst, rest := validDocV2, validDocInstances, validDocRestore
	return []decodeCase{
		{name: "v2 graceful example", body: g},
		{name: "v2 instance example", subject: testInstances, body: inst},
		{name: "v2 restore example", body: rest},
		{name: "v2 minimal group scope", body: `{"version":2,"request_id":"a","region_id":"cn-hangzhou","vserver_group_id":"rsp-cige6j5e7p","backend_servers":[{"server_id":"i","port":1}]}`},
		{name: "v2 minimal instance scope", subject: testInstances, body: `{"version":2,"request_id":"a","region_id":"cn-hangzhou","backend_servers":[{"server_id":"i"}]}`},
		{name: "v2 instance restore", subject: testInstances, body: delOf(rest, "vserver_group_id")},
		{name: "v2 version 2.0", body: setRawOf(g, "version", raw("2.0"))},

		// version 1 refuses the fields of version 2
		{name: "v1 action", body: set("action", "drain"), want: []string{"action: only in version 2"}},
		{name: "v1 action null", body: set("action", nil), want: []string{"action: only in version 2"}},
		{name: "v1 mode", body: set("mode", "graceful"), want: []string{"mode: only in version 2"}},
		{name: "v1 drain_timeout", body: set("drain_timeout", "30s"), want: []string{"drain_timeout: only in version 2"}},
		{name: "v1 dry_run", body: set("dry_run", true), want: []string{"dry_run: only in version 2"}},
		{name: "v1 force false", body: set("force", false), want: []string{"force: only in version 2"}},
		{name: "v1 restore_of", body: set("restore_of", "r-1"), want: []string{"restore_of: only in version 2"}},
		{name: "v1 weight", body: setServer("weight", 50), want: []string{"backend_servers[0].weight: only in version 2"}},
		{name: "v1 without group", body: del("vserver_group_id"), want: []string{"vserver_group_id: required"}},
		{name: "v1 port still required", body: setServer("port", deleteMarker), want: []string{"backend_servers[0].port: required"}},
		{name: "v1 on the instances subject", subject: testInstances, body: validDoc, want: []string{`vserver_group_id: does not match subject token "instances"`}, schemaSkip: "subject"},
		{name: "v1 without group on the instances subject", subject: testInstances, body: del("vserver_group_id"), want: []string{"vserver_group_id: required"}},

		// which rules judge a body of no valid version
		{name: "v2 version as a string judged by v2 rules", subject: testInstances, body: setOf(inst, "version", "2"), want: []string{"version: must be 1 or 2, got string"}},
		{name: "v2 version 3 judged by v2 rules", body: setOf(g, "version", 3), want: []string{"version: must be 1 or 2, got 3"}},
		{name: "v2 version missing judged by v2 rules", body: delOf(g, "version"), want: []string{"version: required"}},

		// scope and subject
		{name: "v2 group null is instance scope", subject: testInstances, body: setOf(inst, "vserver_group_id", nil)},
		{name: "v2 instance scope on a group subject", body: inst, want: []string{`vserver_group_id: absent (instance scope), so the subject token must be "instances", got "rsp-cige6j5e7p"`}, schemaSkip: "subject"},
		{name: "v2 group scope on the instances subject", subject: testInstances, body: g, want: []string{`vserver_group_id: does not match subject token "instances"`}, schemaSkip: "subject"},
		{name: "v2 group scope on another group", subject: "slb.drain.request.cn-hangzhou.rsp-other", body: g, want: []string{`vserver_group_id: does not match subject token "rsp-other"`}, schemaSkip: "subject"},
		{name: "v2 region differs from the instances subject", subject: "slb.drain.request.cn-beijing.instances", body: inst, want: []string{`region_id: does not match subject token "cn-beijing"`}, schemaSkip: "subject"},
		{name: "v2 group invalid", body: setOf(g, "vserver_group_id", "rsp-X"), want: []string{`vserver_group_id: must match rsp-[a-z0-9]+, got "rsp-X"`}},
		{name: "v2 group the instances token", subject: testInstances, body: setOf(g, "vserver_group_id", "instances"), want: []string{`vserver_group_id: must match rsp-[a-z0-9]+, got "instances"`}},
		{name: "v2 group a number", body: setOf(g, "vserver_group_id", 7), want: []string{"vserver_group_id: must be a string, got number"}},
		{name: "v2 group repeated", body: strings.Replace(g, `"vserver_group_id": "rsp-cige6j5e7p",`, `"vserver_group_id": "rsp-cige6j5e7p", "vserver_group_id": "rsp-cige6j5e7p",`, 1), want: []string{"vserver_group_id: duplicate field"}, schemaSkip: "a schema sees parsed JSON, where repeated names are gone"},

		// port by scope
		{name: "v2 group scope port missing", body: setServerOf(g, "port", deleteMarker), want: []string{"backend_servers[0].port: required in group scope"}},
		{name: "v2 group scope port null", body: setServerOf(g, "port", nil), want: []string{"backend_servers[0].port: must be an integer, got null"}},
		{name: "v2 instance scope port null", subject: testInstances, body: setServerOf(inst, "port", nil)},
		{name: "v2 instance scope port 0", subject: testInstances, body: setServerOf(inst, "port", 0), want: []string{"backend_servers[0].port: must be 1..65535, got 0"}},
		{name: "v2 instance scope port 65536", subject: testInstances, body: setServerOf(inst, "port", 65536), want: []string{"backend_servers[0].port: must be 1..65535, got 65536"}},
		{name: "v2 instance scope port 80.0", subject: testInstances, body: setServerRawOf(inst, "port", raw("80.0"))},
		{name: "v2 instance scope port string", subject: testInstances, body: setServerOf(inst, "port", "80"), want: []string{"backend_servers[0].port: must be an integer, got string"}},

		// action
		{name: "v2 action null", body: setOf(g, "action", nil)},
		{name: "v2 action missing", body: delOf(g, "action")},
		{name: "v2 action upper case", body: setOf(g, "action", "Drain"), want: []string{`action: must be one of drain, restore, got "Drain"`}},
		{name: "v2 action number", body: setOf(g, "action", 1), want: []string{"action: must be one of drain, restore, got 1"}},
		{name: "v2 action invalid, restore fields not judged by it", body: setOf(rest, "action", "undo"), want: []string{`action: must be one of drain, restore, got "undo"`}},

		// mode and drain_timeout
		{name: "v2 mode remove", body: delOf(setOf(g, "mode", "remove"), "drain_timeout")},
		{name: "v2 mode null", body: delOf(setOf(g, "mode", nil), "drain_timeout")},
		{name: "v2 mode unknown", body: setOf(g, "mode", "fast"), want: []string{`mode: must be one of remove, graceful, got "fast"`}},
		{name: "v2 mode number", body: setOf(g, "mode", 2), want: []string{"mode: must be one of remove, graceful, got 2"}},
		{name: "v2 mode in a restore", body: setOf(rest, "mode", "remove"), want: []string{"mode: only with action drain"}},
		{name: "v2 mode null in a restore", body: setOf(rest, "mode", nil)},
		{name: "v2 drain_timeout with mode remove", body: setOf(g, "mode", "remove"), want: []string{"drain_timeout: only with mode graceful"}},
		{name: "v2 drain_timeout without mode", body: delOf(g, "mode"), want: []string{"drain_timeout: only with mode graceful"}},
		{name: "v2 drain_timeout in a restore", body: setOf(rest, "drain_timeout", "30s"), want: []string{"drain_timeout: only with mode graceful"}},
		{name: "v2 drain_timeout null", body: setOf(g, "drain_timeout", nil)},
		{name: "v2 drain_timeout null with mode remove", body: setOf(setOf(g, "mode", "remove"), "drain_timeout", nil)},
		{name: "v2 drain_timeout 0s", body: setOf(g, "drain_timeout", "0s")},
		{name: "v2 drain_timeout 0", body: setOf(g, "drain_timeout", "0")},
		{name: "v2 drain_timeout 1h", body: setOf(g, "drain_timeout", "1h")},
		{name: "v2 drain_timeout 60m", body: setOf(g, "drain_timeout", "60m")},
		{name: "v2 drain_timeout 59m60s", body: setOf(g, "drain_timeout", "59m60s")},
		{name: "v2 drain_timeout 3599.999999999s", body: setOf(g, "drain_timeout", "3599.999999999s")},
		{name: "v2 drain_timeout 2m30s", body: setOf(g, "drain_timeout", "2m30s")},
		{name: "v2 drain_timeout +30s", body: setOf(g, "drain_timeout", "+30s")},
		{name: "v2 drain_timeout 1.5m", body: setOf(g, "drain_timeout", "1.5m")},
		{name: "v2 drain_timeout .5s", body: setOf(g, "drain_timeout", ".5s")},
		{name: "v2 drain_timeout 5.s", body: setOf(g, "drain_timeout", "5.s")},
		{name: "v2 drain_timeout micro sign", body: setOf(g, "drain_timeout", "7µs")},
		{name: "v2 drain_timeout Greek mu", body: setOf(g, "drain_timeout", "7μs")},
		{name: "v2 drain_timeout 1h0m0.000000001s", body: setOf(g, "drain_timeout", "1h0m0.000000001s"), want: []string{`drain_timeout: must be at most 1h, got "1h0m0.000000001s"`}},
		{name: "v2 drain_timeout 1h0.0000000001ns", body: setOf(g, "drain_timeout", "1h0.0000000001ns"), want: []string{"drain_timeout: must be at most 1h"}},
		{name: "v2 drain_timeout 2h", body: setOf(g, "drain_timeout", "2h"), want: []string{`drain_timeout: must be at most 1h, got "2h"`}},
		{name: "v2 drain_timeout overflowing", body: setOf(g, "drain_timeout", "99999999999999999999h"), want: []string{"drain_timeout: must be at most 1h"}},
		{name: "v2 drain_timeout negative", body: setOf(g, "drain_timeout", "-5s"), want: []string{`drain_timeout: must be a Go duration of 0s..1h, such as 90s or 2m30s, got "-5s"`}},
		{name: "v2 drain_timeout -0", body: setOf(g, "drain_timeout", "-0"), want: []string{"drain_timeout: must be a Go duration"}},
		{name: "v2 drain_timeout without unit", body: setOf(g, "drain_timeout", "30"), want: []string{"drain_timeout: must be a Go duration"}},
		{name: "v2 drain_timeout 00", body: setOf(g, "drain_timeout", "00"), want: []string{"drain_timeout: must be a Go duration"}},
		{name: "v2 drain_timeout with a space", body: setOf(g, "drain_timeout", "30 s"), want: []string{"drain_timeout: must be a Go duration"}},
		{name: "v2 drain_timeout days", body: setOf(g, "drain_timeout", "1d"), want: []string{"drain_timeout: must be a Go duration"}},
		{name: "v2 drain_timeout unit hm", body: setOf(g, "drain_timeout", "1hm"), want: []string{"drain_timeout: must be a Go duration"}},
		{name: "v2 drain_timeout bare dot", body: setOf(g, "drain_timeout", ".s"), want: []string{"drain_timeout: must be a Go duration"}},
		{name: "v2 drain_timeout empty", body: setOf(g, "drain_timeout", ""), want: []string{"drain_timeout: must be a Go duration"}},
		{name: "v2 drain_timeout ISO 8601", body: setOf(g, "drain_timeout", "PT30S"), want: []string{"drain_timeout: must be a Go duration"}},
		{name: "v2 drain_timeout number", body: setOf(g, "drain_timeout", 30), want: []string{"drain_timeout: must be a Go duration of 0s..1h, such as 90s or 2m30s, got number"}},

		// dry_run, force
		{name: "v2 dry_run true", body: setOf(g, "dry_run", true)},
		{name: "v2 dry_run null", body: setOf(g, "dry_run", nil)},
		{name: "v2 dry_run string", body: setOf(g, "dry_run", "true"), want: []string{"dry_run: must be a boolean, got string"}},
		{name: "v2 force number", body: setOf(g, "force", 1), want: []string{"force: must be a boolean, got number"}},
		{name: "v2 force null", body: setOf(g, "force", nil)},

		// restore_of
		{name: "v2 restore_of in a drain", body: setOf(g, "restore_of", "r-1"), want: []string{"restore_of: only with action restore"}},
		{name: "v2 restore_of null in a drain", body: setOf(g, "restore_of", nil)},
		{name: "v2 restore_of invalid", body: setOf(rest, "restore_of", "a b"), want: []string{`restore_of: must match [A-Za-z0-9._:-]{1,128}, got "a b"`}},
		{name: "v2 restore_of number", body: setOf(rest, "restore_of", 7), want: []string{"restore_of: must be a string, got number"}},
		{name: "v2 restore_of null", body: setOf(rest, "restore_of", nil)},

		// weight
		{name: "v2 weight in a drain", body: setServerOf(g, "weight", 50), want: []string{"backend_servers[0].weight: only with action restore"}},
		{name: "v2 weight in a default drain", subject: testInstances, body: setServerOf(inst, "weight", 0), want: []string{"backend_servers[0].weight: only with action restore"}},
		{name: "v2 weight null in a drain", body: setServerOf(g, "weight", nil)},
		{name: "v2 weight 0", body: setServerOf(rest, "weight", 0)},
		{name: "v2 weight 100", body: setServerOf(rest, "weight", 100)},
		{name: "v2 weight 5e1", body: setServerRawOf(rest, "weight", raw("5e1"))},
		{name: "v2 weight null", body: setServerOf(rest, "weight", nil)},
		{name: "v2 weight 101", body: setServerOf(rest, "weight", 101), want: []string{"backend_servers[0].weight: must be 0..100, got 101"}},
		{name: "v2 weight -1", body: setServerOf(rest, "weight", -1), want: []string{"backend_servers[0].weight: must be 0..100, got -1"}},
		{name: "v2 weight 50.5", body: setServerRawOf(rest, "weight", raw("50.5")), want: []string{"backend_servers[0].weight: must be an integer, got 50.5"}},
		{name: "v2 weight 1e-999999999999", body: setServerRawOf(rest, "weight", raw("1e-999999999999")), want: []string{"backend_servers[0].weight: must be an integer"}},
		{name: "v2 weight -1e999999999999", body: setServerRawOf(rest, "weight", raw("-1e999999999999")), want: []string{"backend_servers[0].weight: must be 0..100"}},
		{name: "v2 weight string", body: setServerOf(rest, "weight", "50"), want: []string{"backend_servers[0].weight: must be an integer, got string"}},
		{name: "v2 weight repeated", body: strings.Replace(rest, `"weight": 100`, `"weight": 100, "weight": 90`, 1), want: []string{"backend_servers[0].weight: duplicate field"}, schemaSkip: "a schema sees parsed JSON, where repeated names are gone"},

		// unknown and everything of version 1
		{name: "v2 unknown field", body: setOf(g, "timeout", "30s"), want: []string{`unknown field "timeout"`}},
		{name: "v2 unknown server field", body: setServerOf(g, "wieght", 1), want: []string{`backend_servers[0]: unknown field "wieght"`}},
		{name: "v2 request_id invalid", body: setOf(g, "request_id", "a b"), want: []string{"request_id: must match"}},
		{name: "v2 region_id missing", body: delOf(g, "region_id"), want: []string{"region_id: required"}},
		{name: "v2 backend_servers empty", body: setOf(g, "backend_servers", []any{}), want: []string{"backend_servers: must have 1..1000 entries, got 0"}},
		{name: "v2 server type invalid", body: setServerOf(g, "type", "ECS"), want: []string{"backend_servers[0].type: must be one of ecs, eni, eci"}},
		{name: "v2 deadline lower-case t", body: setOf(g, "deadline", "2026-11-27t10:00:00Z"), want: []string{"deadline: must be an RFC 3339 time"}},
		{name: "v2 deadline leap second", body: setOf(g, "deadline", "2026-12-31T23:59:60Z"), want: []string{"deadline: must be an RFC 3339 time"}},
		{name: "v2 deadline lower-case z", body: setOf(g, "deadline", "2026-11-27T10:00:00z"), want: []string{"deadline: must be an RFC 3339 time"}},
		{name: "v2 deadline past year 9999 in UTC", body: setOf(g, "deadline", "9999-12-31T23:00:00-05:00"), want: []string{"deadline: must be an RFC 3339 time, got year 10000 in UTC"}},
		{name: "v2 reason 257", body: setOf(g, "reason", strings.Repeat("r", 257)), want: []string{"reason: at most 256 characters, got 257"}},
	}
}

func TestDecodeV2Examples(t *testing.T) {
	d45 := 45 * time.Second
	deadline := time.Date(2026, 11, 27, 10, 0, 0, 0, time.UTC)
	for _, tc := range []struct {
		name, subject, body string
		want                DrainRequest
	}{
		{"graceful", testSubject, validDocV2, DrainRequest{
			Version: 2, RequestID: "asg-42-scalein-0002", RegionID: testRegion, VServerGroupID: testGroup,
			BackendServers: []BackendServer{
				{ServerID: "i-bp1a2b3c4d5e6f7g8h9", Port: 80, Type: TypeECS},
				{ServerID: "eni-bp1xyz", Port: 8080, Type: TypeENI},
			},
			Reason: "scale-in", Source: "ess-lifecycle-hook/asg-42", Deadline: &deadline,
			Action: ActionDrain, Mode: ModeGraceful, DrainTimeout: &d45,
		}},
		{"instances", testInstances, validDocInstances, DrainRequest{
			Version: 2, RequestID: "asg-42-scalein-0003", RegionID: testRegion,
			BackendServers: []BackendServer{
				{ServerID: "i-bp1a2b3c4d5e6f7g8h9", Type: TypeECS},
				{ServerID: "i-bp1zzz", Port: 443, Type: TypeECS},
			},
			Reason: "incident 7", Source: "drainctl",
			Action: ActionDrain, Mode: ModeRemove, DryRun: true, Force: true,
		}},
		{"restore", testSubject, validDocRestore, DrainRequest{
			Version: 2, RequestID: "asg-42-scaleout-0004", RegionID: testRegion, VServerGroupID: testGroup,
			BackendServers: []BackendServer{
				{ServerID: "i-bp1a2b3c4d5e6f7g8h9", Port: 80, Type: TypeECS, Weight: WeightOf(100)},
				{ServerID: "eni-bp1xyz", Port: 8080, Type: TypeENI, Weight: WeightOf(0)},
				{ServerID: "i-bp1yyy", Port: 80, Type: TypeECS},
			},
			Action: ActionRestore, RestoreOf: "asg-42-scalein-0002",
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := Decode(tc.subject, []byte(tc.body))
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(got, tc.want) {
				t.Errorf("Decode =\n%+v\nwant\n%+v", got, tc.want)
			}
			if got.Subject() != tc.subject {
				t.Errorf("Subject() = %s, want %s", got.Subject(), tc.subject)
			}
		})
	}
}

// The instance-scope subject is what the brief calls it, and a version-2
// request without a group is instance scope whatever its other fields.
func TestInstanceScope(t *testing.T) {
	r := DrainRequest{Version: 2, RegionID: testRegion}
	if !r.InstanceScope() || r.Subject() != "slb.drain.request.cn-hangzhou.instances" {
		t.Errorf("InstanceScope %v, Subject %s", r.InstanceScope(), r.Subject())
	}
	r.Version = 1
	if r.InstanceScope() || r.Subject() != "slb.drain.request.cn-hangzhou." {
		t.Errorf("version 1: InstanceScope %v, Subject %s", r.InstanceScope(), r.Subject())
	}
}

func TestDecodeV2Defaults(t *testing.T) {
	body := `{"version":2,"request_id":"a","region_id":"cn-hangzhou","vserver_group_id":"rsp-1","backend_servers":[{"server_id":"i","port":1}]}`
	got, err := Decode(RequestSubject(testRegion, "rsp-1"), []byte(body))
	if err != nil {
		t.Fatal(err)
	}
	if got.Action != ActionDrain || got.Mode != ModeRemove || got.DrainTimeout != nil || got.DryRun || got.Force {
		t.Errorf("defaults: %+v", got)
	}
	if got.DrainTimeoutOr(DefaultDrainTimeout) != 30*time.Second || got.ActionOrDefault() != ActionDrain || got.ModeOrDefault() != ModeRemove {
		t.Errorf("accessors: %v %v %v", got.DrainTimeoutOr(DefaultDrainTimeout), got.ActionOrDefault(), got.ModeOrDefault())
	}
	v1, err := Decode(testSubject, []byte(validDoc))
	if err != nil {
		t.Fatal(err)
	}
	if v1.Action != "" || v1.Mode != "" || v1.ActionOrDefault() != ActionDrain || v1.ModeOrDefault() != ModeRemove {
		t.Errorf("version 1: %+v, %v %v", v1, v1.ActionOrDefault(), v1.ModeOrDefault())
	}
	restore := DrainRequest{Version: 2, Action: ActionRestore}
	if restore.ModeOrDefault() != "" {
		t.Errorf("restore mode %q", restore.ModeOrDefault())
	}
}

// Duplicates are folded by (server_id, port, type): of a server named twice
// with different weights, the first weight wins; an entry for every port and
// one for a port are not duplicates.
func TestDecodeV2Folds(t *testing.T) {
	body := setOf(validDocRestore, "backend_servers", []any{
		map[string]any{"server_id": "i-1", "port": 80, "weight": 10},
		map[string]any{"server_id": "i-1", "port": 80, "type": "ecs", "weight": 20},
		map[string]any{"server_id": "i-1", "port": 80},
		map[string]any{"server_id": "i-1", "port": 81},
	})
	got, err := Decode(testSubject, []byte(body))
	if err != nil {
		t.Fatal(err)
	}
	want := []BackendServer{{ServerID: "i-1", Port: 80, Type: TypeECS, Weight: WeightOf(10)}, {ServerID: "i-1", Port: 81, Type: TypeECS}}
	if !reflect.DeepEqual(got.BackendServers, want) {
		t.Errorf("servers %v, want %v", got.BackendServers, want)
	}
	body = setOf(validDocInstances, "backend_servers", []any{
		map[string]any{"server_id": "i-1"},
		map[string]any{"server_id": "i-1", "port": 80},
		map[string]any{"server_id": "i-1", "port": nil},
	})
	got, err = Decode(testInstances, []byte(body))
	if err != nil {
		t.Fatal(err)
	}
	want = []BackendServer{{ServerID: "i-1", Type: TypeECS}, {ServerID: "i-1", Port: 80, Type: TypeECS}}
	if !reflect.DeepEqual(got.BackendServers, want) {
		t.Errorf("servers %v, want %v", got.BackendServers, want)
	}
}

func TestDecodeV2ListsEveryViolation(t *testing.T) {
	body := `{"version":2,"request_id":"r-1","region_id":"cn-hangzhou","action":"drain","vserver_group_id":"rsp-1",` +
		`"backend_servers":[{"server_id":"i-1","weight":5},{"server_id":"i-2","port":80}],` +
		`"mode":"remove","drain_timeout":"30s","dry_run":"yes","restore_of":"r-0","extra":1}`
	_, err := Decode(RequestSubject(testRegion, "rsp-1"), []byte(body))
	var ve *ValidationError
	if !errors.As(err, &ve) {
		t.Fatalf("err = %v", err)
	}
	want := []Violation{
		{"backend_servers[0].port", "required in group scope"},
		{"backend_servers[0].weight", "only with action restore"},
		{"drain_timeout", "only with mode graceful"},
		{"dry_run", "must be a boolean, got string"},
		{"restore_of", "only with action restore"},
		{"", `unknown field "extra"`},
	}
	if !reflect.DeepEqual(ve.Violations, want) {
		t.Errorf("violations:\n%q\nwant\n%q", ve.Violations, want)
	}
}

func TestDecodeV2RequestIDAndVersionOnError(t *testing.T) {
	got, err := Decode(testSubject, []byte(setOf(validDocV2, "mode", "fast")))
	if err == nil || got.RequestID != "asg-42-scalein-0002" || got.Version != 2 {
		t.Errorf("Decode = %+v, %v", got, err)
	}
	got, err = Decode(testSubject, []byte(setOf(validDocV2, "version", 7)))
	if err == nil || got.Version != 0 {
		t.Errorf("Decode = %+v, %v", got, err)
	}
}

func TestParseDrainTimeout(t *testing.T) {
	for _, tc := range []struct {
		s          string
		d          time.Duration
		syntax, ok bool
	}{
		{"0", 0, true, true},
		{"+0", 0, true, true},
		{"0s", 0, true, true},
		{"90s", 90 * time.Second, true, true},
		{"1h", time.Hour, true, true},
		{"1.5m", 90 * time.Second, true, true},
		{"0.5ns", 0, true, true},
		{"1us1µs1μs", 3 * time.Microsecond, true, true},
		{"59m59.999999999999s", 59*time.Minute + 59*time.Second + 999999999, true, true},
		{"1h0.1ns", 0, true, false},
		{"3600000000001ns", 0, true, false},
		{"9223372036854775808ns", 0, true, false},
		{"-1s", 0, false, false},
		{"1", 0, false, false},
		{"1x", 0, false, false},
		{"s", 0, false, false},
		{"1h 1m", 0, false, false},
		{"", 0, false, false},
	} {
		d, syntax, ok := parseDrainTimeout(tc.s)
		if d != tc.d || syntax != tc.syntax || ok != tc.ok {
			t.Errorf("parseDrainTimeout(%q) = %v, %v, %v; want %v, %v, %v", tc.s, d, syntax, ok, tc.d, tc.syntax, tc.ok)
		}
		// Where time.ParseDuration reads it and it is in range, the value
		// is the same.
		if pd, err := time.ParseDuration(tc.s); err == nil && ok && pd != d {
			t.Errorf("%q: %v, time.ParseDuration %v", tc.s, d, pd)
		}
	}
}

func TestWeight(t *testing.T) {
	var w Weight
	if w.IsSet() || w.Or(100) != 100 || w.String() != "unset" {
		t.Errorf("zero Weight: %v %v %v", w.IsSet(), w.Or(100), w)
	}
	w = WeightOf(0)
	if n, set := w.Get(); !set || n != 0 || w.Or(100) != 0 || w.String() != "0" {
		t.Errorf("WeightOf(0): %v %v %v", n, set, w)
	}
	for lit, want := range map[string]Weight{"null": {}, "50": WeightOf(50), "5e1": WeightOf(50), "-3": WeightOf(-3)} {
		var got Weight
		if err := got.UnmarshalJSON([]byte(lit)); err != nil || got != want {
			t.Errorf("UnmarshalJSON(%s) = %v, %v", lit, got, err)
		}
	}
	for _, lit := range []string{`"50"`, "50.5", "true", "1e99", ""} {
		var got Weight
		if err := got.UnmarshalJSON([]byte(lit)); err == nil {
			t.Errorf("UnmarshalJSON(%s) = %v", lit, got)
		}
	}
	b := BackendServer{ServerID: "i-1", Port: 80, Weight: WeightOf(5)}
	if b.Key() != (BackendServer{ServerID: "i-1", Port: 80, Type: TypeECS}) || b.String() != "i-1:80:ecs" {
		t.Errorf("Key %v String %s", b.Key(), b)
	}
}
