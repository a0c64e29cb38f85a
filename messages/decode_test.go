package messages

import (
	"encoding/json"
	"errors"
	"reflect"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"
)

const (
	testRegion  = "cn-hangzhou"
	testGroup   = "rsp-cige6j5e7p"
	testSubject = "slb.drain.request.cn-hangzhou.rsp-cige6j5e7p"
	// testInstances is the instance-scope subject of testRegion.
	testInstances = "slb.drain.request.cn-hangzhou.instances"
)

// validDoc is the contract's example request.
const validDoc = `{
  "version": 1,
  "request_id": "asg-42-scalein-0001",
  "region_id": "cn-hangzhou",
  "vserver_group_id": "rsp-cige6j5e7p",
  "backend_servers": [
    {"server_id": "i-bp1a2b3c4d5e6f7g8h9", "port": 80, "type": "ecs"},
    {"server_id": "eni-bp1xyz", "port": 8080, "type": "eni"}
  ],
  "reason": "scale-in",
  "source": "ess-lifecycle-hook/asg-42",
  "deadline": "2026-11-27T10:00:00Z"
}`

// validDocV2 is a version-2 request of group scope: a graceful drain.
const validDocV2 = `{
  "version": 2,
  "request_id": "asg-42-scalein-0002",
  "region_id": "cn-hangzhou",
  "action": "drain",
  "vserver_group_id": "rsp-cige6j5e7p",
  "backend_servers": [
    {"server_id": "i-bp1a2b3c4d5e6f7g8h9", "port": 80, "type": "ecs"},
    {"server_id": "eni-bp1xyz", "port": 8080, "type": "eni"}
  ],
  "mode": "graceful",
  "drain_timeout": "45s",
  "dry_run": false,
  "force": false,
  "reason": "scale-in",
  "source": "ess-lifecycle-hook/asg-42",
  "deadline": "2026-11-27T10:00:00Z"
}`

// validDocInstances is a version-2 request of instance scope (published on
// testInstances): the second server on one port only.
const validDocInstances = `{
  "version": 2,
  "request_id": "asg-42-scalein-0003",
  "region_id": "cn-hangzhou",
  "backend_servers": [
    {"server_id": "i-bp1a2b3c4d5e6f7g8h9"},
    {"server_id": "i-bp1zzz", "port": 443}
  ],
  "dry_run": true,
  "force": true,
  "reason": "incident 7",
  "source": "drainctl"
}`

// validDocRestore is a version-2 restore of group scope.
const validDocRestore = `{
  "version": 2,
  "request_id": "asg-42-scaleout-0004",
  "region_id": "cn-hangzhou",
  "action": "restore",
  "vserver_group_id": "rsp-cige6j5e7p",
  "backend_servers": [
    {"server_id": "i-bp1a2b3c4d5e6f7g8h9", "port": 80, "weight": 100},
    {"server_id": "eni-bp1xyz", "port": 8080, "type": "eni", "weight": 0},
    {"server_id": "i-bp1yyy", "port": 80}
  ],
  "restore_of": "asg-42-scalein-0002"
}`

// docOf returns base with edit applied to its parsed form, for rows that
// change one field.
func docOf(base string, edit func(m map[string]any)) string {
	var m map[string]any
	if err := json.Unmarshal([]byte(base), &m); err != nil {
		panic(err)
	}
	edit(m)
	b, err := json.Marshal(m)
	if err != nil {
		panic(err)
	}
	return string(b)
}

// doc is docOf the contract's example.
func doc(edit func(m map[string]any)) string { return docOf(validDoc, edit) }

func set(field string, v any) string { return setOf(validDoc, field, v) }
func del(field string) string        { return delOf(validDoc, field) }

func setOf(base, field string, v any) string {
	return docOf(base, func(m map[string]any) { m[field] = v })
}

func delOf(base, field string) string {
	return docOf(base, func(m map[string]any) { delete(m, field) })
}

// setServer sets field of the first backend server (deleting it if v is
// the deleteMarker).
func setServer(field string, v any) string { return setServerOf(validDoc, field, v) }

func setServerOf(base, field string, v any) string {
	return docOf(base, func(m map[string]any) {
		s := m["backend_servers"].([]any)[0].(map[string]any)
		if v == deleteMarker {
			delete(s, field)
		} else {
			s[field] = v
		}
	})
}

var deleteMarker = new(int)

func servers(n int, mk func(i int) any) []any {
	list := make([]any, n)
	for i := range list {
		list[i] = mk(i)
	}
	return list
}

func serverDoc(id string, port int) map[string]any {
	return map[string]any{"server_id": id, "port": port}
}

// raw is a literal JSON text (valid or not) to put into a document: with
// withRaw, or as a value of a map given to encoding/json (valid JSON only).
type raw string

func (r raw) MarshalJSON() ([]byte, error) { return []byte(r), nil }

const rawPlaceholder = "\x00raw\x00"

// withRaw builds a document with set or setServer, putting r in place of
// the value. encoding/json would refuse to write invalid JSON itself.
func withRaw(build func(v any) string, r raw) string {
	placeholder, _ := json.Marshal(rawPlaceholder)
	return strings.Replace(build(rawPlaceholder), string(placeholder), string(r), 1)
}

func setRaw(field string, r raw) string {
	return withRaw(func(v any) string { return set(field, v) }, r)
}

func setServerRaw(field string, r raw) string {
	return withRaw(func(v any) string { return setServer(field, v) }, r)
}

func setRawOf(base, field string, r raw) string {
	return withRaw(func(v any) string { return setOf(base, field, v) }, r)
}

func setServerRawOf(base, field string, r raw) string {
	return withRaw(func(v any) string { return setServerOf(base, field, v) }, r)
}

type decodeCase struct {
	name    string
	subject string // testSubject when empty
	body    string
	// want are the violations expected, each as a substring of one
	// violation's "field: rule" text; none means the body is valid.
	want []string
	// schemaSkip, when set, says why the JSON Schema cannot judge this row.
	schemaSkip string
}

func decodeCases() []decodeCase {
	long := func(c string, n int) string { return strings.Repeat(c, n) }
	return append([]decodeCase{
		{name: "contract example", body: validDoc},
		{name: "minimal", body: `{"version":1,"request_id":"a","region_id":"cn-hangzhou","vserver_group_id":"rsp-cige6j5e7p","backend_servers":[{"server_id":"i","port":1}]}`},

		// version
		{name: "version missing", body: del("version"), want: []string{"version: required"}},
		{name: "version 3", body: set("version", 3), want: []string{"version: must be 1 or 2, got 3"}},
		{name: "version 0", body: set("version", 0), want: []string{"version: must be 1 or 2, got 0"}},
		{name: "version string", body: set("version", "1"), want: []string{"version: must be 1 or 2, got string"}},
		{name: "version null", body: set("version", nil), want: []string{"version: must be 1 or 2, got null"}},
		{name: "version 1.5", body: setRaw("version", raw("1.5")), want: []string{"version: must be 1 or 2, got 1.5"}},
		{name: "version 2 of a version-1 body", body: set("version", 2)},
		{name: "version 1.0 is 1", body: setRaw("version", raw("1.0"))},
		{name: "version 10e-1 is 1", body: setRaw("version", raw("10e-1"))},

		// request_id
		{name: "request_id missing", body: del("request_id"), want: []string{"request_id: required"}},
		{name: "request_id empty", body: set("request_id", ""), want: []string{"request_id: must match [A-Za-z0-9._:-]{1,128}"}},
		{name: "request_id 129", body: set("request_id", long("a", 129)), want: []string{"request_id: must match"}},
		{name: "request_id 128", body: set("request_id", long("a", 128))},
		{name: "request_id alphabet", body: set("request_id", "AZaz09._:-")},
		{name: "request_id space", body: set("request_id", "a b"), want: []string{`request_id: must match [A-Za-z0-9._:-]{1,128}, got "a b"`}},
		{name: "request_id slash", body: set("request_id", "a/b"), want: []string{"request_id: must match"}},
		{name: "request_id non-ASCII", body: set("request_id", "é"), want: []string{"request_id: must match"}},
		{name: "request_id number", body: set("request_id", 42), want: []string{"request_id: must be a string, got number"}},
		{name: "request_id null", body: set("request_id", nil), want: []string{"request_id: must be a string, got null"}},
		{name: "request_id escaped", body: setRaw("request_id", raw(`"a\u0062c"`))},

		// region_id
		{name: "region_id missing", body: del("region_id"), want: []string{"region_id: required"}},
		{name: "region_id one segment", body: set("region_id", "cn"), want: []string{`region_id: must match [a-z]{2,}(-[a-z0-9]+)+, got "cn"`}},
		{name: "region_id upper case", body: set("region_id", "CN-hangzhou"), want: []string{"region_id: must match"}},
		{name: "region_id trailing dash", body: set("region_id", "cn-"), want: []string{"region_id: must match"}},
		{name: "region_id double dash", body: set("region_id", "cn--x"), want: []string{"region_id: must match"}},
		{name: "region_id one letter", body: set("region_id", "c-x"), want: []string{"region_id: must match"}},
		{name: "region_id digit first", body: set("region_id", "c1-x"), want: []string{"region_id: must match"}},
		{name: "region_id underscore", body: set("region_id", "cn-hang_zhou"), want: []string{"region_id: must match"}},
		{name: "region_id null", body: set("region_id", nil), want: []string{"region_id: must be a string, got null"}},
		{name: "region_id three segments", subject: "slb.drain.request.ap-southeast-1.rsp-cige6j5e7p", body: set("region_id", "ap-southeast-1"), schemaSkip: "subject"},
		{name: "region_id differs from subject", subject: "slb.drain.request.cn-beijing.rsp-cige6j5e7p", body: validDoc, want: []string{`region_id: does not match subject token "cn-beijing"`}, schemaSkip: "subject"},

		// vserver_group_id
		{name: "vserver_group_id missing", body: del("vserver_group_id"), want: []string{"vserver_group_id: required"}},
		{name: "vserver_group_id bare prefix", body: set("vserver_group_id", "rsp-"), want: []string{"vserver_group_id: must match rsp-[a-z0-9]+"}},
		{name: "vserver_group_id upper case", body: set("vserver_group_id", "rsp-ABC"), want: []string{"vserver_group_id: must match"}},
		{name: "vserver_group_id other prefix", body: set("vserver_group_id", "rs-abc"), want: []string{"vserver_group_id: must match"}},
		{name: "vserver_group_id number", body: set("vserver_group_id", 7), want: []string{"vserver_group_id: must be a string, got number"}},
		{name: "vserver_group_id differs from subject", subject: "slb.drain.request.cn-hangzhou.rsp-other", body: validDoc, want: []string{`vserver_group_id: does not match subject token "rsp-other"`}, schemaSkip: "subject"},

		// backend_servers
		{name: "backend_servers missing", body: del("backend_servers"), want: []string{"backend_servers: required"}},
		{name: "backend_servers empty", body: set("backend_servers", []any{}), want: []string{"backend_servers: must have 1..1000 entries, got 0"}},
		{name: "backend_servers 1001", body: set("backend_servers", servers(1001, func(i int) any { return serverDoc("i-x", i%60000+1) })), want: []string{"backend_servers: must have 1..1000 entries, got 1001"}},
		{name: "backend_servers 1000", body: set("backend_servers", servers(1000, func(i int) any { return serverDoc("i-x", i+1) }))},
		{name: "backend_servers 1001 duplicates", body: set("backend_servers", servers(1001, func(i int) any { return serverDoc("i-x", 80) })), want: []string{"backend_servers: must have 1..1000 entries, got 1001"}},
		{name: "backend_servers null", body: set("backend_servers", nil), want: []string{"backend_servers: must be an array, got null"}},
		{name: "backend_servers object", body: set("backend_servers", serverDoc("i-x", 80)), want: []string{"backend_servers: must be an array, got object"}},
		{name: "backend_servers entry string", body: set("backend_servers", []any{"i-x:80"}), want: []string{"backend_servers[0]: must be an object, got string"}},
		{name: "backend_servers entry null", body: set("backend_servers", []any{nil}), want: []string{"backend_servers[0]: must be an object, got null"}},

		// server_id
		{name: "server_id missing", body: setServer("server_id", deleteMarker), want: []string{"backend_servers[0].server_id: required"}},
		{name: "server_id empty", body: setServer("server_id", ""), want: []string{"backend_servers[0].server_id: must match [A-Za-z0-9_-]{1,64}"}},
		{name: "server_id 65", body: setServer("server_id", long("i", 65)), want: []string{"backend_servers[0].server_id: must match"}},
		{name: "server_id 64", body: setServer("server_id", long("i", 64))},
		{name: "server_id alphabet", body: setServer("server_id", "AZaz09-_")},
		{name: "server_id dot", body: setServer("server_id", "i.x"), want: []string{"backend_servers[0].server_id: must match"}},
		{name: "server_id number", body: setServer("server_id", 1), want: []string{"backend_servers[0].server_id: must be a string, got number"}},
		{name: "server_id null", body: setServer("server_id", nil), want: []string{"backend_servers[0].server_id: must be a string, got null"}},

		// port
		{name: "port missing", body: setServer("port", deleteMarker), want: []string{"backend_servers[0].port: required"}},
		{name: "port 0", body: setServer("port", 0), want: []string{"backend_servers[0].port: must be 1..65535, got 0"}},
		{name: "port 65536", body: setServer("port", 65536), want: []string{"backend_servers[0].port: must be 1..65535, got 65536"}},
		{name: "port 65535", body: setServer("port", 65535)},
		{name: "port -1", body: setServer("port", -1), want: []string{"backend_servers[0].port: must be 1..65535, got -1"}},
		{name: "port -0", body: setServerRaw("port", raw("-0")), want: []string{"backend_servers[0].port: must be 1..65535, got -0"}},
		{name: "port string", body: setServer("port", "80"), want: []string{"backend_servers[0].port: must be an integer, got string"}},
		{name: "port 80.5", body: setServerRaw("port", raw("80.5")), want: []string{"backend_servers[0].port: must be an integer, got 80.5"}},
		{name: "port 80.0000000000000000001", body: setServerRaw("port", raw("80.0000000000000000001")), want: []string{"backend_servers[0].port: must be an integer"}},
		{name: "port 1e10", body: setServerRaw("port", raw("1e10")), want: []string{"backend_servers[0].port: must be 1..65535, got 1e10"}},
		{name: "port 1e999999999999", body: setServerRaw("port", raw("1e999999999999")), want: []string{"backend_servers[0].port: must be 1..65535"}},
		{name: "port 1e-999999999999", body: setServerRaw("port", raw("1e-999999999999")), want: []string{"backend_servers[0].port: must be an integer"}},
		{name: "port 0e5", body: setServerRaw("port", raw("0e5")), want: []string{"backend_servers[0].port: must be 1..65535, got 0e5"}},
		{name: "port 80.0 is 80", body: setServerRaw("port", raw("80.0"))},
		{name: "port 8e1 is 80", body: setServerRaw("port", raw("8e1"))},
		{name: "port 0.8E+2 is 80", body: setServerRaw("port", raw("0.8E+2"))},
		{name: "port null", body: setServer("port", nil), want: []string{"backend_servers[0].port: must be an integer, got null"}},
		{name: "port bool", body: setServer("port", true), want: []string{"backend_servers[0].port: must be an integer, got boolean"}},

		// type
		{name: "type missing", body: setServer("type", deleteMarker)},
		{name: "type null", body: setServer("type", nil)},
		{name: "type eci", body: setServer("type", "eci")},
		{name: "type upper case", body: setServer("type", "ECS"), want: []string{`backend_servers[0].type: must be one of ecs, eni, eci, got "ECS"`}},
		{name: "type empty", body: setServer("type", ""), want: []string{"backend_servers[0].type: must be one of ecs, eni, eci"}},
		{name: "type number", body: setServer("type", 1), want: []string{"backend_servers[0].type: must be one of ecs, eni, eci, got number"}},

		// reason, source
		{name: "reason 256 runes", body: set("reason", long("é", 256))},
		{name: "reason 257 runes", body: set("reason", long("é", 257)), want: []string{"reason: at most 256 characters, got 257"}},
		{name: "reason 300", body: set("reason", long("x", 300)), want: []string{"reason: at most 256 characters, got 300"}},
		{name: "reason escapes count once", body: setRaw("reason", raw(`"`+long(`\ud83d\ude00`, 256)+`"`))},
		{name: "reason null", body: set("reason", nil)},
		{name: "reason with an escaped lone surrogate", body: setRaw("reason", raw(`"cut \ud83d"`))},
		{name: "reason number", body: set("reason", 1), want: []string{"reason: must be a string, got number"}},
		{name: "source 257", body: set("source", long("s", 257)), want: []string{"source: at most 256 characters, got 257"}},
		{name: "source object", body: set("source", map[string]any{}), want: []string{"source: must be a string, got object"}},

		// deadline
		{name: "deadline offset and fraction", body: set("deadline", "2026-11-27T18:00:00.123456789+08:00")},
		{name: "deadline null", body: set("deadline", nil)},
		{name: "deadline leap day", body: set("deadline", "2028-02-29T00:00:00Z")},
		{name: "deadline words", body: set("deadline", "tomorrow"), want: []string{`deadline: must be an RFC 3339 time, got "tomorrow"`}},
		{name: "deadline one-digit hour", body: set("deadline", "2026-11-27T1:00:00Z"), want: []string{"deadline: must be an RFC 3339 time"}},
		{name: "deadline offset 24h", body: set("deadline", "2026-11-27T10:00:00+24:00"), want: []string{"deadline: must be an RFC 3339 time"}},
		{name: "deadline comma fraction", body: set("deadline", "2026-11-27T10:00:00,5Z"), want: []string{"deadline: must be an RFC 3339 time"}},
		{name: "deadline no zone", body: set("deadline", "2026-11-27T10:00:00"), want: []string{"deadline: must be an RFC 3339 time"}},
		{name: "deadline February 30", body: set("deadline", "2026-02-30T10:00:00Z"), want: []string{"deadline: must be an RFC 3339 time"}},
		{name: "deadline 2027-02-29", body: set("deadline", "2027-02-29T10:00:00Z"), want: []string{"deadline: must be an RFC 3339 time"}},
		{name: "deadline leap second", body: set("deadline", "2026-12-31T23:59:60Z"), want: []string{"deadline: must be an RFC 3339 time"}},
		{name: "deadline offset -00:00", body: set("deadline", "2026-11-27T10:00:00-00:00")},
		{name: "deadline hour 24", body: set("deadline", "2026-11-27T24:00:00Z"), want: []string{"deadline: must be an RFC 3339 time"}},
		{name: "deadline lower-case t", body: set("deadline", "2026-11-27t10:00:00Z"), want: []string{"deadline: must be an RFC 3339 time"}},
		{name: "deadline empty fraction", body: set("deadline", "2026-11-27T10:00:00.Z"), want: []string{"deadline: must be an RFC 3339 time"}},
		{name: "deadline number", body: set("deadline", 1764237600), want: []string{"deadline: must be an RFC 3339 time, got number"}},

		// unknown and repeated fields
		{name: "unknown field", body: doc(func(m map[string]any) { m["backend_server"] = m["backend_servers"] }), want: []string{`unknown field "backend_server"`}},
		{name: "field name case differs", body: doc(func(m map[string]any) { m["Version"] = m["version"]; delete(m, "version") }), want: []string{`unknown field "Version"`, "version: required"}},
		{name: "unknown server field", body: setServer("prot", 80), want: []string{`backend_servers[0]: unknown field "prot"`}},
		{name: "repeated field", body: `{"version":1,"request_id":"a","request_id":"b","region_id":"cn-hangzhou","vserver_group_id":"rsp-cige6j5e7p","backend_servers":[{"server_id":"i","port":1}]}`, want: []string{"request_id: duplicate field"}, schemaSkip: "a schema sees parsed JSON, where repeated names are gone"},
		{name: "repeated server field", body: `{"version":1,"request_id":"a","region_id":"cn-hangzhou","vserver_group_id":"rsp-cige6j5e7p","backend_servers":[{"server_id":"i","port":1,"port":2}]}`, want: []string{"backend_servers[0].port: duplicate field"}, schemaSkip: "a schema sees parsed JSON, where repeated names are gone"},
		{name: "escaped field name", body: `{"version":1,"request\u005fid":"a","region_id":"cn-hangzhou","vserver_group_id":"rsp-cige6j5e7p","backend_servers":[{"server_id":"i","port":1}]}`},

		// the body as a whole
		{name: "body too large", body: setRaw("reason", raw(`"x"`+strings.Repeat(" ", MaxRequestBytes))), want: []string{"body: larger than 65536 bytes"}, schemaSkip: "size"},
		{name: "body empty", body: ``, want: []string{"body: invalid JSON: unexpected end of input"}},
		{name: "body truncated", body: validDoc[:60], want: []string{"body: invalid JSON: unexpected end of input"}},
		{name: "body not JSON", body: `version=1`, want: []string{"body: invalid JSON: invalid character 'v'"}},
		{name: "body trailing data", body: validDoc + `{}`, want: []string{"body: invalid JSON: trailing data"}},
		{name: "body trailing NUL", body: validDoc + "\x00", want: []string{"body: invalid JSON: trailing data"}},
		{name: "body NUL for a value", body: setRaw("reason", raw("\x00")), want: []string{`body: invalid JSON: invalid character '\x00' at start of value`}},
		{name: "body trailing whitespace", body: validDoc + " \n\t\r"},
		{name: "body array", body: `[` + validDoc + `]`, want: []string{"body: must be a JSON object, got array"}},
		{name: "body null", body: `null`, want: []string{"body: must be a JSON object, got null"}},
		{name: "body invalid UTF-8", body: strings.Replace(set("reason", "x"), `"x"`, "\"\xff\"", 1), want: []string{"body: invalid JSON: invalid UTF-8"}},
		{name: "body of one invalid byte", body: "\xff", want: []string{"body: invalid JSON: invalid UTF-8 at offset 0"}},
		{name: "body UTF-8 surrogate", body: strings.Replace(set("reason", "x"), `"x"`, "\"\xed\xa0\x80\"", 1), want: []string{"body: invalid JSON: invalid UTF-8"}},
		{name: "body byte order mark", body: "\xef\xbb\xbf" + validDoc, want: []string{"body: invalid JSON"}},
		{name: "body control character", body: strings.Replace(set("reason", "x"), `"x"`, "\"\x01\"", 1), want: []string{"body: invalid JSON: invalid character"}},
		{name: "body bad escape", body: setRaw("reason", raw(`"\x"`)), want: []string{"body: invalid JSON: invalid escape sequence `\\x`"}},
		{name: "body leading zero", body: setServerRaw("port", raw("080")), want: []string{"body: invalid JSON: invalid character '8' after object value"}},
		{name: "body deep nesting in unknown field", body: setRaw("x", raw(strings.Repeat("[", 100)+strings.Repeat("]", 100))), want: []string{`unknown field "x"`, "body: nesting deeper than 64 levels"}},
		{name: "body nesting within the limit", body: setRaw("x", raw(strings.Repeat("[", 62)+strings.Repeat("]", 62))), want: []string{`unknown field "x"`}},
		{name: "violation after broken JSON not reported", body: `{"version":3,"request_id":`, want: []string{"version: must be 1 or 2, got 3", "body: invalid JSON"}},
		{name: "version-2 body broken off before its group", body: `{"version":2,"request_id":`, want: []string{"body: invalid JSON"}},

		// the subject
		{name: "subject not a request subject", subject: "slb.drain.event.completed.cn-hangzhou.rsp-cige6j5e7p", body: validDoc, want: []string{"subject: must be slb.drain.request.<region_id>.<vserver_group_id or instances>"}, schemaSkip: "subject"},
		{name: "subject six tokens", subject: testSubject + ".x", body: validDoc, want: []string{"subject: must be"}, schemaSkip: "subject"},
		{name: "subject invalid token", subject: "slb.drain.request.CN.rsp-cige6j5e7p", body: validDoc, want: []string{"subject: must be"}, schemaSkip: "subject"},
	}, decodeCasesV2()...)
}

func TestDecodeTable(t *testing.T) {
	for _, tc := range decodeCases() {
		t.Run(tc.name, func(t *testing.T) {
			subject := tc.subject
			if subject == "" {
				subject = testSubject
			}
			req, err := Decode(subject, []byte(tc.body))
			if len(tc.want) == 0 {
				if err != nil {
					t.Fatalf("Decode: %v", err)
				}
				checkContractRules(t, subject, req)
				return
			}
			var ve *ValidationError
			if !errors.As(err, &ve) {
				t.Fatalf("Decode error = %v, want a *ValidationError", err)
			}
			for _, w := range tc.want {
				found := false
				for _, v := range ve.Violations {
					found = found || strings.Contains(v.String(), w)
				}
				if !found {
					t.Errorf("no violation contains %q; got %v", w, err)
				}
			}
			if tc.name == "violation after broken JSON not reported" && strings.Contains(err.Error(), "required") {
				t.Errorf("fields after a syntax error reported missing: %v", err)
			}
			if len(ve.Violations) > len(tc.want) {
				t.Errorf("more violations than expected: %v", err)
			}
		})
	}
}

var (
	regionRE = regexp.MustCompile(`^[a-z]{2,}(-[a-z0-9]+)+$`)
	groupRE  = regexp.MustCompile(`^rsp-[a-z0-9]+$`)
)

// checkContractRules asserts the contract's rules on an accepted request
// with simple code of its own, independent of the decoder's checks.
func checkContractRules(t *testing.T, subject string, r DrainRequest) {
	t.Helper()
	v2 := r.Version == 2
	if r.Version != 1 && !v2 {
		t.Errorf("version %d", r.Version)
	}
	if n := len(r.RequestID); n < 1 || n > 128 || strings.Trim(r.RequestID, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789._:-") != "" {
		t.Errorf("request_id %q", r.RequestID)
	}
	instances := v2 && r.VServerGroupID == ""
	if !regionRE.MatchString(r.RegionID) || (!instances && !groupRE.MatchString(r.VServerGroupID)) {
		t.Errorf("region %q group %q", r.RegionID, r.VServerGroupID)
	}
	want := "slb.drain.request." + r.RegionID + "." + r.VServerGroupID
	if instances {
		want = "slb.drain.request." + r.RegionID + ".instances"
	}
	if want != subject {
		t.Errorf("body names %s, received on %s", want, subject)
	}
	if n := len(r.BackendServers); n < 1 || n > 1000 {
		t.Errorf("%d backend servers", n)
	}
	restore := v2 && r.Action == "restore"
	seen := map[[3]string]bool{}
	for _, b := range r.BackendServers {
		if n := len(b.ServerID); n < 1 || n > 64 || strings.Trim(b.ServerID, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_") != "" {
			t.Errorf("server_id %q", b.ServerID)
		}
		if (b.Port < 1 && !(instances && b.Port == 0)) || b.Port > 65535 {
			t.Errorf("port %d", b.Port)
		}
		if b.Type != "ecs" && b.Type != "eni" && b.Type != "eci" {
			t.Errorf("type %q", b.Type)
		}
		if w, set := b.Weight.Get(); set && (!restore || w < 0 || w > 100) {
			t.Errorf("weight %d in a request of action %q", w, r.Action)
		}
		key := [3]string{b.ServerID, strconv.Itoa(b.Port), b.Type}
		if seen[key] {
			t.Errorf("duplicate %v not folded", b)
		}
		seen[key] = true
	}
	if len([]rune(r.Reason)) > 256 || len([]rune(r.Source)) > 256 {
		t.Errorf("reason or source too long")
	}
	if r.Deadline != nil && r.Deadline.Location() != time.UTC {
		t.Errorf("deadline %v not in UTC", r.Deadline)
	}
	if !v2 {
		if r.Action != "" || r.Mode != "" || r.DrainTimeout != nil || r.DryRun || r.Force || r.RestoreOf != "" {
			t.Errorf("version 1 with fields of version 2: %+v", r)
		}
		return
	}
	switch {
	case r.Action == "drain" && (r.Mode == "remove" || r.Mode == "graceful"):
	case r.Action == "restore" && r.Mode == "":
	default:
		t.Errorf("action %q mode %q", r.Action, r.Mode)
	}
	if d := r.DrainTimeout; d != nil && (r.Mode != "graceful" || *d < 0 || *d > time.Hour) {
		t.Errorf("drain_timeout %v with mode %q", *d, r.Mode)
	}
	if r.RestoreOf != "" && (!restore || !regexp.MustCompile(`^[A-Za-z0-9._:-]{1,128}$`).MatchString(r.RestoreOf)) {
		t.Errorf("restore_of %q with action %q", r.RestoreOf, r.Action)
	}
}

func TestDecodeExample(t *testing.T) {
	got, err := Decode(testSubject, []byte(validDoc))
	if err != nil {
		t.Fatal(err)
	}
	want := validRequest() // the contract's example
	if !reflect.DeepEqual(got, want) {
		t.Errorf("Decode =\n%+v\nwant\n%+v", got, want)
	}
}

func TestDecodeNormalises(t *testing.T) {
	body := set("backend_servers", []any{
		map[string]any{"server_id": "i-b", "port": 80},
		map[string]any{"server_id": "i-a", "port": 80, "type": "ecs"},
		map[string]any{"server_id": "i-b", "port": 80, "type": "ecs"}, // same as the first once defaulted
		map[string]any{"server_id": "i-b", "port": 81},
		map[string]any{"server_id": "i-b", "port": 80, "type": "eni"},
		map[string]any{"server_id": "i-a", "port": 80, "type": nil},
	})
	body = strings.Replace(body, `"deadline":"2026-11-27T10:00:00Z"`, `"deadline":"2026-11-27T18:00:00.5+08:00"`, 1)
	got, err := Decode(testSubject, []byte(body))
	if err != nil {
		t.Fatal(err)
	}
	want := []BackendServer{
		{ServerID: "i-b", Port: 80, Type: "ecs"},
		{ServerID: "i-a", Port: 80, Type: "ecs"},
		{ServerID: "i-b", Port: 81, Type: "ecs"},
		{ServerID: "i-b", Port: 80, Type: "eni"},
	}
	if !reflect.DeepEqual(got.BackendServers, want) {
		t.Errorf("servers = %v, want %v", got.BackendServers, want)
	}
	wantDeadline := time.Date(2026, 11, 27, 10, 0, 0, 5e8, time.UTC)
	if got.Deadline == nil || *got.Deadline != wantDeadline {
		t.Errorf("deadline = %v, want %v", got.Deadline, wantDeadline)
	}
}

// An escaped lone surrogate is valid JSON; it reads as U+FFFD, as
// encoding/json (and so the JSON Schema tools) read it.
func TestDecodeLoneSurrogate(t *testing.T) {
	body := setRaw("reason", raw(`"a\ud800b\udc00\ud83d\ude00"`))
	got, err := Decode(testSubject, []byte(body))
	if err != nil {
		t.Fatal(err)
	}
	var std struct{ Reason string }
	if err := json.Unmarshal([]byte(body), &std); err != nil {
		t.Fatal(err)
	}
	if want := "a\ufffdb\ufffd\U0001f600"; got.Reason != want || std.Reason != want {
		t.Errorf("reason %q, encoding/json %q, want %q", got.Reason, std.Reason, want)
	}
}

func TestDecodeListsEveryViolation(t *testing.T) {
	body := `{"version":3,"request_id":"a b","region_id":"cn-hangzhou","vserver_group_id":"rsp-X",` +
		`"backend_servers":[{"server_id":"i-1","port":80},{"server_id":"","port":0,"type":"x","extra":1},"s"],` +
		`"reason":"` + strings.Repeat("r", 300) + `","deadline":"soon","colour":"red"}`
	_, err := Decode(testSubject, []byte(body))
	var ve *ValidationError
	if !errors.As(err, &ve) {
		t.Fatalf("err = %v", err)
	}
	want := []Violation{
		{"version", "must be 1 or 2, got 3"},
		{"request_id", `must match [A-Za-z0-9._:-]{1,128}, got "a b"`},
		{"vserver_group_id", `must match rsp-[a-z0-9]+, got "rsp-X"`},
		{"backend_servers[1].server_id", `must match [A-Za-z0-9_-]{1,64}, got ""`},
		{"backend_servers[1].port", "must be 1..65535, got 0"},
		{"backend_servers[1].type", `must be one of ecs, eni, eci, got "x"`},
		{"backend_servers[1]", `unknown field "extra"`},
		{"backend_servers[2]", "must be an object, got string"},
		{"reason", "at most 256 characters, got 300"},
		{"deadline", `must be an RFC 3339 time, got "soon"`},
		{"", `unknown field "colour"`},
	}
	if !reflect.DeepEqual(ve.Violations, want) {
		t.Errorf("violations:\n%q\nwant\n%q", ve.Violations, want)
	}
	const msg = `invalid drain request: version: must be 1 or 2, got 3; request_id: must match`
	if !strings.HasPrefix(err.Error(), msg) || !strings.HasSuffix(err.Error(), `; unknown field "colour"`) {
		t.Errorf("Error() = %s", err)
	}
}

func TestDecodeBoundsViolations(t *testing.T) {
	body := set("backend_servers", servers(1000, func(int) any { return serverDoc("", 0) }))
	_, err := Decode(testSubject, []byte(body))
	var ve *ValidationError
	if !errors.As(err, &ve) {
		t.Fatalf("err = %v", err)
	}
	if len(ve.Violations) != maxViolations+1 {
		t.Fatalf("%d violations, want %d", len(ve.Violations), maxViolations+1)
	}
	if last := ve.Violations[maxViolations].String(); last != "and 1968 more violations" {
		t.Errorf("last violation %q", last)
	}
}

func TestDecodeRequestIDOnError(t *testing.T) {
	for _, tc := range []struct {
		name, body, want string
	}{
		{"valid id, other violation", set("version", 3), "asg-42-scalein-0001"},
		{"valid id, then broken JSON", `{"request_id":"r-1","version":`, "r-1"},
		{"valid id, then invalid UTF-8", `{"request_id":"r-1","reason":"` + "\xff" + `"}`, "r-1"},
		{"invalid id", doc(func(m map[string]any) { m["request_id"] = "a b"; m["version"] = 3 }), ""},
		{"repeated id", `{"request_id":"r-1","request_id":"r-2"}`, ""},
		{"no id", del("request_id"), ""},
		{"id of wrong type", set("request_id", 7), ""},
		{"not an object", `["r-1"]`, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := Decode(testSubject, []byte(tc.body))
			if err == nil {
				t.Fatal("accepted")
			}
			if got.RequestID != tc.want {
				t.Errorf("RequestID = %q, want %q", got.RequestID, tc.want)
			}
		})
	}
}

func TestIntegerValue(t *testing.T) {
	for _, tc := range []struct {
		lit             string
		v               int64
		integral, small bool
	}{
		{"0", 0, true, true},
		{"-0.0e-7", 0, true, true},
		{"80", 80, true, true},
		{"-80", -80, true, true},
		{"80.000", 80, true, true},
		{"800e-1", 80, true, true},
		{"0.08e3", 80, true, true},
		{"80.5", 0, false, false},
		{"8.05e1", 0, false, false},
		{"999999999999999", 999999999999999, true, true},
		{"1000000000000000", 0, true, false},
		{"1e15", 0, true, false},
		{"1e99999999999999999999", 0, true, false},
		{"1e-99999999999999999999", 0, false, false},
		{"12345678901234567890e-10", 0, false, false},
		{"12345678900000000000e-10", 1234567890, true, true},
	} {
		v, integral, small := integerValue(tc.lit)
		if v != tc.v || integral != tc.integral || small != tc.small {
			t.Errorf("integerValue(%s) = %d, %v, %v; want %d, %v, %v", tc.lit, v, integral, small, tc.v, tc.integral, tc.small)
		}
	}
}

// A deadline whose UTC year leaves 0000..9999 cannot be encoded again, so
// Decode refuses it as Validate does.
func TestDecodeRefusesDeadlineOutsideEncodableYears(t *testing.T) {
	for _, deadline := range []string{"9999-12-31T23:00:00-05:00", "0000-01-01T00:00:00+01:00"} {
		body := `{"version":1,"request_id":"r1","region_id":"cn-hangzhou","vserver_group_id":"rsp-a",` +
			`"backend_servers":[{"server_id":"i-1","port":80}],"deadline":"` + deadline + `"}`
		_, err := Decode(RequestSubject("cn-hangzhou", "rsp-a"), []byte(body))
		if err == nil || !strings.Contains(err.Error(), "deadline") {
			t.Errorf("deadline %s: Decode error %v, want a deadline violation", deadline, err)
		}
	}
}
