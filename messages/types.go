package messages

import (
	"fmt"
	"strconv"
	"strings"
	"time"
)

// Wire constants of contract versions 1 and 2.
const (
	// Version is contract version 1, the version existing publishers send.
	// The package speaks both versions: new code names Version1 or Version2.
	Version = Version1

	// Version1 and Version2 are the contract versions, carried in each
	// message's "version" field. A version-1 request gets a version-1 event,
	// a version-2 request a version-2 event.
	Version1 = 1
	Version2 = 2

	// RequestStream and EventStream are the JetStream streams of requests and
	// outcome events.
	RequestStream = "SLB_DRAIN_REQUESTS"
	EventStream   = "SLB_DRAIN_EVENTS"

	// Subject filters of the two streams and of the core-NATS progress notes.
	RequestSubjects  = "slb.drain.request.>"
	EventSubjects    = "slb.drain.event.>"
	ProgressSubjects = "slb.drain.progress.>"

	// MsgIDHeader is JetStream's de-duplication header.
	MsgIDHeader = "Nats-Msg-Id"

	// MaxRequestBytes bounds a request body.
	MaxRequestBytes = 64 << 10
	// MaxServers bounds the backend_servers entries of one request.
	MaxServers = 1000
	// MaxBatch is the API's limit of backend servers per
	// RemoveVServerGroupBackendServers call.
	MaxBatch = 20

	// MaxTextChars bounds reason and source, in characters (runes).
	MaxTextChars = 256
	// MaxRequestIDLen and MaxServerIDLen bound request_id and server_id.
	MaxRequestIDLen = 128
	MaxServerIDLen  = 64
	// MinPort and MaxPort bound a backend server's port.
	MinPort = 1
	MaxPort = 65535

	// MinWeight and MaxWeight bound a backend server's weight (version 2,
	// restore); DefaultWeight is what a restore puts back when neither the
	// request nor the drain's memory says otherwise.
	MinWeight     = 0
	MaxWeight     = 100
	DefaultWeight = 100

	// MaxDrainTimeout bounds drain_timeout (version 2); DefaultDrainTimeout
	// is the worker's --drain-timeout default, used when a graceful request
	// sets none.
	MaxDrainTimeout     = time.Hour
	DefaultDrainTimeout = 30 * time.Second

	// TraceParentHeader is the W3C trace context header a request may carry;
	// its trace id becomes the event's trace_id (version 2).
	TraceParentHeader = "traceparent"
)

// ServerType is a backend server's type as the SLB API names it.
type ServerType = string

// Backend server types. An empty type means TypeECS.
const (
	TypeECS ServerType = "ecs"
	TypeENI ServerType = "eni"
	TypeECI ServerType = "eci"
)

// BackendServer is one member of a VServer group: the (server_id, port,
// type) triple the API identifies it by, and, in version 2, its weight.
//
// ServerID is the ECS instance, ENI or ECI id. Port is the member's backend
// port; in an instance-scope request (version 2) 0 means every port the
// server has in each group that holds it. Type is ecs (the default: empty
// means ecs), eni or eci. Weight is set only where the contract has one: in
// a restore request (the weight to put back; unset: the weight the server
// had when slbdrain drained it, else DefaultWeight) and in an outcome's
// Groups (the weight the server had before slbdrain touched it).
//
// Weight is part of ==; compare identities with Key.
type BackendServer struct {
	ServerID string `json:"server_id"`
	Port     int    `json:"port"`
	Type     string `json:"type,omitempty"`
	Weight   Weight `json:"weight,omitzero"`
}

// Key is b without its weight and with an empty type as TypeECS: the
// identity of a group member, for comparing and as a map key.
func (b BackendServer) Key() BackendServer {
	if b.Type == "" {
		b.Type = TypeECS
	}
	b.Weight = Weight{}
	return b
}

// Weight is an optional backend server weight (0..100 on the wire). The
// zero Weight is unset, which is not the same as weight 0: a server of
// weight 0 gets no new connections. JSON: a number, or null (and left out
// of a message) when unset.
type Weight struct {
	value int
	set   bool
}

// WeightOf is the Weight n.
func WeightOf(n int) Weight { return Weight{value: n, set: true} }

// Get returns the weight and whether it is set.
func (w Weight) Get() (int, bool) { return w.value, w.set }

// Or returns the weight, or def when it is unset.
func (w Weight) Or(def int) int {
	if !w.set {
		return def
	}
	return w.value
}

// IsSet reports whether w holds a weight.
func (w Weight) IsSet() bool { return w.set }

// IsZero reports whether w is unset (for omitzero).
func (w Weight) IsZero() bool { return !w.set }

// String is the weight in decimal, or "unset".
func (w Weight) String() string {
	if !w.set {
		return "unset"
	}
	return strconv.Itoa(w.value)
}

// MarshalJSON writes the weight as a number, or null when unset.
func (w Weight) MarshalJSON() ([]byte, error) {
	if !w.set {
		return []byte("null"), nil
	}
	return strconv.AppendInt(nil, int64(w.value), 10), nil
}

// UnmarshalJSON reads a number (an integer by value, such as 50 or 5e1) or
// null (unset). It does not check the range: Decode does.
func (w *Weight) UnmarshalJSON(data []byte) error {
	lit := string(data)
	if lit == "null" {
		*w = Weight{}
		return nil
	}
	n, integral, small := integerValue(lit)
	if len(lit) == 0 || (lit[0] != '-' && !isDigit(lit[0])) || !integral || !small || n < -1<<31 || n > 1<<31-1 {
		return fmt.Errorf("weight %s: %s", gotLiteral(lit), ruleInteger)
	}
	*w = WeightOf(int(n))
	return nil
}

// String formats b as "server_id:port:type" (the form drainctl takes), with
// an empty type shown as its default, "ecs", so that equal servers print
// equally.
func (b BackendServer) String() string {
	t := b.Type
	if t == "" {
		t = TypeECS
	}
	buf := make([]byte, 0, len(b.ServerID)+len(t)+8)
	buf = append(buf, b.ServerID...)
	buf = append(buf, ':')
	buf = strconv.AppendInt(buf, int64(b.Port), 10)
	buf = append(buf, ':')
	buf = append(buf, t...)
	return string(buf)
}

// ParseBackendServer parses the "server_id:port[:type]" form that String
// writes and drainctl takes, defaulting the type to "ecs", and checks it
// against the contract's rules.
func ParseBackendServer(s string) (BackendServer, error) {
	id, rest, ok := strings.Cut(s, ":")
	if !ok {
		return BackendServer{}, fmt.Errorf("backend server %s: want server_id:port[:type]", gotString(s))
	}
	portStr, typ, _ := strings.Cut(rest, ":")
	if typ == "" {
		typ = TypeECS
	}
	if !ValidServerID(id) {
		return BackendServer{}, fmt.Errorf("backend server %s: server_id %s", gotString(s), ruleServerID)
	}
	port := 0
	for i := 0; i < len(portStr) && port <= MaxPort; i++ {
		if !isDigit(portStr[i]) {
			port = -1
			break
		}
		port = port*10 + int(portStr[i]-'0')
	}
	if port < MinPort || port > MaxPort {
		return BackendServer{}, fmt.Errorf("backend server %s: port %s", gotString(s), rulePort)
	}
	if !ValidServerType(typ) {
		return BackendServer{}, fmt.Errorf("backend server %s: type %s", gotString(s), ruleType)
	}
	return BackendServer{ServerID: id, Port: port, Type: typ}, nil
}

// DrainRequest asks to take BackendServers out of VServer groups (or, in
// version 2, to put them back). Decode produces validated, normalised
// requests; Go publishers fill it in and call Publish (or Validate).
//
// Version 1 names one group and (server, port) pairs. Version 2 adds the
// fields after BackendServers; in a version-1 request they are zero (and a
// version-1 document that sets one is refused). Use the methods
// ActionOrDefault, ModeOrDefault and DrainTimeoutOr to read them the same
// way for both versions.
type DrainRequest struct {
	// Version is Version1 or Version2.
	Version int `json:"version"`
	// RequestID is the idempotency key: a request re-sent with the same id
	// is the same request.
	RequestID string `json:"request_id"`
	// RegionID is the Alibaba Cloud region, as in the subject.
	RegionID string `json:"region_id"`
	// VServerGroupID is the group to drain (group scope). Version 2 may
	// leave it empty: instance scope, published on the "instances" token,
	// where every group of the region that holds one of the servers is
	// drained of it.
	VServerGroupID string `json:"vserver_group_id"`
	// BackendServers are the servers, 1..MaxServers as sent; Decode folds
	// duplicates (same Key) into the first.
	BackendServers []BackendServer `json:"backend_servers"`
	Reason         string          `json:"reason,omitempty"`
	Source         string          `json:"source,omitempty"`
	// Deadline, when set, is when the worker gives up on the request
	// (status failed, code DeadlineExceeded). Decode returns it in UTC.
	Deadline *time.Time `json:"deadline,omitempty"`

	// Action is ActionDrain or ActionRestore (version 2; Decode and
	// Validate fill in ActionDrain when absent; "" in version 1).
	Action Action `json:"action,omitempty"`
	// Mode is how a drain takes servers out: ModeRemove (at once) or
	// ModeGraceful (weight 0, wait DrainTimeout, then remove). Version 2
	// drains only (Decode and Validate fill in ModeRemove; a restore has
	// none); "" in version 1.
	Mode Mode `json:"mode,omitempty"`
	// DrainTimeout is the wait at weight 0 of a graceful drain, 0..1h; nil:
	// the worker's --drain-timeout. Only with ModeGraceful. On the wire a Go
	// duration string such as "90s".
	DrainTimeout *time.Duration `json:"drain_timeout,omitempty"`
	// DryRun asks to validate, resolve instance scope, apply the guard and
	// report what would be done (status planned), changing nothing.
	DryRun bool `json:"dry_run,omitzero"`
	// Force lifts the --min-remaining guard for this request (never the
	// --allow-group allow-list).
	Force bool `json:"force,omitzero"`
	// RestoreOf is the request id of the drain a restore undoes (an audit
	// link). Only with ActionRestore.
	RestoreOf string `json:"restore_of,omitempty"`
}

// InstanceScope reports whether r is an instance-scope request: version 2
// without a VServerGroupID.
func (r *DrainRequest) InstanceScope() bool {
	return r.Version == Version2 && r.VServerGroupID == ""
}

// ActionOrDefault is r's action, ActionDrain when none is given (always so
// in version 1).
func (r *DrainRequest) ActionOrDefault() Action {
	if r.Action == "" {
		return ActionDrain
	}
	return r.Action
}

// ModeOrDefault is the mode of a drain, ModeRemove when none is given
// (always so in version 1); "" for a restore.
func (r *DrainRequest) ModeOrDefault() Mode {
	switch {
	case r.ActionOrDefault() != ActionDrain:
		return ""
	case r.Mode == "":
		return ModeRemove
	}
	return r.Mode
}

// DrainTimeoutOr is the wait at weight 0 of a graceful drain: the request's
// DrainTimeout, or def (the worker's --drain-timeout) when it sets none.
func (r *DrainRequest) DrainTimeoutOr(def time.Duration) time.Duration {
	if r.DrainTimeout == nil {
		return def
	}
	return *r.DrainTimeout
}

// Subject is the subject r is published to: RequestSubject of its region
// and group, or InstancesRequestSubject of its region in instance scope.
func (r *DrainRequest) Subject() string {
	if r.InstanceScope() {
		return InstancesRequestSubject(r.RegionID)
	}
	return RequestSubject(r.RegionID, r.VServerGroupID)
}

// Action is what a version-2 request does to its servers.
type Action string

// Actions.
const (
	// ActionDrain takes the servers out of their groups (the default, and
	// all that version 1 does).
	ActionDrain Action = "drain"
	// ActionRestore adds them back (AddVServerGroupBackendServers) with
	// their weights.
	ActionRestore Action = "restore"
)

// Mode is how a drain takes its servers out.
type Mode string

// Modes.
const (
	// ModeRemove removes the servers at once (the default).
	ModeRemove Mode = "remove"
	// ModeGraceful sets their weight to 0 (SetVServerGroupAttribute), so
	// that the load balancer sends them no new connections, waits the
	// request's drain_timeout, then removes them.
	ModeGraceful Mode = "graceful"
)

// Status is the terminal state of a request, as carried by its outcome event
// and its event subject.
type Status string

// Terminal statuses.
const (
	// StatusCompleted: every requested server is gone from its group (or,
	// for a restore, back in it), as the API's own answers show.
	StatusCompleted Status = "completed"
	// StatusFailed: a permanent API error, the deadline, or a refusal of
	// the worker's (GuardRefused, NotAllowed, NotRemoved).
	StatusFailed Status = "failed"
	// StatusRejected: the request itself was invalid (InvalidRequest).
	StatusRejected Status = "rejected"
	// StatusPlanned: a dry run (version 2); the event's Groups say what
	// would have been done.
	StatusPlanned Status = "planned"
)

// Valid reports whether s is one of the contract's statuses (planned
// included).
func (s Status) Valid() bool {
	return s == StatusCompleted || s == StatusFailed || s == StatusRejected || s == StatusPlanned
}

// Error is the error of a failed or rejected outcome.
type Error struct {
	// Code is the Alibaba Cloud error code where the API gave one, else one
	// of the Code constants.
	Code    string `json:"code"`
	Message string `json:"message"`
}

// Error codes of the worker's own making.
const (
	// CodeInvalidRequest: the request broke a rule (status rejected).
	CodeInvalidRequest = "InvalidRequest"
	// CodeDeadlineExceeded: the request's deadline passed before it was done.
	CodeDeadlineExceeded = "DeadlineExceeded"
	// CodeNotRemoved: a requested (server, port) was still listed in its
	// group by the API's answers at the deadline (version 2); it is in
	// NotRemoved.
	CodeNotRemoved = "NotRemoved"
	// CodeGuardRefused: the drain would leave a group with fewer than
	// --min-remaining servers of weight > 0, and the request did not say
	// force (version 2).
	CodeGuardRefused = "GuardRefused"
	// CodeNotAllowed: the group is outside --allow-group (version 2).
	CodeNotAllowed = "NotAllowed"
)

// Outcome is the one terminal event of a request. Encode it with
// encoding/json (its MarshalJSON keeps the contract's shape of its Version:
// a version-1 event has exactly the version-1 fields, whatever else is set)
// and decode it with DecodeOutcome.
type Outcome struct {
	// Version is the request's version (Version1 for a request whose
	// version could not be read).
	Version   int    `json:"version"`
	RequestID string `json:"request_id"`
	Status    Status `json:"status"`
	RegionID  string `json:"region_id"`
	// VServerGroupID is the request's group; "" in instance scope (version
	// 2), whose event subject ends in "instances".
	VServerGroupID string `json:"vserver_group_id"`
	// BackendServers are the servers as requested (folded).
	BackendServers []BackendServer `json:"backend_servers"`
	// Removed and NotRemoved split BackendServers when a request that spans
	// several API calls fails part-way.
	Removed    []BackendServer `json:"removed,omitempty"`
	NotRemoved []BackendServer `json:"not_removed,omitempty"`
	// APIRequestIDs are the Alibaba RequestIds of every call that carried a
	// part of the request, throttled tries included. Encoded as [] when empty.
	APIRequestIDs []string  `json:"api_request_ids"`
	Attempts      int       `json:"attempts"`
	ReceivedAt    time.Time `json:"received_at"`
	FinishedAt    time.Time `json:"finished_at"`
	// Error is nil (JSON null) for a completed or planned request.
	Error          *Error `json:"error"`
	Source         string `json:"source,omitempty"`
	Reason         string `json:"reason,omitempty"`
	StreamSequence uint64 `json:"stream_sequence"`

	// The fields of version 2 (left out of a version-1 event).

	// Action and Mode are the request's, defaults filled in on encoding:
	// ActionDrain when empty, and for a drain ModeRemove when empty (a
	// restore's event has no mode).
	Action Action `json:"action,omitempty"`
	Mode   Mode   `json:"mode,omitempty"`
	// DryRun is the request's dry_run (always encoded in version 2).
	DryRun bool `json:"dry_run,omitzero"`
	// Groups is what was (or, for planned, would be) done, per VServer
	// group, each server with the weight it had before slbdrain touched it.
	// nil leaves the field out, an empty non-nil slice encodes [];
	// instance-scope events always carry it (nil encodes as []).
	Groups []Group `json:"groups,omitzero"`
	// TraceID is the W3C trace id of the request's traceparent header, when
	// it had one (see ParseTraceParent).
	TraceID string `json:"trace_id,omitempty"`
}

// Group is one VServer group of an outcome's Groups.
type Group struct {
	LoadBalancerID string `json:"load_balancer_id"`
	VServerGroupID string `json:"vserver_group_id"`
	// BackendServers are the group's members that the request touched (or
	// would touch), each with Port, Type and Weight set: the weight it had
	// before slbdrain touched it, which a restore puts back.
	BackendServers []BackendServer `json:"backend_servers"`
	// WeightZeroAt is when a graceful drain's weight call set the weights to
	// 0; RemovedAt when the remove call's answer showed them gone. Zero:
	// not (yet) done, and left out.
	WeightZeroAt time.Time `json:"weight_zero_at,omitzero"`
	RemovedAt    time.Time `json:"removed_at,omitzero"`
}

// Progress is the non-durable note published on ProgressSubject after each
// API call, for each request the call carried.
type Progress struct {
	RequestID string `json:"request_id"`
	Removed   int    `json:"removed"`
	Total     int    `json:"total"`
	// Phase is where the request stands (version 2): PhaseWeightZero,
	// PhaseWaiting (until Until) or PhaseRemoved; empty: left out.
	Phase Phase `json:"phase,omitempty"`
	// Until is the end of the wait of PhaseWaiting; zero: left out.
	Until time.Time `json:"until,omitzero"`
}

// Phase is the stage of a drain that a progress note reports.
type Phase string

// Phases of a drain.
const (
	// PhaseWeightZero: the weight call of a graceful drain set the servers'
	// weights to 0.
	PhaseWeightZero Phase = "weight_zero"
	// PhaseWaiting: waiting at weight 0 until Progress.Until.
	PhaseWaiting Phase = "waiting"
	// PhaseRemoved: a remove call took servers out.
	PhaseRemoved Phase = "removed"
)
