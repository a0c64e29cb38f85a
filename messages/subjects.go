package messages

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
)

const (
	requestPrefix  = "slb.drain.request."
	eventPrefix    = "slb.drain.event."
	progressPrefix = "slb.drain.progress."

	// unknownToken stands for a region or group that cannot be named in an
	// event subject (a rejected request's unreadable or invalid token).
	unknownToken = "unknown"
)

// InstancesToken is the reserved group token of instance-scope subjects
// (version 2): slb.drain.request.<region_id>.instances and
// slb.drain.event.<status>.<region_id>.instances. No group id has this
// form.
const InstancesToken = "instances"

// InstancesRequestSubject is the subject of an instance-scope request of
// region: slb.drain.request.<region>.instances.
func InstancesRequestSubject(region string) string {
	return RequestSubject(region, InstancesToken)
}

// InstancesEventSubject is the subject of the outcome event of an
// instance-scope request: slb.drain.event.<status>.<region>.instances.
func InstancesEventSubject(status Status, region string) string {
	return EventSubject(status, region, InstancesToken)
}

// ValidGroupToken reports whether s may stand as the group token of a
// request or event subject: a valid group id, or InstancesToken.
func ValidGroupToken(s string) bool {
	return s == InstancesToken || ValidGroupID(s)
}

// RequestSubject is the subject a drain request for group is published to:
// slb.drain.request.<region>.<group>. It does not validate its arguments.
func RequestSubject(region, group string) string {
	return requestPrefix + region + "." + group
}

// EventSubject is the subject of an outcome event:
// slb.drain.event.<status>.<region>.<group>. It does not validate its
// arguments; Outcome.Subject does.
func EventSubject(status Status, region, group string) string {
	return eventPrefix + string(status) + "." + region + "." + group
}

// ProgressSubject is the core-NATS subject of progress notes for group:
// slb.drain.progress.<region>.<group>.
func ProgressSubject(region, group string) string {
	return progressPrefix + region + "." + group
}

// ErrNotRequestSubject is returned by ParseRequestSubject for a subject that
// is not slb.drain.request.<token>.<token>.
var ErrNotRequestSubject = errors.New("not a drain request subject")

// ParseRequestSubject splits slb.drain.request.<region>.<group> into its two
// tokens; group may be InstancesToken (instance scope, version 2), which is
// not an error. A subject of any other shape is an error wrapping
// ErrNotRequestSubject, with empty tokens. A subject of the right shape whose
// tokens are not a valid region id or group token is also an error, but the
// tokens are still returned, so a caller building a rejected event can keep
// the valid one (Outcome.Subject replaces the invalid one with "unknown").
func ParseRequestSubject(subject string) (region, group string, err error) {
	rest, ok := strings.CutPrefix(subject, requestPrefix)
	if !ok {
		return "", "", fmt.Errorf("subject %s: %w", gotString(subject), ErrNotRequestSubject)
	}
	region, group, ok = strings.Cut(rest, ".")
	if !ok || region == "" || group == "" || strings.IndexByte(group, '.') >= 0 {
		return "", "", fmt.Errorf("subject %s: %w", gotString(subject), ErrNotRequestSubject)
	}
	switch {
	case !ValidRegionID(region):
		err = fmt.Errorf("subject %s: region token %s", gotString(subject), ruleRegionID)
	case !ValidGroupToken(group):
		err = fmt.Errorf("subject %s: group token %s or be %q", gotString(subject), ruleGroupID, InstancesToken)
	}
	return region, group, err
}

// EventMsgID is the Nats-Msg-Id of the outcome event of requestID.
func EventMsgID(requestID string) string { return "event:" + requestID }

// EventSeqMsgID is the Nats-Msg-Id of the outcome event of a request whose
// request_id could not be read, named by its request stream sequence.
func EventSeqMsgID(seq uint64) string { return "event:seq:" + strconv.FormatUint(seq, 10) }
