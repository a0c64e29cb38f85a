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
// wherever the members sit in the body: which rules apply depends on
// "version", a port's on the scope (vserver_group_id), a weight's,
// restore_of's and mode's on "action", and drain_timeout's on "mode".
//
// The rules of version 2, in the order their violations are listed:
//
//	version           1 or 2
//	request_id        required, [A-Za-z0-9._:-]{1,128}
//	region_id         required, [a-z]{2,}(-[a-z0-9]+)+
//	action            drain (default) or restore
//	vserver_group_id  rsp-[a-z0-9]+; absent or null: instance scope
//	backend_servers   1..1000 entries
//	  server_id       required, [A-Za-z0-9_-]{1,64}
//	  port            1..65535; required in group scope
//	  type            ecs (default), eni or eci
//	  weight          0..100, only with action restore
//	mode              remove (default) or graceful, only with action drain
//	drain_timeout     Go duration of 0s..1h, only with mode graceful
//	dry_run, force    booleans
//	restore_of        [A-Za-z0-9._:-]{1,128}, only with action restore
//	reason, source    at most 256 characters
//	deadline          RFC 3339, year 0000..9999 in UTC
//
// Each optional member may be null, meaning absent. A version-1 body is
// judged by version 1's table, and any member of version 2 in it is refused
// as "only in version 2".

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
	// Members of version 2.
	action, mode, drainTimeout, dryRun, force, restoreOf member

	entries []wireServer // backend_servers' first MaxServers entries
	count   int          // backend_servers' entries, all of them
	unknown []string     // names of unknown members, in body order
	// partial tells that the body broke off: a member absent may just be
	// unread, so it is not called missing.
	partial bool
}

// wireServer is one entry of backend_servers in loose form.
type wireServer struct {
	kind                        jsontext.Kind // an object, unless misplaced
	serverID, port, typ, weight member
	unknown                     []string
}

// member returns the field of w that name (as spelt in the contract,
// case-sensitively) is read into, or nil for an unknown name. The members
// of version 2 are known in every version: in a version-1 body, the rules
// refuse them by name.
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
	case "action":
		return &w.action
	case "mode":
		return &w.mode
	case "drain_timeout":
		return &w.drainTimeout
	case "dry_run":
		return &w.dryRun
	case "force":
		return &w.force
	case "restore_of":
		return &w.restoreOf
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
	case "weight":
		return &s.weight
	}
	return nil
}

// v2Members reports whether w holds any member that only version 2 has.
func (w *wireRequest) v2Members() bool {
	for _, m := range []*member{&w.action, &w.mode, &w.drainTimeout, &w.dryRun, &w.force, &w.restoreOf} {
		if m.kind != 0 || m.repeated {
			return true
		}
	}
	for i := range w.entries {
		if w.entries[i].weight.kind != 0 || w.entries[i].weight.repeated {
			return true
		}
	}
	return false
}

// scope is what the rules of a backend_servers entry depend on.
type scope struct {
	v2 bool
	// group: group scope (in version 2, a vserver_group_id that is there,
	// valid or not); port is then required.
	group bool
	// action is the request's action, "" when it is itself invalid (the
	// rules that depend on it are then not applied: the request is refused
	// for its action already).
	action Action
}

// check applies every rule to w, adding each violation to vs in the
// table's order (a server's unknown fields after its known ones, the body's
// last), and returns the request w describes: on violations, as much of it
// as could be read, of which only RequestID and Version are dependable.
//
// The version decides the rules. A body whose version is not 1 or 2 is
// judged by version 2's rules if it has a member only version 2 knows, else
// by version 1's, so that the rest of its violations are the ones its author
// meant to be judged by.
func (w *wireRequest) check(vs *violations) DrainRequest {
	need := !w.partial
	var r DrainRequest
	var rule string
	if r.Version, rule = w.version.version(need); rule != "" {
		vs.add("version", rule)
	}
	v2 := r.Version == Version2 || (r.Version == 0 && w.v2Members())
	if r.RequestID, rule = w.requestID.id(need, ValidRequestID, ruleRequestID); rule != "" {
		r.RequestID = ""
		vs.add("request_id", rule)
	}
	if r.RegionID, rule = w.regionID.id(need, ValidRegionID, ruleRegionID); rule != "" {
		vs.add("region_id", rule)
	}
	sc := scope{v2: v2, group: true, action: ActionDrain}
	if v2 {
		if r.Action, rule = w.action.action(); rule != "" {
			vs.add("action", rule)
			r.Action, sc.action = "", ""
		} else {
			sc.action = r.Action
		}
	} else {
		onlyV2(w.action, "action", vs)
	}
	if v2 && w.groupID.null() {
		sc.group = false // instance scope
	} else if r.VServerGroupID, rule = w.groupID.id(need && !v2, ValidGroupID, ruleGroupID); rule != "" {
		vs.add("vserver_group_id", rule)
	}
	if rule = w.servers.list(need, w.count); rule != "" {
		vs.add("backend_servers", rule)
	}
	if !w.servers.repeated {
		r.BackendServers = make([]BackendServer, 0, len(w.entries))
		for i := range w.entries {
			if b, ok := w.entries[i].check(i, sc, vs); ok {
				r.BackendServers = append(r.BackendServers, b)
			}
		}
	}
	if v2 {
		w.checkV2(&r, sc.action, vs)
	} else {
		for _, m := range []struct {
			m    member
			name string
		}{{w.mode, "mode"}, {w.drainTimeout, "drain_timeout"}, {w.dryRun, "dry_run"}, {w.force, "force"}, {w.restoreOf, "restore_of"}} {
			onlyV2(m.m, m.name, vs)
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

// checkV2 applies the rules of version 2's members after backend_servers:
// mode, drain_timeout, dry_run, force and restore_of. action is the
// request's action, "" if invalid.
func (w *wireRequest) checkV2(r *DrainRequest, action Action, vs *violations) {
	var rule string
	// modeKnown: whether the request's mode is known (given and valid, or
	// the default of a known action); drain_timeout's dependence on it is
	// judged only then.
	modeKnown := action != ""
	switch {
	case w.mode.null():
		if action == ActionDrain {
			r.Mode = ModeRemove
		}
	case action == ActionRestore:
		vs.add("mode", ruleOnlyDrain)
		modeKnown = false
	default:
		if r.Mode, rule = w.mode.mode(); rule != "" {
			vs.add("mode", rule)
			modeKnown = false
		}
	}
	if !w.drainTimeout.null() {
		if r.DrainTimeout, rule = w.drainTimeout.drainTimeout(modeKnown && r.Mode != ModeGraceful); rule != "" {
			vs.add("drain_timeout", rule)
		}
	}
	if r.DryRun, rule = w.dryRun.boolean(); rule != "" {
		vs.add("dry_run", rule)
	}
	if r.Force, rule = w.force.boolean(); rule != "" {
		vs.add("force", rule)
	}
	switch {
	case w.restoreOf.null():
	case action == ActionDrain:
		vs.add("restore_of", ruleOnlyRestore)
	default:
		if r.RestoreOf, rule = w.restoreOf.id(false, ValidRequestID, ruleRequestID); rule != "" {
			r.RestoreOf = ""
			vs.add("restore_of", rule)
		}
	}
}

// onlyV2 refuses m, a member of version 2 only, in a version-1 body.
func onlyV2(m member, name string, vs *violations) {
	if m.kind != 0 || m.repeated {
		vs.add(name, ruleV2Only)
	}
}

// check applies the rules to backend_servers[i]; ok is false if it is not
// an object at all.
func (s *wireServer) check(i int, sc scope, vs *violations) (b BackendServer, ok bool) {
	if s.kind != '{' {
		vs.add(serverField(i, ""), "must be an object, got "+kindName(s.kind))
		return b, false
	}
	var rule string
	if b.ServerID, rule = s.serverID.id(true, ValidServerID, ruleServerID); rule != "" {
		vs.add(serverField(i, "server_id"), rule)
	}
	switch {
	case sc.v2 && !sc.group && s.port.null():
		// instance scope: every port
	case sc.v2 && sc.group && s.port.kind == 0 && !s.port.repeated:
		vs.add(serverField(i, "port"), ruleGroupScopePort)
	default:
		if b.Port, rule = s.port.port(); rule != "" {
			vs.add(serverField(i, "port"), rule)
		}
	}
	if b.Type, rule = s.typ.serverType(); rule != "" {
		vs.add(serverField(i, "type"), rule)
	}
	if b.Type == "" {
		b.Type = TypeECS
	}
	switch {
	case !sc.v2:
		if s.weight.kind != 0 || s.weight.repeated { // the field's name is built only when needed
			vs.add(serverField(i, "weight"), ruleV2Only)
		}
	case s.weight.null():
	case sc.action == ActionDrain:
		vs.add(serverField(i, "weight"), ruleOnlyRestore)
	default:
		if b.Weight, rule = s.weight.weight(); rule != "" {
			vs.add(serverField(i, "weight"), rule)
		}
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
		if n, integral, small := integerValue(m.text); integral && small && (n == Version1 || n == Version2) {
			return int(n), ""
		}
	}
	return 0, ruleVersion + ", got " + m.got()
}

// null reports whether m is absent or null, an optional member's "not
// given". A repeated member is not: it breaks the rule of duplicates.
func (m member) null() bool {
	return !m.repeated && (m.kind == 0 || m.kind == 'n')
}

// action reads an optional action; null is absent, and absent ActionDrain.
func (m member) action() (Action, string) {
	if absent, rule := m.absent(false); absent || m.kind == 'n' {
		return ActionDrain, rule
	}
	if m.kind == '"' && (m.text == string(ActionDrain) || m.text == string(ActionRestore)) {
		return Action(m.text), ""
	}
	return "", ruleAction + ", got " + m.gotValue()
}

// mode reads a mode that is there (not null).
func (m member) mode() (Mode, string) {
	if absent, rule := m.absent(false); absent {
		return "", rule
	}
	if m.kind == '"' && (m.text == string(ModeRemove) || m.text == string(ModeGraceful)) {
		return Mode(m.text), ""
	}
	return "", ruleMode + ", got " + m.gotValue()
}

// drainTimeout reads a drain_timeout that is there (not null); misplaced
// tells that the request's mode is known and is not graceful.
func (m member) drainTimeout(misplaced bool) (*time.Duration, string) {
	if absent, rule := m.absent(false); absent {
		return nil, rule
	}
	if m.kind != '"' {
		return nil, ruleDrainTimeout + ", got " + kindName(m.kind)
	}
	if misplaced {
		return nil, ruleOnlyGraceful
	}
	d, syntax, atMostMax := parseDrainTimeout(m.text)
	switch {
	case !syntax:
		return nil, ruleDrainTimeout + ", got " + gotString(m.text)
	case !atMostMax:
		return nil, ruleDrainTimeoutMax + ", got " + gotString(m.text)
	}
	return &d, ""
}

// boolean reads an optional boolean; null is absent, and absent false.
func (m member) boolean() (bool, string) {
	if absent, rule := m.absent(false); absent || m.kind == 'n' {
		return false, rule
	}
	if m.kind != 't' && m.kind != 'f' {
		return false, ruleBoolean + ", got " + kindName(m.kind)
	}
	return m.kind == 't', ""
}

// weight reads a weight that is there (not null).
func (m member) weight() (Weight, string) {
	if absent, rule := m.absent(false); absent {
		return Weight{}, rule
	}
	if m.kind != '0' {
		return Weight{}, ruleInteger + ", got " + kindName(m.kind)
	}
	n, integral, small := integerValue(m.text)
	switch {
	case !integral:
		return Weight{}, ruleInteger + ", got " + m.got()
	case !small || n < MinWeight || n > MaxWeight:
		return Weight{}, ruleWeight + ", got " + m.got()
	}
	return WeightOf(int(n)), ""
}

// gotValue shows m's value in a violation: a string quoted, a number's
// literal, or m's type.
func (m member) gotValue() string {
	if m.kind == '"' {
		return gotString(m.text)
	}
	return m.got()
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

// wireOf is r in loose form, each field as MarshalJSON would write it and
// Decode read it (empty optional fields absent, the deadline in UTC; in
// version 2 an empty group and a port of 0 absent), except that strings
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
	flag := func(b bool) member {
		if !b {
			return member{}
		}
		return member{kind: 't'}
	}
	v2 := r.Version == Version2
	w := &wireRequest{
		version:   num(r.Version),
		requestID: str(r.RequestID),
		regionID:  str(r.RegionID),
		groupID:   str(r.VServerGroupID),
		servers:   member{kind: '['},
		count:     len(r.BackendServers),
		reason:    optional(r.Reason),
		source:    optional(r.Source),
		action:    optional(string(r.Action)),
		mode:      optional(string(r.Mode)),
		dryRun:    flag(r.DryRun),
		force:     flag(r.Force),
		restoreOf: optional(r.RestoreOf),
	}
	if v2 {
		w.groupID = optional(r.VServerGroupID)
	}
	if r.DrainTimeout != nil {
		w.drainTimeout = str(formatDrainTimeout(*r.DrainTimeout))
	}
	// Past MaxServers the list is refused for its length: the rest is not
	// judged.
	w.entries = make([]wireServer, min(len(r.BackendServers), MaxServers))
	for i := range w.entries {
		b := &r.BackendServers[i]
		e := wireServer{kind: '{', serverID: str(b.ServerID), port: num(b.Port), typ: optional(b.Type)}
		if v2 && b.Port == 0 {
			e.port = member{}
		}
		if n, ok := b.Weight.Get(); ok {
			e.weight = num(n)
		}
		w.entries[i] = e
	}
	if r.Deadline != nil {
		w.deadline = str(r.Deadline.UTC().Format(time.RFC3339Nano))
	}
	return w
}
