package messages

import (
	"bytes"
	"encoding/json"
	"reflect"
	"strings"
	"testing"
	"time"
)

// exampleOutcome is the contract's example event.
func exampleOutcome() Outcome {
	return Outcome{
		Version:        1,
		RequestID:      "asg-42-scalein-0001",
		Status:         StatusCompleted,
		RegionID:       "cn-hangzhou",
		VServerGroupID: "rsp-cige6j5e7p",
		BackendServers: []BackendServer{{ServerID: "i-bp1a2b3c4d5e6f7g8h9", Port: 80, Type: "ecs"}},
		APIRequestIDs:  []string{"9DEC9C28-AB05-4DDF-9A78-6B08EC9CE18C"},
		Attempts:       1,
		ReceivedAt:     time.Date(2026, 11, 27, 9, 59, 58, 120e6, time.UTC),
		FinishedAt:     time.Date(2026, 11, 27, 9, 59, 58, 410e6, time.UTC),
		Source:         "ess-lifecycle-hook/asg-42",
		Reason:         "scale-in",
		StreamSequence: 1042,
	}
}

// contractOutcome is the contract's example event, verbatim.
const contractOutcome = `{
  "version": 1,
  "request_id": "asg-42-scalein-0001",
  "status": "completed",
  "region_id": "cn-hangzhou",
  "vserver_group_id": "rsp-cige6j5e7p",
  "backend_servers": [{"server_id": "i-bp1a2b3c4d5e6f7g8h9", "port": 80, "type": "ecs"}],
  "api_request_ids": ["9DEC9C28-AB05-4DDF-9A78-6B08EC9CE18C"],
  "attempts": 1,
  "received_at": "2026-11-27T09:59:58.120Z",
  "finished_at": "2026-11-27T09:59:58.410Z",
  "error": null,
  "source": "ess-lifecycle-hook/asg-42",
  "reason": "scale-in",
  "stream_sequence": 1042
}`

// TestOutcomeGolden: the example event encodes to exactly the contract's
// text, field order included.
func TestOutcomeGolden(t *testing.T) {
	got, err := json.Marshal(exampleOutcome())
	if err != nil {
		t.Fatal(err)
	}
	var want bytes.Buffer
	if err := json.Compact(&want, []byte(contractOutcome)); err != nil {
		t.Fatal(err)
	}
	if string(got) != want.String() {
		t.Errorf("got\n%s\nwant\n%s", got, want.String())
	}
}

func TestOutcomeEmptyListsAndError(t *testing.T) {
	o := Outcome{Version: 1, Status: StatusRejected, Error: &Error{Code: CodeInvalidRequest, Message: `a "quoted" <tag> & ` + "\n\u2028\x01\xff"}}
	for _, v := range []any{o, &o} { // value and pointer both use MarshalJSON
		data, err := json.Marshal(v)
		if err != nil {
			t.Fatal(err)
		}
		s := string(data)
		for _, want := range []string{
			`"backend_servers":[]`, `"api_request_ids":[]`,
			`"received_at":"0001-01-01T00:00:00.000Z"`,
		} {
			if !strings.Contains(s, want) {
				t.Errorf("%s lacks %s", s, want)
			}
		}
		for _, absent := range []string{`"removed"`, `"not_removed"`, `"source"`, `"reason"`, "null"} {
			if strings.Contains(s, absent) {
				t.Errorf("%s has %s", s, absent)
			}
		}
		var back struct{ Error Error }
		if err := json.Unmarshal(data, &back); err != nil {
			t.Fatal(err)
		}
		if want := "a \"quoted\" <tag> & \n\u2028\x01\ufffd"; back.Error.Message != want {
			t.Errorf("message %q, want %q", back.Error.Message, want)
		}
	}
}

func TestOutcomeTimesInUTC(t *testing.T) {
	o := exampleOutcome()
	o.ReceivedAt = time.Date(2026, 11, 27, 17, 59, 58, 120456789, time.FixedZone("CST", 8*3600))
	data, err := json.Marshal(o)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(data), `"received_at":"2026-11-27T09:59:58.120Z"`) {
		t.Errorf("%s", data)
	}
	o.FinishedAt = time.Date(10000, 1, 1, 0, 0, 0, 0, time.UTC)
	if _, err := json.Marshal(o); err == nil {
		t.Error("year 10000 encoded")
	}
}

func TestDecodeOutcomeRoundTrip(t *testing.T) {
	want := exampleOutcome()
	want.Status = StatusFailed
	want.Error = &Error{Code: "InvalidParameter", Message: "The specified VServerGroupId does not exist."}
	want.Removed = []BackendServer{{ServerID: "i-1", Port: 80, Type: "ecs"}}
	want.NotRemoved = []BackendServer{{ServerID: "i-2", Port: 81, Type: "eni"}}
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

	// Tolerant of additions, strict on the version.
	if _, err := DecodeOutcome([]byte(strings.Replace(contractOutcome, `"attempts"`, `"new_field": true, "attempts"`, 1))); err != nil {
		t.Errorf("unknown field refused: %v", err)
	}
	if _, err := DecodeOutcome([]byte(strings.Replace(contractOutcome, `"version": 1`, `"version": 3`, 1))); err == nil || !strings.Contains(err.Error(), "unsupported version 3") {
		t.Errorf("version 3: %v", err)
	}
	if _, err := DecodeOutcome([]byte(`{`)); err == nil {
		t.Error("broken JSON accepted")
	}
}

func TestProgressMarshalJSON(t *testing.T) {
	got, err := Progress{RequestID: "asg-42-scalein-0001", Removed: 40, Total: 45}.MarshalJSON()
	if err != nil {
		t.Fatal(err)
	}
	if want := `{"request_id":"asg-42-scalein-0001","removed":40,"total":45}`; string(got) != want {
		t.Errorf("got %s, want %s", got, want)
	}
}

func TestOutcomeMsgID(t *testing.T) {
	o := Outcome{RequestID: "r-1", StreamSequence: 42}
	if got := o.MsgID(); got != "event:r-1" {
		t.Errorf("MsgID = %q", got)
	}
	o.RequestID = ""
	if got := o.MsgID(); got != "event:seq:42" {
		t.Errorf("MsgID = %q", got)
	}
}

func TestOutcomeSubject(t *testing.T) {
	for _, tc := range []struct {
		status        Status
		region, group string
		want          string
	}{
		{StatusCompleted, "cn-hangzhou", "rsp-1", "slb.drain.event.completed.cn-hangzhou.rsp-1"},
		{StatusFailed, "cn-hangzhou", "rsp-1", "slb.drain.event.failed.cn-hangzhou.rsp-1"},
		{StatusRejected, "", "", "slb.drain.event.rejected.unknown.unknown"},
		{StatusRejected, "cn-hangzhou", "", "slb.drain.event.rejected.cn-hangzhou.unknown"},
		{StatusRejected, "", "rsp-1", "slb.drain.event.rejected.unknown.rsp-1"},
		{StatusRejected, "cn.hangzhou", "rsp-1.x", "slb.drain.event.rejected.unknown.unknown"},
		{StatusRejected, "*", ">", "slb.drain.event.rejected.unknown.unknown"},
		{StatusRejected, "CN-HANGZHOU", "rsp-A", "slb.drain.event.rejected.unknown.unknown"},
		{"", "cn-hangzhou", "rsp-1", "slb.drain.event.unknown.cn-hangzhou.rsp-1"},
	} {
		o := Outcome{Status: tc.status, RegionID: tc.region, VServerGroupID: tc.group}
		if got := o.Subject(); got != tc.want {
			t.Errorf("Subject(%q, %q, %q) = %s, want %s", tc.status, tc.region, tc.group, got, tc.want)
		}
	}
}
