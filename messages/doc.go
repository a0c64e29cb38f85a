// Package messages is version 1 of slbdrain's wire contract
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
// Publish, which validates before sending.
//
// The rules: version is 1; request_id is 1..128 characters of
// [A-Za-z0-9._:-]; region_id matches ^[a-z]{2,}(-[a-z0-9]+)+$ and
// vserver_group_id ^rsp-[a-z0-9]+$, both equal to the subject's tokens;
// backend_servers has 1..1000 entries of server_id (1..64 characters of
// [A-Za-z0-9_-]), port (1..65535) and an optional type (ecs, the default,
// eni or eci); reason and source are at most 256 characters; deadline is an
// optional RFC 3339 time. Unknown fields are rejected. Duplicate servers are
// folded. Decode applies all of this and lists every violation in one
// *ValidationError; the worker answers an invalid request at once with a
// rejected event and never retries it.
//
// # Outcomes
//
// Every request ends in exactly one Outcome, published to
// slb.drain.event.<status>.<region_id>.<vserver_group_id> on stream
// SLB_DRAIN_EVENTS with Nats-Msg-Id event:<request_id> (Outcome.Subject and
// Outcome.MsgID). The status is completed, failed (an API error or the
// deadline; Error carries the Alibaba error code or DeadlineExceeded) or
// rejected (code InvalidRequest). A rejected request whose request_id cannot
// be read is named event:seq:<stream sequence>, and region or group tokens
// that are not valid ids become "unknown" in its subject.
//
// # Progress
//
// After each API call the worker publishes a Progress note on core NATS
// subject slb.drain.progress.<region_id>.<vserver_group_id> for each request
// the call carried. It is not durable and nothing relies on it.
//
// # Schemas
//
// RequestSchema and OutcomeSchema are JSON Schemas (draft 2020-12) of the two
// messages for publishers and subscribers in other languages; tests keep
// them in agreement with Decode.
package messages
