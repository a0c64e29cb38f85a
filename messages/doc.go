// Package messages is slbdrain's wire contract, versions 1 and 2
// (docs: contract.md): the drain request, the outcome event and the progress
// note, their subjects and message ids, and the strict decoding and
// validation the worker applies.
//
// # Requests
//
// A publisher sends a DrainRequest as JSON (at most 64 KiB) to
// slb.drain.request.<region_id>.<vserver_group_id> on stream
// SLB_DRAIN_REQUESTS, with header Nats-Msg-Id set to its request_id, the
// request's idempotency key: JetStream drops a re-send within the stream's
// duplicate window, and a corrected request needs a new id. Go publishers use
// Publish (or NewRequestMsg, to add headers such as traceparent), which
// validates before sending.
//
// The rules of version 1: version is 1; request_id is 1..128 characters of
// [A-Za-z0-9._:-]; region_id matches ^[a-z]{2,}(-[a-z0-9]+)+$ and
// vserver_group_id ^rsp-[a-z0-9]+$, both equal to the subject's tokens;
// backend_servers has 1..1000 entries of server_id (1..64 characters of
// [A-Za-z0-9_-]), port (1..65535) and an optional type (ecs, the default,
// eni or eci); reason and source are at most 256 characters; deadline is an
// optional RFC 3339 time. Unknown fields are rejected, and so are the fields
// of version 2. Duplicate servers are folded. Decode applies all of this and
// lists every violation in one *ValidationError; the worker answers an
// invalid request at once with a rejected event and never retries it.
//
// Version 2 keeps all of that and adds, each optional: action (drain, the
// default, or restore); no vserver_group_id for instance scope, published
// to slb.drain.request.<region_id>.instances (InstancesToken), where port is
// optional too (absent: every port); weight 0..100 per server, only in a
// restore; mode (remove, the default, or graceful), only in a drain;
// drain_timeout, a Go duration of 0s..1h, only with mode graceful; dry_run
// and force, booleans; restore_of, a request id, only in a restore. Each
// violation is named "field: rule", for example
// "backend_servers[0].weight: only with action restore".
//
// # Outcomes
//
// Every request ends in exactly one Outcome of its own version, published to
// slb.drain.event.<status>.<region_id>.<vserver_group_id> (or
// ....<region_id>.instances in instance scope) on stream SLB_DRAIN_EVENTS
// with Nats-Msg-Id event:<request_id> (Outcome.Subject and Outcome.MsgID).
// The status is completed, failed (an API error, the deadline, or in
// version 2 NotRemoved, GuardRefused or NotAllowed), rejected (code
// InvalidRequest) or, for a version-2 dry run, planned. A rejected request
// whose request_id cannot be read is named event:seq:<stream sequence>, and
// region or group tokens that are not valid become "unknown" in its
// subject. A version-1 event has exactly the fields of version 1; a
// version-2 event adds action, mode, dry_run, groups and trace_id.
//
// # Progress
//
// After each API call the worker publishes a Progress note on core NATS
// subject slb.drain.progress.<region_id>.<vserver_group_id> for each request
// the call carried, in version 2 with its phase. It is not durable and
// nothing relies on it.
//
// # Schemas
//
// RequestSchema, OutcomeSchema, RequestSchemaV2 and OutcomeSchemaV2 are
// JSON Schemas (draft 2020-12) of the messages for publishers and
// subscribers in other languages; tests keep them in agreement with Decode.
package messages
