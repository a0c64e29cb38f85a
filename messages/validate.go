package messages

import (
	"strconv"
	"strings"
	"time"
)

// Violation is one broken rule: the field (a path such as
// "backend_servers[3].port", "body" for the message as a whole, or "" for
// the top-level object) and the rule it breaks.
type Violation struct {
	Field string
	Rule  string
}

func (v Violation) String() string {
	if v.Field == "" {
		return v.Rule
	}
	return v.Field + ": " + v.Rule
}

// ValidationError lists every rule a drain request breaks, in the order
// found. Decode, Validate and Publish return it (possibly wrapped); use
// errors.As to inspect it.
type ValidationError struct {
	Violations []Violation
}

// maxViolations bounds the violations recorded for one request, so that a
// hostile body (thousands of bad entries or unknown fields) cannot make an
// error, and the rejected event quoting it, grow without bound. Past it, one
// last violation says how many more there were.
const maxViolations = 32

func (e *ValidationError) Error() string {
	var b strings.Builder
	b.WriteString("invalid drain request: ")
	for i, v := range e.Violations {
		if i > 0 {
			b.WriteString("; ")
		}
		b.WriteString(v.String())
	}
	return b.String()
}

// violations collects Violations up to maxViolations.
type violations struct {
	list    []Violation
	dropped int
}

func (vs *violations) add(field, rule string) {
	if len(vs.list) >= maxViolations {
		vs.dropped++
		return
	}
	vs.list = append(vs.list, Violation{Field: field, Rule: rule})
}

func (vs *violations) any() bool { return len(vs.list) > 0 }

// err returns the collected violations as an error, or nil (an untyped nil,
// so callers can compare with nil).
func (vs *violations) err() error {
	if len(vs.list) == 0 {
		return nil
	}
	list := vs.list
	if vs.dropped > 0 {
		list = append(list, Violation{Field: "", Rule: "and " + strconv.Itoa(vs.dropped) + " more violations"})
	}
	return &ValidationError{Violations: list}
}

// serverField names a field of the i-th backend server in a violation.
func serverField(i int, name string) string {
	s := "backend_servers[" + strconv.Itoa(i) + "]"
	if name != "" {
		s += "." + name
	}
	return s
}

// Validate checks r against every rule of the contract's request table except
// the subject check (which needs the subject: see Decode). It first
// normalises r in place: an empty server type becomes "ecs", and, if r is
// valid, duplicate (server_id, port, type) entries are folded into the first.
// The count rule applies to the list as given, before folding. It returns nil or a
// *ValidationError listing every violation.
func (r *DrainRequest) Validate() error {
	var vs violations
	if r.Version != Version {
		vs.add("version", ruleVersion+", got "+strconv.Itoa(r.Version))
	}
	if !ValidRequestID(r.RequestID) {
		vs.add("request_id", ruleRequestID+", got "+gotString(r.RequestID))
	}
	if !ValidRegionID(r.RegionID) {
		vs.add("region_id", ruleRegionID+", got "+gotString(r.RegionID))
	}
	if !ValidGroupID(r.VServerGroupID) {
		vs.add("vserver_group_id", ruleGroupID+", got "+gotString(r.VServerGroupID))
	}
	if rule := checkServerCount(len(r.BackendServers)); rule != "" {
		vs.add("backend_servers", rule)
	}
	for i := range r.BackendServers {
		if i == MaxServers {
			break // already refused; do not spend time on the rest
		}
		b := &r.BackendServers[i]
		if b.Type == "" {
			b.Type = TypeECS
		}
		if !ValidServerID(b.ServerID) {
			vs.add(serverField(i, "server_id"), ruleServerID+", got "+gotString(b.ServerID))
		}
		if b.Port < MinPort || b.Port > MaxPort {
			vs.add(serverField(i, "port"), rulePort+", got "+strconv.Itoa(b.Port))
		}
		if !ValidServerType(b.Type) {
			vs.add(serverField(i, "type"), ruleType+", got "+gotString(b.Type))
		}
	}
	if rule := checkText(r.Reason); rule != "" {
		vs.add("reason", rule)
	}
	if rule := checkText(r.Source); rule != "" {
		vs.add("source", rule)
	}
	if r.Deadline != nil {
		if rule := checkDeadlineYear(*r.Deadline); rule != "" {
			vs.add("deadline", rule)
		}
	}
	if vs.any() {
		// Folding an invalid list could make a second Validate pass it
		// (1001 copies of one server fold to one).
		return vs.err()
	}
	r.BackendServers = FoldServers(r.BackendServers)
	return nil
}

// checkDeadlineYear refuses a time outside years 0000..9999 in UTC, the zone
// it is encoded in: it has no RFC 3339 form, so it could not be sent on.
// ("9999-12-31T23:00:00-05:00" parses, but is year 10000 in UTC.)
func checkDeadlineYear(t time.Time) string {
	if y := t.UTC().Year(); y < 0 || y > 9999 {
		return ruleDeadline + ", got year " + strconv.Itoa(y) + " in UTC"
	}
	return ""
}
