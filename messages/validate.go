package messages

import (
	"strconv"
	"strings"
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

// Validate checks r against every rule of the contract's request table of
// r's version except the subject check (which needs the subject: see
// Decode), as Decode judges r's JSON encoding (save that invalid UTF-8,
// which the encoding would replace, is refused). In version 2 an empty
// VServerGroupID is instance scope and a Port of 0 is "every port" (both
// absent on the wire). If r is valid, it normalises it: each empty server
// type becomes "ecs", duplicate servers (same Key) are folded into the
// first (in a new slice: the caller's array is left alone), and in version
// 2 an empty Action becomes ActionDrain and a drain's empty Mode
// ModeRemove. The count rule applies to the list as given, before folding.
// It returns nil or a *ValidationError listing every violation.
func (r *DrainRequest) Validate() error {
	var vs violations
	checked := wireOf(r).check(&vs)
	if vs.any() {
		// r is left as it is: folded, 1001 copies of one server would
		// pass a second Validate.
		return vs.err()
	}
	r.BackendServers = FoldServers(checked.BackendServers)
	r.Action, r.Mode = checked.Action, checked.Mode
	return nil
}
