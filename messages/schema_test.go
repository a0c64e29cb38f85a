package messages

import (
	"encoding/json"
	"maps"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"
	"time"
)

// TestRequestSchemaAgreesWithDecode runs every row of the decode table
// through the JSON Schema too: both must accept or both reject.
func TestRequestSchemaAgreesWithDecode(t *testing.T) {
	for _, tc := range decodeCases() {
		if tc.schemaSkip != "" {
			continue
		}
		t.Run(tc.name, func(t *testing.T) {
			schemaViolations, err := schemaCheck(RequestSchema, []byte(tc.body))
			if err != nil {
				t.Fatal(err)
			}
			_, decodeErr := decodeBody([]byte(tc.body))
			if (decodeErr == nil) != (len(schemaViolations) == 0) {
				t.Errorf("Decode: %v\nschema: %v", decodeErr, schemaViolations)
			}
		})
	}
}

// TestSchemaEvaluator checks the test's evaluator itself on the points where
// it could silently accept everything.
func TestSchemaEvaluator(t *testing.T) {
	if v, _ := schemaCheck(RequestSchema, []byte(`{}`)); len(v) != 5 {
		t.Errorf("{} has %d violations, want 5 required fields: %v", len(v), v)
	}
	if _, err := schemaCheck([]byte(`{"type":"object","uniqueItems":true}`), []byte(`{}`)); err == nil {
		t.Error("unknown keyword not reported")
	}
	for _, tc := range []struct {
		doc  string
		want bool
	}{
		{`1`, true}, {`1.0`, true}, {`1e0`, true}, {`10e-1`, true}, {`1.5`, false}, {`1e-9999`, false}, {`"1"`, false},
	} {
		v, err := schemaCheck([]byte(`{"type":"integer","const":1}`), []byte(tc.doc))
		if err != nil || (len(v) == 0) != tc.want {
			t.Errorf("integer const 1 on %s: %v %v, want valid=%v", tc.doc, v, err, tc.want)
		}
	}
}

func TestSchemasAreEmbedded(t *testing.T) {
	for name, s := range map[string][]byte{"request": RequestSchema, "outcome": OutcomeSchema} {
		var m map[string]any
		if err := json.Unmarshal(s, &m); err != nil {
			t.Fatalf("%s schema: %v", name, err)
		}
		if m["$schema"] != "https://json-schema.org/draft/2020-12/schema" {
			t.Errorf("%s schema: $schema = %v", name, m["$schema"])
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
			BackendServers: []BackendServer{{"i-1", 80, "ecs"}, {"i-2", 80, "ecs"}},
			Removed:        []BackendServer{{"i-1", 80, "ecs"}},
			NotRemoved:     []BackendServer{{"i-2", 80, "ecs"}},
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

// TestRequestSchemaAgreesOnGeneratedDocuments compares the verdicts of
// Decode and of the schema on documents built from random choices per field
// (absent, null, valid, invalid, wrong type), which reaches combinations the
// table does not list.
func TestRequestSchemaAgreesOnGeneratedDocuments(t *testing.T) {
	rng := rand.New(rand.NewPCG(7, 42))
	pick := func(options ...any) any { return options[rng.IntN(len(options))] }
	const absent = "\x00absent"
	fields := map[string]func() any{
		"version":          func() any { return pick(absent, nil, 1, 2, raw("1.0"), "1", raw("1e0"), raw("0.5")) },
		"request_id":       func() any { return pick(absent, nil, "r-1", "", "a b", strings.Repeat("x", 129), 5) },
		"region_id":        func() any { return pick(absent, nil, testRegion, "cn", "CN-x", true) },
		"vserver_group_id": func() any { return pick(absent, nil, testGroup, "rsp-", "rsp-X", []any{}) },
		"reason":           func() any { return pick(absent, nil, "ok", strings.Repeat("é", 257), 1) },
		"source":           func() any { return pick(absent, nil, "ok", strings.Repeat("s", 256), map[string]any{}) },
		"deadline": func() any {
			return pick(absent, nil, "2026-11-27T10:00:00Z", "2026-11-27T10:00:00", "2026-13-01T00:00:00Z", 0)
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
					{"server_id", func() any { return pick(absent, nil, "i-1", "", "i.1", 1) }},
					{"port", func() any { return pick(absent, nil, 80, 0, 65536, raw("80.0"), raw("80.5"), "80") }},
					{"type", func() any { return pick(absent, nil, "ecs", "eni", "ECS", "", 1) }},
					{"extra", func() any { return pick(absent, absent, absent, 1) }},
				} {
					if v := f.gen(); v != absent {
						s[f.name] = v
					}
				}
				list = append(list, s)
			}
			return list
		},
		"extra": func() any { return pick(absent, absent, absent, absent, "x") },
	}
	accepted := 0
	for range 3000 {
		m := map[string]any{}
		for _, name := range slices.Sorted(maps.Keys(fields)) { // a fixed order: reproducible
			gen := fields[name]
			if rng.IntN(3) == 0 { // mostly valid, so that one fault decides
				if v := gen(); v != absent {
					m[name] = v
				}
				continue
			}
			if v := validField(name); v != nil {
				m[name] = v
			}
		}
		data, err := json.Marshal(m)
		if err != nil {
			t.Fatal(err)
		}
		v, err := schemaCheck(RequestSchema, data)
		if err != nil {
			t.Fatal(err)
		}
		_, decodeErr := decodeBody(data)
		if (decodeErr == nil) != (len(v) == 0) {
			t.Fatalf("%s\nDecode: %v\nschema: %v", data, decodeErr, v)
		}
		if decodeErr == nil {
			accepted++
		}
	}
	if accepted < 100 || accepted > 2900 {
		t.Errorf("%d of 3000 accepted: the generator is not testing both sides", accepted)
	}
}

// validField is a valid value of a field of the example, or nil.
func validField(name string) any {
	var m map[string]any
	if err := json.Unmarshal([]byte(validDoc), &m); err != nil {
		panic(err)
	}
	return m[name]
}
