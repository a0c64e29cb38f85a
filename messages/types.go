package messages

import (
	"fmt"
	"strconv"
	"strings"
	"time"
)

// Wire constants of contract version 1.
const (
	// Version is the contract version this package speaks; messages carry it
	// in their "version" field.
	Version = 1

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
)

// ServerType is a backend server's type as the SLB API names it.
type ServerType = string

// Backend server types. An empty type means TypeECS.
const (
	TypeECS ServerType = "ecs"
	TypeENI ServerType = "eni"
	TypeECI ServerType = "eci"
)

// BackendServer is one member of a VServer group to take out: the
// (server_id, port, type) triple the API identifies it by.
type BackendServer struct {
	ServerID string `json:"server_id"`
	Port     int    `json:"port"`
	Type     string `json:"type,omitempty"`
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

// DrainRequest asks to take BackendServers out of one VServer group.
// Decode produces validated, normalised requests; Go publishers fill it in
// and call Publish (or Validate).
type DrainRequest struct {
	Version        int             `json:"version"`
	RequestID      string          `json:"request_id"`
	RegionID       string          `json:"region_id"`
	VServerGroupID string          `json:"vserver_group_id"`
	BackendServers []BackendServer `json:"backend_servers"`
	Reason         string          `json:"reason,omitempty"`
	Source         string          `json:"source,omitempty"`
	// Deadline, when set, is when the worker gives up on the request
	// (status failed, code DeadlineExceeded). Decode returns it in UTC.
	Deadline *time.Time `json:"deadline,omitempty"`
}

// Status is the terminal state of a request, as carried by its outcome event
// and its event subject.
type Status string

// Terminal statuses.
const (
	StatusCompleted Status = "completed"
	StatusFailed    Status = "failed"
	StatusRejected  Status = "rejected"
)

// Valid reports whether s is one of the contract's statuses.
func (s Status) Valid() bool {
	return s == StatusCompleted || s == StatusFailed || s == StatusRejected
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
	CodeInvalidRequest   = "InvalidRequest"
	CodeDeadlineExceeded = "DeadlineExceeded"
)

// Outcome is the one terminal event of a request. Encode it with
// encoding/json (its MarshalJSON keeps the contract's shape) and decode it
// with DecodeOutcome.
type Outcome struct {
	Version        int             `json:"version"`
	RequestID      string          `json:"request_id"`
	Status         Status          `json:"status"`
	RegionID       string          `json:"region_id"`
	VServerGroupID string          `json:"vserver_group_id"`
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
	// Error is nil (JSON null) for a completed request.
	Error          *Error `json:"error"`
	Source         string `json:"source,omitempty"`
	Reason         string `json:"reason,omitempty"`
	StreamSequence uint64 `json:"stream_sequence"`
}

// Progress is the non-durable note published on ProgressSubject after each
// API call, for each request the call carried.
type Progress struct {
	RequestID string `json:"request_id"`
	Removed   int    `json:"removed"`
	Total     int    `json:"total"`
}
