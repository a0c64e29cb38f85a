package messages

import (
	"strconv"
	"time"

	"github.com/go-json-experiment/json/jsontext"
)

// The one place where the rules of the contract's request table run. Decode
// reads a body into a wireRequest and Validate builds one from a
// DrainRequest; check then judges either the same way, so that a request is
// valid by Validate exactly when its JSON is valid by Decode. Reading every
// member before judging any also lets the rules depend on one another
// wherever the members sit in the body (version 2's rules will depend on
// "version").

// member is one member of a JSON object as read, before any rule.
type member struct {
	kind     jsontext.Kind // 0: absent
	text     string        // a string's value or a number's literal
	repeated bool          // named more than once: which copy wins is unknown
}

// wireRequest is a drain request in loose form: each member of the body, of
// whatever type it was.
type wireRequest struct {
	version, requestID, regionID, groupID, servers, reason, source, deadline member

	entries []wireServer // backend_servers' first MaxServers entries
	count   int          // backend_servers' entries, all of them
	unknown []string     // names of unknown members, in body order
	// partial tells that the body broke off: a member absent may just be
	// unread, so it is not called missing.
	partial bool
}

// wireServer is one entry of backend_servers in loose form.
type wireServer struct {
	kind                jsontext.Kind // an object, unless misplaced
	serverID, port, typ member
	unknown             []string
}

// member returns the field of w that name (as spelt in the contract,
// case-sensitively) is read into, or nil for an unknown name.
func (w *wireRequest) member(name string) *member {
	switch name {
	case "version":
		return &w.version
	case "request_id":
		return &w.requestID
	case "region_id":
		return &w.regionID
	case "vserver_group_id":
		return &w.groupID
	case "backend_servers":
		return &w.servers
	case "reason":
		return &w.reason
	case "source":
		return &w.source
	case "deadline":
		return &w.deadline
	}
	return nil
}

func (s *wireServer) member(name string) *member {
	switch name {
	case "server_id":
		return &s.serverID
	case "port":
		return &s.port
	case "type":
		return &s.typ
	}
	return nil
}

// check applies every rule to w, adding each violation to vs in the
// table's order (a server's unknown fields after its known ones, the body's
// last), and returns the request w describes: on violations, as much of it
// as could be read, of which only RequestID is dependable.
func (w *wireRequest) check(vs *violations) DrainRequest {
	need := !w.partial
	var r DrainRequest
	var rule string
	if r.Version, rule = w.version.version(need); rule != "" {
		vs.add("version", rule)
	}
	if r.RequestID, rule = w.requestID.id(need, ValidRequestID, ruleRequestID); rule != "" {
		r.RequestID = ""
		vs.add("request_id", rule)
	}
	if r.RegionID, rule = w.regionID.id(need, ValidRegionID, ruleRegionID); rule != "" {
		vs.add("region_id", rule)
	}
	if r.VServerGroupID, rule = w.groupID.id(need, ValidGroupID, ruleGroupID); rule != "" {
		vs.add("vserver_group_id", rule)
	}
	if rule = w.servers.list(need, w.count); rule != "" {
		vs.add("backend_servers", rule)
	}
	if !w.servers.repeated {
		r.BackendServers = make([]BackendServer, 0, len(w.entries))
		for i := range w.entries {
			if b, ok := w.entries[i].check(i, vs); ok {
				r.BackendServers = append(r.BackendServers, b)
			}
		}
	}
	if r.Reason, rule = w.reason.freeText(); rule != "" {
		vs.add("reason", rule)
	}
	if r.Source, rule = w.source.freeText(); rule != "" {
		vs.add("source", rule)
	}
	if r.Deadline, rule = w.deadline.deadline(); rule != "" {
		vs.add("deadline", rule)
	}
	for _, name := range w.unknown {
		vs.add("", "unknown field "+gotString(name))
	}
	return r
}

// check applies the rules to backend_servers[i]; ok is false if it is not
// an object at all.
func (s *wireServer) check(i int, vs *violations) (b BackendServer, ok bool) {
	if s.kind != '{' {
		vs.add(serverField(i, ""), "must be an object, got "+kindName(s.kind))
		return b, false
	}
	var rule string
	if b.ServerID, rule = s.serverID.id(true, ValidServerID, ruleServerID); rule != "" {
		vs.add(serverField(i, "server_id"), rule)
	}
	if b.Port, rule = s.port.port(); rule != "" {
		vs.add(serverField(i, "port"), rule)
	}
	if b.Type, rule = s.typ.serverType(); rule != "" {
		vs.add(serverField(i, "type"), rule)
	}
	if b.Type == "" {
		b.Type = TypeECS
	}
	for _, name := range s.unknown {
		vs.add(serverField(i, ""), "unknown field "+gotString(name))
	}
	return b, true
}

// The rules of one member each: they return the member's value and the
// rule it breaks, or "". A member breaks at most one rule at a time.

// absent reports whether m has no value to judge, and why that breaks a
// rule: it is repeated, or it is required and missing.
func (m member) absent(required bool) (bool, string) {
	switch {
	case m.repeated:
		return true, ruleDuplicateField
	case m.kind == 0 && required:
		return true, ruleRequired
	}
	return m.kind == 0, ""
}

// got shows m's value in a violation: a number's literal, or m's type.
func (m member) got() string {
	if m.kind == '0' {
		return gotLiteral(m.text)
	}
	return kindName(m.kind)
}

func (m member) version(required bool) (int, string) {
	if absent, rule := m.absent(required); absent {
		return 0, rule
	}
	if m.kind == '0' {
		if n, integral, small := integerValue(m.text); integral && small && n == Version {
			return Version, ""
		}
	}
	return 0, ruleVersion + ", got " + m.got()
}

// id reads a required string that valid judges (rule being its text); the
// string is returned even when invalid.
func (m member) id(required bool, valid func(string) bool, rule string) (string, string) {
	if absent, r := m.absent(required); absent {
		return "", r
	}
	if m.kind != '"' {
		return "", "must be a string, got " + kindName(m.kind)
	}
	if !valid(m.text) {
		return m.text, rule + ", got " + gotString(m.text)
	}
	return m.text, ""
}

// list judges backend_servers as a whole, of count entries.
func (m member) list(required bool, count int) string {
	if absent, rule := m.absent(required); absent {
		return rule
	}
	if m.kind != '[' {
		return "must be an array, got " + kindName(m.kind)
	}
	return checkServerCount(count)
}

func (m member) port() (int, string) {
	if absent, rule := m.absent(true); absent {
		return 0, rule
	}
	if m.kind != '0' {
		return 0, ruleInteger + ", got " + kindName(m.kind)
	}
	n, integral, small := integerValue(m.text)
	switch {
	case !integral:
		return 0, ruleInteger + ", got " + m.got()
	case !small || n < MinPort || n > MaxPort:
		return 0, rulePort + ", got " + m.got()
	}
	return int(n), ""
}

// serverType reads an optional type; null is absent, and absent is "".
func (m member) serverType() (string, string) {
	if absent, rule := m.absent(false); absent || m.kind == 'n' {
		return "", rule
	}
	if m.kind != '"' {
		return "", ruleType + ", got " + kindName(m.kind)
	}
	if !ValidServerType(m.text) {
		return "", ruleType + ", got " + gotString(m.text)
	}
	return m.text, ""
}

// freeText reads reason or source; null is absent. The string is returned
// even when too long, for the rejected event.
func (m member) freeText() (string, string) {
	if absent, rule := m.absent(false); absent || m.kind == 'n' {
		return "", rule
	}
	if m.kind != '"' {
		return "", "must be a string, got " + kindName(m.kind)
	}
	return m.text, checkText(m.text)
}

// deadline reads an optional RFC 3339 time, returned in UTC; null is
// absent.
func (m member) deadline() (*time.Time, string) {
	if absent, rule := m.absent(false); absent || m.kind == 'n' {
		return nil, rule
	}
	if m.kind != '"' {
		return nil, ruleDeadline + ", got " + kindName(m.kind)
	}
	t, ok := parseRFC3339(m.text)
	if !ok {
		return nil, ruleDeadline + ", got " + gotString(m.text)
	}
	// A time outside years 0000..9999 in UTC, the zone it is encoded in,
	// has no RFC 3339 form, so it could not be sent on.
	// ("9999-12-31T23:00:00-05:00" parses, but is year 10000 in UTC.)
	if y := t.Year(); y < 0 || y > 9999 {
		return nil, ruleDeadline + ", got year " + strconv.Itoa(y) + " in UTC"
	}
	return &t, ""
}

// wireOf is r in loose form, each field as its JSON encoding would be read
// (empty optional fields absent, the deadline in UTC), except that strings
// are kept as they are, so that invalid UTF-8, which an encoding would
// replace, is still seen and refused.
func wireOf(r *DrainRequest) *wireRequest {
	str := func(s string) member { return member{kind: '"', text: s} }
	optional := func(s string) member {
		if s == "" {
			return member{}
		}
		return str(s)
	}
	num := func(n int) member { return member{kind: '0', text: strconv.Itoa(n)} }
	w := &wireRequest{
		version:   num(r.Version),
		requestID: str(r.RequestID),
		regionID:  str(r.RegionID),
		groupID:   str(r.VServerGroupID),
		servers:   member{kind: '['},
		count:     len(r.BackendServers),
		reason:    optional(r.Reason),
		source:    optional(r.Source),
	}
	// Past MaxServers the list is refused for its length: the rest is not
	// judged.
	w.entries = make([]wireServer, min(len(r.BackendServers), MaxServers))
	for i := range w.entries {
		b := &r.BackendServers[i]
		w.entries[i] = wireServer{kind: '{', serverID: str(b.ServerID), port: num(b.Port), typ: optional(b.Type)}
	}
	if r.Deadline != nil {
		w.deadline = str(r.Deadline.UTC().Format(time.RFC3339Nano))
	}
	return w
}
