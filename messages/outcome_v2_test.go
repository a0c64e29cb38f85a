package messages

import (
	"bytes"
	"encoding/json"
	"reflect"
	"strings"
	"testing"
	"time"
)

// exampleOutcomeV2 is the event of a graceful drain of validDocV2's first
// server that learnt its weight.
func exampleOutcomeV2() Outcome {
	at := func(ms int) time.Time {
		return time.Date(2026, 11, 27, 9, 59, 58, 0, time.UTC).Add(time.Duration(ms) * time.Millisecond)
	}
	return Outcome{
		Version:        2,
		RequestID:      "asg-42-scalein-0002",
		Status:         StatusCompleted,
		Action:         ActionDrain,
		Mode:           ModeGraceful,
		RegionID:       "cn-hangzhou",
		VServerGroupID: "rsp-cige6j5e7p",
		BackendServers: []BackendServer{{ServerID: "i-bp1a2b3c4d5e6f7g8h9", Port: 80, Type: "ecs"}},
		Groups: []Group{{
			LoadBalancerID: "lb-bp1o94dp5i6earr9g6d1l",
			VServerGroupID: "rsp-cige6j5e7p",
			BackendServers: []BackendServer{{ServerID: "i-bp1a2b3c4d5e6f7g8h9", Port: 80, Type: "ecs", Weight: WeightOf(100)}},
			WeightZeroAt:   at(300),
			RemovedAt:      at(45400),
		}},
		APIRequestIDs:  []string{"5B8A6A2C-0C6F-4E0B-9D4A-4D6E2F8E1A01", "9DEC9C28-AB05-4DDF-9A78-6B08EC9CE18C"},
		Attempts:       2,
		ReceivedAt:     at(120),
		FinishedAt:     at(45410),
		Source:         "ess-lifecycle-hook/asg-42",
		Reason:         "scale-in",
		TraceID:        "4bf92f3577b34da6a3ce929d0e0e4736",
		StreamSequence: 1043,
	}
}

// goldenOutcomeV2 is exampleOutcomeV2 as MarshalJSON writes it: the shape
// of a version-2 event, field order included.
const goldenOutcomeV2 = `{
  "version": 2,
  "request_id": "asg-42-scalein-0002",
  "status": "completed",
  "action": "drain",
  "mode": "graceful",
  "dry_run": false,
  "region_id": "cn-hangzhou",
  "vserver_group_id": "rsp-cige6j5e7p",
  "backend_servers": [{"server_id": "i-bp1a2b3c4d5e6f7g8h9", "port": 80, "type": "ecs"}],
  "groups": [{
    "load_balancer_id": "lb-bp1o94dp5i6earr9g6d1l",
    "vserver_group_id": "rsp-cige6j5e7p",
    "backend_servers": [{"server_id": "i-bp1a2b3c4d5e6f7g8h9", "port": 80, "type": "ecs", "weight": 100}],
    "weight_zero_at": "2026-11-27T09:59:58.300Z",
    "removed_at": "2026-11-27T10:00:43.400Z"
  }],
  "api_request_ids": ["5B8A6A2C-0C6F-4E0B-9D4A-4D6E2F8E1A01", "9DEC9C28-AB05-4DDF-9A78-6B08EC9CE18C"],
  "attempts": 2,
  "received_at": "2026-11-27T09:59:58.120Z",
  "finished_at": "2026-11-27T10:00:43.410Z",
  "error": null,
  "source": "ess-lifecycle-hook/asg-42",
  "reason": "scale-in",
  "trace_id": "4bf92f3577b34da6a3ce929d0e0e4736",
  "stream_sequence": 1043
}`

func compact(t *testing.T, s string) string {
	t.Helper()
	var b bytes.Buffer
	if err := json.Compact(&b, []byte(s)); err != nil {
		t.Fatal(err)
	}
	return b.String()
}

func TestOutcomeGoldenV2(t *testing.T) {
	got, err := json.Marshal(exampleOutcomeV2())
	if err != nil {
		t.Fatal(err)
	}
	if want := compact(t, goldenOutcomeV2); string(got) != want {
		t.Errorf("got\n%s\nwant\n%s", got, want)
	}
}

// A version-1 event is the contract's bytes whatever fields of version 2
// the worker set, and a version-1 request's servers never show a weight.
func TestOutcomeV1IgnoresV2Fields(t *testing.T) {
	o := exampleOutcome()
	o.Action, o.Mode, o.DryRun, o.TraceID = ActionDrain, ModeGraceful, true, "4bf92f3577b34da6a3ce929d0e0e4736"
	o.Groups = []Group{{LoadBalancerID: "lb-1", VServerGroupID: "rsp-1"}}
	o.BackendServers = []BackendServer{{ServerID: "i-bp1a2b3c4d5e6f7g8h9", Port: 80, Type: "ecs", Weight: WeightOf(7)}}
	got, err := json.Marshal(o)
	if err != nil {
		t.Fatal(err)
	}
	if want := compact(t, contractOutcome); string(got) != want {
		t.Errorf("got\n%s\nwant\n%s", got, want)
	}
	// Version 0 (never sent) encodes as version 1 did.
	o.Version = 0
	if got, _ := json.Marshal(o); !strings.HasPrefix(string(got), `{"version":0,"request_id"`) || strings.Contains(string(got), "trace_id") {
		t.Errorf("version 0: %s", got)
	}
}

func TestOutcomeV2Defaults(t *testing.T) {
	at := time.Date(2026, 11, 27, 9, 59, 58, 0, time.UTC)
	for _, tc := range []struct {
		name string
		o    Outcome
		has  []string
		lack []string
	}{
		{"defaults filled in", Outcome{Version: 2, RequestID: "r", Status: StatusRejected, VServerGroupID: "rsp-1", ReceivedAt: at, FinishedAt: at,
			Error: &Error{Code: CodeInvalidRequest, Message: "x"}},
			[]string{`"action":"drain","mode":"remove","dry_run":false`, `"backend_servers":[]`, `"api_request_ids":[]`},
			[]string{`"groups"`, `"trace_id"`, `"removed"`}},
		{"restore has no mode", Outcome{Version: 2, Status: StatusCompleted, Action: ActionRestore, Mode: ModeGraceful, VServerGroupID: "rsp-1"},
			[]string{`"action":"restore","dry_run":false`}, []string{`"mode"`}},
		{"instance scope always has groups", Outcome{Version: 2, Status: StatusCompleted, DryRun: true},
			[]string{`"dry_run":true`, `"vserver_group_id":""`, `"groups":[]`}, nil},
		{"empty groups kept", Outcome{Version: 2, Status: StatusPlanned, VServerGroupID: "rsp-1", Groups: []Group{}},
			[]string{`"status":"planned"`, `"groups":[]`}, nil},
		{"every port left out, type defaulted in groups", Outcome{Version: 2, Status: StatusFailed,
			BackendServers: []BackendServer{{ServerID: "i-1", Type: "ecs"}},
			NotRemoved:     []BackendServer{{ServerID: "i-1", Port: 80, Type: "ecs"}},
			Groups:         []Group{{LoadBalancerID: "lb-1", VServerGroupID: "rsp-1", BackendServers: []BackendServer{{ServerID: "i-1", Port: 80, Weight: WeightOf(0)}}}},
			Error:          &Error{Code: CodeNotRemoved, Message: "still there"}},
			[]string{`"backend_servers":[{"server_id":"i-1","type":"ecs"}]`, `"not_removed":[{"server_id":"i-1","port":80,"type":"ecs"}]`,
				`"backend_servers":[{"server_id":"i-1","port":80,"type":"ecs","weight":0}]}]`},
			[]string{`"weight_zero_at"`, `"removed_at"`}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			data, err := json.Marshal(tc.o)
			if err != nil {
				t.Fatal(err)
			}
			for _, h := range tc.has {
				if !strings.Contains(string(data), h) {
					t.Errorf("%s lacks %s", data, h)
				}
			}
			for _, l := range tc.lack {
				if strings.Contains(string(data), l) {
					t.Errorf("%s has %s", data, l)
				}
			}
			if v, err := schemaCheck(OutcomeSchemaV2, data); err != nil || len(v) > 0 {
				t.Errorf("%s breaks outcome.v2.json: %v %v", data, v, err)
			}
		})
	}
}

func TestDecodeOutcomeV2RoundTrip(t *testing.T) {
	want := exampleOutcomeV2()
	want.Status = StatusFailed
	want.Error = &Error{Code: CodeGuardRefused, Message: "group rsp-cige6j5e7p would keep 0 servers of weight > 0 (--min-remaining 1)"}
	want.BackendServers = []BackendServer{{ServerID: "i-1", Type: "ecs"}, {ServerID: "i-2", Port: 80, Type: "eni", Weight: WeightOf(3)}}
	want.Removed = []BackendServer{{ServerID: "i-1", Port: 80, Type: "ecs"}}
	want.NotRemoved = []BackendServer{{ServerID: "i-1", Port: 81, Type: "ecs"}}
	data, err := json.Marshal(want)
	if err != nil {
		t.Fatal(err)
	}
	got, err := DecodeOutcome(data)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("got %+v\nwant %+v", got, want)
	}
	// A version-1 event decodes with the fields of version 2 zero.
	v1, err := DecodeOutcome([]byte(contractOutcome))
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(v1, exampleOutcome()) {
		t.Errorf("version 1: %+v", v1)
	}
}

func TestOutcomeSubjectV2(t *testing.T) {
	for _, tc := range []struct {
		o    Outcome
		want string
	}{
		{Outcome{Version: 2, Status: StatusPlanned, RegionID: "cn-hangzhou", VServerGroupID: "rsp-1"}, "slb.drain.event.planned.cn-hangzhou.rsp-1"},
		{Outcome{Version: 2, Status: StatusPlanned, RegionID: "cn-hangzhou"}, "slb.drain.event.planned.cn-hangzhou.instances"},
		{Outcome{Version: 2, Status: StatusCompleted, RegionID: "cn-hangzhou"}, "slb.drain.event.completed.cn-hangzhou.instances"},
		{Outcome{Version: 2, Status: StatusRejected, RegionID: "cn-hangzhou", VServerGroupID: "instances"}, "slb.drain.event.rejected.cn-hangzhou.instances"},
		{Outcome{Version: 1, Status: StatusRejected, RegionID: "cn-hangzhou", VServerGroupID: "instances"}, "slb.drain.event.rejected.cn-hangzhou.instances"},
		{Outcome{Version: 1, Status: StatusRejected, RegionID: "cn-hangzhou"}, "slb.drain.event.rejected.cn-hangzhou.unknown"},
		{Outcome{Version: 2, Status: StatusRejected, RegionID: "cn-hangzhou", VServerGroupID: "rsp-X"}, "slb.drain.event.rejected.cn-hangzhou.unknown"},
	} {
		if got := tc.o.Subject(); got != tc.want {
			t.Errorf("%+v: Subject = %s, want %s", tc.o, got, tc.want)
		}
	}
	if got := InstancesEventSubject(StatusFailed, "cn-hangzhou"); got != "slb.drain.event.failed.cn-hangzhou.instances" {
		t.Errorf("InstancesEventSubject = %s", got)
	}
	if got := InstancesRequestSubject("cn-hangzhou"); got != "slb.drain.request.cn-hangzhou.instances" {
		t.Errorf("InstancesRequestSubject = %s", got)
	}
	region, group, err := ParseRequestSubject("slb.drain.request.cn-hangzhou.instances")
	if err != nil || region != "cn-hangzhou" || group != InstancesToken {
		t.Errorf("ParseRequestSubject(instances) = %q, %q, %v", region, group, err)
	}
	if ValidGroupID(InstancesToken) || !ValidGroupToken(InstancesToken) || !ValidGroupToken("rsp-1") || ValidGroupToken("rsp-") {
		t.Error("ValidGroupToken")
	}
	if !StatusPlanned.Valid() {
		t.Error("planned is not a valid status")
	}
}

func TestProgressV2(t *testing.T) {
	until := time.Date(2026, 11, 27, 18, 0, 45, 123456789, time.FixedZone("CST", 8*3600))
	got, err := Progress{RequestID: "r-1", Removed: 0, Total: 45, Phase: PhaseWaiting, Until: until}.MarshalJSON()
	if err != nil {
		t.Fatal(err)
	}
	if want := `{"request_id":"r-1","removed":0,"total":45,"phase":"waiting","until":"2026-11-27T10:00:45.123Z"}`; string(got) != want {
		t.Errorf("got %s, want %s", got, want)
	}
	got, _ = Progress{RequestID: "r-1", Removed: 45, Total: 45, Phase: PhaseRemoved}.MarshalJSON()
	if want := `{"request_id":"r-1","removed":45,"total":45,"phase":"removed"}`; string(got) != want {
		t.Errorf("got %s, want %s", got, want)
	}
	var back Progress
	if err := json.Unmarshal([]byte(`{"request_id":"r-1","removed":0,"total":45,"phase":"weight_zero"}`), &back); err != nil || back.Phase != PhaseWeightZero {
		t.Errorf("Unmarshal = %+v, %v", back, err)
	}
}
