package messages

import (
	"bytes"
	"encoding/json"
	"errors"
	"maps"
	"math/big"
	"math/rand/v2"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"
)

// requestSchemaVerdict judges data by the request schemas of both
// versions, as Decode judges a body of either: valid if valid by one. The
// violations are those of both when neither accepts it.
func requestSchemaVerdict(t testing.TB, data []byte) []string {
	t.Helper()
	var all []string
	for _, schema := range [][]byte{RequestSchema, RequestSchemaV2} {
		v, err := schemaCheck(schema, data)
		if err != nil {
			t.Fatal(err)
		}
		if len(v) == 0 {
			return nil
		}
		all = append(all, v...)
	}
	return all
}

// schemaBlindViolations are the violations of data's rules that no schema
// can state, found by simple code of the test's own: a drain_timeout of the
// Go duration syntax above an hour, and a deadline whose year in UTC is
// outside 0000..9999. It returns the fields they are on.
func schemaBlindViolations(data []byte) []string {
	var m map[string]any
	if json.Unmarshal(data, &m) != nil {
		return nil
	}
	var fields []string
	if s, ok := m["drain_timeout"].(string); ok && overAnHour(s) {
		fields = append(fields, "drain_timeout")
	}
	if s, ok := m["deadline"].(string); ok {
		if d, err := time.Parse(time.RFC3339Nano, s); err == nil && (d.UTC().Year() < 0 || d.UTC().Year() > 9999) {
			fields = append(fields, "deadline")
		}
	}
	return fields
}

var durationComponent = regexp.MustCompile(`([0-9]*(?:\.[0-9]*)?)(ns|us|µs|μs|ms|s|m|h)`)

// overAnHour reports whether s is of the schema's drain_timeout pattern and
// its exact value is over an hour.
func overAnHour(s string) bool {
	if !schemaRegexp(`^[+]?(0|(([0-9]+([.][0-9]*)?|[.][0-9]+)(ns|us|µs|μs|ms|s|m|h))+)$`).MatchString(s) {
		return false
	}
	unit := map[string]int64{"ns": 1, "us": 1e3, "µs": 1e3, "μs": 1e3, "ms": 1e6, "s": 1e9, "m": 60e9, "h": 3600e9}
	total := new(big.Rat)
	for _, c := range durationComponent.FindAllStringSubmatch(s, -1) {
		n := c[1]
		if strings.HasSuffix(n, ".") {
			n += "0"
		}
		if strings.HasPrefix(n, ".") {
			n = "0" + n
		}
		v, ok := new(big.Rat).SetString(n)
		if !ok {
			panic(n)
		}
		total.Add(total, v.Mul(v, new(big.Rat).SetInt64(unit[c[2]])))
	}
	return total.Cmp(new(big.Rat).SetInt64(3600e9)) > 0
}

// checkAgreement holds decodeBody's verdict on data against the schemas':
// once the violations no schema can state are set aside (each must be among
// Decode's), Decode accepts data exactly when a schema does.
func checkAgreement(t testing.TB, data []byte) (accepted bool) {
	t.Helper()
	schemaViolations := requestSchemaVerdict(t, data)
	_, decodeErr := decodeBody(data)
	var ve *ValidationError
	var left []Violation
	if errors.As(decodeErr, &ve) {
		left = ve.Violations
	}
	for _, field := range schemaBlindViolations(data) {
		i := slices.IndexFunc(left, func(v Violation) bool { return v.Field == field })
		if i < 0 {
			t.Fatalf("%s\nDecode misses the %s violation: %v", data, field, decodeErr)
		}
		if strings.HasPrefix(left[i].Rule, ruleDrainTimeoutMax) || strings.Contains(left[i].Rule, "in UTC") {
			left = slices.Delete(slices.Clone(left), i, i+1)
		}
	}
	if (len(left) == 0) != (len(schemaViolations) == 0) {
		t.Fatalf("%s\nDecode: %v\nschemas: %v", data, decodeErr, schemaViolations)
	}
	return decodeErr == nil
}

// TestRequestSchemaAgreesWithDecode runs every row of the decode table, of
// both versions, through the JSON Schemas too: both must accept or both
// reject.
func TestRequestSchemaAgreesWithDecode(t *testing.T) {
	for _, tc := range decodeCases() {
		if tc.schemaSkip != "" {
			continue
		}
		t.Run(tc.name, func(t *testing.T) { checkAgreement(t, []byte(tc.body)) })
	}
}

// TestSchemaEvaluator checks the test's evaluator itself on the points where
// it could silently accept everything.
func TestSchemaEvaluator(t *testing.T) {
	if v, _ := schemaCheck(RequestSchema, []byte(`{}`)); len(v) != 1 || !strings.Contains(v[0], "version") || !strings.Contains(v[0], "backend_servers") {
		t.Errorf("{}: %v, want one violation naming the 5 required fields", v)
	}
	if _, err := schemaCheck([]byte(`{"type":"object","uniqueItems":true}`), []byte(`{}`)); err == nil {
		t.Error("unknown keyword not reported")
	}
	if _, err := schemaCheck([]byte(`{"properties":{"a":{"maxitems":1}}}`), []byte(`{}`)); err == nil {
		t.Error("misspelt keyword not reported")
	}
	for _, tc := range []struct {
		doc  string
		want bool
	}{
		{`1`, true}, {`1.0`, true}, {`1e0`, true}, {`10e-1`, true}, {`1.5`, false}, {`1e-9999`, false}, {`"1"`, false},
		{`1e-999999999999`, false}, {`1e999999999999`, false},
	} {
		v, err := schemaCheck([]byte(`{"type":"integer","const":1}`), []byte(tc.doc))
		if err != nil || (len(v) == 0) != tc.want {
			t.Errorf("integer const 1 on %s: %v %v, want valid=%v", tc.doc, v, err, tc.want)
		}
	}
	for _, tc := range []struct {
		doc  string
		want bool
	}{
		{`0`, true}, {`100`, true}, {`101`, false}, {`-1e999999999999`, false}, {`1e999999999999`, false}, {`5e-999999999999`, false}, {`0e999999999999`, true},
	} {
		v, err := schemaCheck([]byte(`{"type":"integer","minimum":0,"maximum":100}`), []byte(tc.doc))
		if err != nil || (len(v) == 0) != tc.want {
			t.Errorf("integer 0..100 on %s: %v %v, want valid=%v", tc.doc, v, err, tc.want)
		}
	}
	for _, tc := range []struct {
		doc  string
		want bool
	}{
		{`"2026-11-27T10:00:00Z"`, true}, {`"2026-02-30T10:00:00Z"`, false}, {`"2026-11-27T10:00:00+24:00"`, false}, {`"tomorrow"`, false},
	} {
		v, err := schemaCheck([]byte(`{"format":"date-time"}`), []byte(tc.doc))
		if err != nil || (len(v) == 0) != tc.want {
			t.Errorf("date-time on %s: %v %v, want valid=%v", tc.doc, v, err, tc.want)
		}
	}
	if v, _ := schemaCheck([]byte(`{"type":"string"}`), []byte("\"\xff\"")); len(v) == 0 {
		t.Error("invalid UTF-8 accepted")
	}
	for _, s := range [][]byte{RequestSchema, OutcomeSchema, RequestSchemaV2, OutcomeSchemaV2} {
		if _, err := compileSchema(s); err != nil {
			t.Error(err)
		}
	}
}

func TestSchemasAreEmbedded(t *testing.T) {
	for name, s := range SchemaFiles() {
		var m map[string]any
		if err := json.Unmarshal(s, &m); err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if m["$schema"] != "https://json-schema.org/draft/2020-12/schema" {
			t.Errorf("%s: $schema = %v", name, m["$schema"])
		}
		if id, _ := m["$id"].(string); !strings.HasSuffix(id, "/"+name) {
			t.Errorf("%s: $id = %v", name, m["$id"])
		}
	}
	for v, want := range map[int][2][]byte{1: {RequestSchema, OutcomeSchema}, 2: {RequestSchemaV2, OutcomeSchemaV2}, 3: {nil, nil}} {
		if !bytes.Equal(RequestSchemaFor(v), want[0]) || !bytes.Equal(OutcomeSchemaFor(v), want[1]) || (v < 3 && RequestSchemaFor(v) == nil) {
			t.Errorf("schemas of version %d", v)
		}
	}
}

// TestOutcomeSchema checks that what MarshalJSON writes is valid by the
// outcome schema, and that the schema does refuse broken events.
func TestOutcomeSchema(t *testing.T) {
	at := time.Date(2026, 11, 27, 9, 59, 58, 120e6, time.UTC)
	for name, o := range map[string]Outcome{
		"completed": exampleOutcome(),
		"failed part-way": {
			Version: 1, RequestID: "r-1", Status: StatusFailed, RegionID: testRegion, VServerGroupID: testGroup,
			BackendServers: []BackendServer{{ServerID: "i-1", Port: 80, Type: "ecs"}, {ServerID: "i-2", Port: 80, Type: "ecs"}},
			Removed:        []BackendServer{{ServerID: "i-1", Port: 80, Type: "ecs"}},
			NotRemoved:     []BackendServer{{ServerID: "i-2", Port: 80, Type: "ecs"}},
			APIRequestIDs:  []string{"A", "B"}, Attempts: 3, ReceivedAt: at, FinishedAt: at.Add(time.Second),
			Error: &Error{Code: "Forbidden.RAM", Message: "denied"}, StreamSequence: 7,
		},
		"rejected unreadable": {
			Version: 1, Status: StatusRejected, RegionID: "unknown", VServerGroupID: "unknown",
			ReceivedAt: at, FinishedAt: at,
			Error: &Error{Code: CodeInvalidRequest, Message: "invalid drain request: body: invalid JSON"}, StreamSequence: 9,
		},
	} {
		data, err := json.Marshal(o)
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if v, err := schemaCheck(OutcomeSchema, data); err != nil || len(v) > 0 {
			t.Errorf("%s: %s: %v %v", name, data, v, err)
		}
	}

	good, _ := json.Marshal(exampleOutcome())
	for name, edit := range map[string]func(string) string{
		"api_request_ids null": func(s string) string {
			return strings.Replace(s, `"api_request_ids":["9DEC9C28-AB05-4DDF-9A78-6B08EC9CE18C"]`, `"api_request_ids":null`, 1)
		},
		"error missing":  func(s string) string { return strings.Replace(s, `"error":null,`, ``, 1) },
		"status unknown": func(s string) string { return strings.Replace(s, `"completed"`, `"done"`, 1) },
		"error without code": func(s string) string {
			return strings.Replace(s, `"error":null`, `"error":{"message":"x"}`, 1)
		},
		"extra field": func(s string) string { return strings.Replace(s, `{"version":1`, `{"version":1,"x":1`, 1) },
		"bad time":    func(s string) string { return strings.Replace(s, `2026-11-27T09:59:58.410Z`, `yesterday`, 1) },
	} {
		doc := edit(string(good))
		if doc == string(good) {
			t.Fatalf("%s: edit did not apply to %s", name, good)
		}
		if v, err := schemaCheck(OutcomeSchema, []byte(doc)); err != nil || len(v) == 0 {
			t.Errorf("%s: schema accepted %s (%v)", name, doc, err)
		}
	}
}

// TestOutcomeSchemaV2 checks that what MarshalJSON writes for version 2 is
// valid by outcome.v2.json (and not by outcome.v1.json), and that the schema
// does refuse broken events.
func TestOutcomeSchemaV2(t *testing.T) {
	at := time.Date(2026, 11, 27, 9, 59, 58, 120e6, time.UTC)
	for name, o := range map[string]Outcome{
		"graceful completed": exampleOutcomeV2(),
		"planned instances": {
			Version: 2, RequestID: "r-2", Status: StatusPlanned, DryRun: true, RegionID: testRegion,
			BackendServers: []BackendServer{{ServerID: "i-1", Type: "ecs"}},
			Groups: []Group{
				{LoadBalancerID: "lb-1", VServerGroupID: "rsp-1", BackendServers: []BackendServer{{ServerID: "i-1", Port: 80, Type: "ecs", Weight: WeightOf(100)}}},
				{LoadBalancerID: "lb-2", VServerGroupID: "rsp-2", BackendServers: []BackendServer{{ServerID: "i-1", Port: 443, Type: "ecs", Weight: WeightOf(0)}}},
			},
			APIRequestIDs: []string{"A"}, ReceivedAt: at, FinishedAt: at, StreamSequence: 3,
		},
		"instance in no group": {Version: 2, RequestID: "r-3", Status: StatusCompleted, RegionID: testRegion,
			BackendServers: []BackendServer{{ServerID: "i-9", Type: "ecs"}}, ReceivedAt: at, FinishedAt: at},
		"failed not removed": {
			Version: 2, RequestID: "r-4", Status: StatusFailed, RegionID: testRegion, VServerGroupID: testGroup,
			BackendServers: []BackendServer{{ServerID: "i-1", Port: 80, Type: "ecs"}, {ServerID: "i-2", Port: 80, Type: "ecs"}},
			Removed:        []BackendServer{{ServerID: "i-1", Port: 80, Type: "ecs"}},
			NotRemoved:     []BackendServer{{ServerID: "i-2", Port: 80, Type: "ecs"}},
			Error:          &Error{Code: CodeNotRemoved, Message: "i-2:80:ecs still in rsp-cige6j5e7p at the deadline"},
			ReceivedAt:     at, FinishedAt: at,
		},
		"restore": {
			Version: 2, RequestID: "r-5", Status: StatusCompleted, Action: ActionRestore, RegionID: testRegion, VServerGroupID: testGroup,
			BackendServers: []BackendServer{{ServerID: "i-1", Port: 80, Type: "ecs", Weight: WeightOf(60)}}, ReceivedAt: at, FinishedAt: at,
		},
		"rejected unreadable": {
			Version: 2, Status: StatusRejected, RegionID: "unknown", VServerGroupID: "unknown", ReceivedAt: at, FinishedAt: at,
			Error: &Error{Code: CodeInvalidRequest, Message: "invalid drain request: mode: only with action drain"},
		},
	} {
		data, err := json.Marshal(o)
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if v, err := schemaCheck(OutcomeSchemaV2, data); err != nil || len(v) > 0 {
			t.Errorf("%s: %s: %v %v", name, data, v, err)
		}
		if v, _ := schemaCheck(OutcomeSchema, data); len(v) == 0 {
			t.Errorf("%s: valid by outcome.v1.json too", name)
		}
	}

	good, _ := json.Marshal(exampleOutcomeV2())
	for name, edit := range map[string][2]string{
		"status unknown":          {`"completed"`, `"done"`},
		"action unknown":          {`"action":"drain"`, `"action":"undo"`},
		"drain without mode":      {`"mode":"graceful",`, ``},
		"dry_run missing":         {`"dry_run":false,`, ``},
		"group without servers":   {`"backend_servers":[{"server_id":"i-bp1a2b3c4d5e6f7g8h9","port":80,"type":"ecs","weight":100}],`, ``},
		"group server no weight":  {`"type":"ecs","weight":100}`, `"type":"ecs"}`},
		"group server weight 101": {`"weight":100`, `"weight":101`},
		"group time invalid":      {`"2026-11-27T09:59:58.300Z"`, `"soon"`},
		"trace id upper case":     {`4bf92f3577b34da6a3ce929d0e0e4736`, `4BF92F3577B34DA6A3CE929D0E0E4736`},
		"trace id zero":           {`4bf92f3577b34da6a3ce929d0e0e4736`, `00000000000000000000000000000000`},
		"version 1":               {`{"version":2`, `{"version":1`},
		"extra field":             {`{"version":2`, `{"version":2,"x":1`},
		"restore with mode":       {`"action":"drain"`, `"action":"restore"`},
	} {
		doc := strings.Replace(string(good), edit[0], edit[1], 1)
		if doc == string(good) {
			t.Fatalf("%s: edit did not apply to %s", name, good)
		}
		if v, err := schemaCheck(OutcomeSchemaV2, []byte(doc)); err != nil || len(v) == 0 {
			t.Errorf("%s: schema accepted %s (%v)", name, doc, err)
		}
	}
}

// TestRequestSchemaAgreesOnGeneratedDocuments compares the verdicts of
// Decode and of the schemas on documents built from random choices per field
// (absent, null, valid, invalid, wrong type) over a base document of either
// version, which reaches combinations the table does not list: scope and
// port, action and weight, restore_of and mode, mode and drain_timeout.
func TestRequestSchemaAgreesOnGeneratedDocuments(t *testing.T) {
	rng := rand.New(rand.NewPCG(7, 42))
	pick := func(options ...any) any { return options[rng.IntN(len(options))] }
	const absent = "\x00absent"
	fields := map[string]func() any{
		"version":          func() any { return pick(absent, nil, 1, 2, 2, raw("2.0"), 3, "1", raw("1e0"), raw("0.5")) },
		"request_id":       func() any { return pick(absent, nil, "r-1", "", "a b", strings.Repeat("x", 129), 5) },
		"region_id":        func() any { return pick(absent, nil, testRegion, "cn", "CN-x", true) },
		"vserver_group_id": func() any { return pick(absent, absent, nil, testGroup, "rsp-", "rsp-X", "instances", []any{}) },
		"reason":           func() any { return pick(absent, nil, "ok", strings.Repeat("é", 257), 1) },
		"source":           func() any { return pick(absent, nil, "ok", strings.Repeat("s", 256), map[string]any{}) },
		"deadline": func() any {
			return pick(absent, nil, "2026-11-27T10:00:00Z", "2026-11-27T10:00:00", "2026-13-01T00:00:00Z", "2026-11-27t10:00:00Z",
				"2026-12-31T23:59:60Z", "9999-12-31T23:00:00-05:00", 0)
		},
		"action":  func() any { return pick(absent, absent, nil, "drain", "restore", "restore", "Drain", 1) },
		"mode":    func() any { return pick(absent, absent, nil, "remove", "graceful", "graceful", "fast", false) },
		"dry_run": func() any { return pick(absent, absent, nil, true, false, "true", 0) },
		"force":   func() any { return pick(absent, absent, nil, true, false, "yes") },
		"restore_of": func() any {
			return pick(absent, absent, nil, "asg-42-scalein-0002", "a b", "", 3)
		},
		"drain_timeout": func() any {
			return pick(absent, absent, nil, "30s", "0", "1h", "1h0m0.5s", "2h", "-1s", "30", "1.5m", ".5s", "1d", 30, "99999999999999999999h")
		},
		"backend_servers": func() any {
			if rng.IntN(8) == 0 {
				return pick(absent, nil, "x", map[string]any{})
			}
			list := []any{}
			for range rng.IntN(4) {
				if rng.IntN(10) == 0 {
					list = append(list, pick(nil, "i-1:80", 1))
					continue
				}
				s := map[string]any{}
				for _, f := range []struct {
					name string
					gen  func() any
				}{
					{"server_id", func() any { return pick(absent, nil, "i-1", "i-1", "", "i.1", 1) }},
					{"port", func() any { return pick(absent, absent, nil, 80, 80, 0, 65536, raw("80.0"), raw("80.5"), "80") }},
					{"type", func() any { return pick(absent, nil, "ecs", "eni", "ECS", "", 1) }},
					{"weight", func() any {
						return pick(absent, absent, absent, nil, 0, 100, 101, -1, raw("5e1"), raw("50.5"), "50", raw("1e999999999999"))
					}},
					{"extra", func() any { return pick(absent, absent, absent, absent, absent, 1) }},
				} {
					if v := f.gen(); v != absent {
						s[f.name] = v
					}
				}
				list = append(list, s)
			}
			return list
		},
		"extra": func() any { return pick(absent, absent, absent, absent, absent, absent, "x") },
	}
	bases := []string{validDoc, validDoc, validDocV2, validDocInstances, validDocRestore}
	accepted := map[int]int{}
	rejected := map[int]int{}
	const n = 5000
	for range n {
		var base map[string]any
		if err := json.Unmarshal([]byte(bases[rng.IntN(len(bases))]), &base); err != nil {
			t.Fatal(err)
		}
		m := map[string]any{}
		for _, name := range slices.Sorted(maps.Keys(fields)) { // a fixed order: reproducible
			gen := fields[name]
			if rng.IntN(4) == 0 { // mostly as the base, so that one fault decides
				if v := gen(); v != absent {
					m[name] = v
				}
				continue
			}
			if v, ok := base[name]; ok {
				m[name] = v
			}
		}
		data, err := json.Marshal(m)
		if err != nil {
			t.Fatal(err)
		}
		ok := checkAgreement(t, data)
		req, _ := decodeBody(data) // its version, where valid
		if ok {
			accepted[req.Version]++
		} else {
			rejected[req.Version]++
		}
	}
	t.Logf("by version: accepted %v, rejected %v", accepted, rejected)
	for _, v := range []int{1, 2} {
		if accepted[v] < 100 || rejected[v] < 100 {
			t.Errorf("version %v: %d accepted, %d rejected of %d: the generator is not testing both sides", v, accepted[v], rejected[v], n)
		}
	}
}
