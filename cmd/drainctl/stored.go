package main

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/slbdrain/slbdrain/messages"
)

// storedOutcomes follows the outcomes bucket (contract "Remembering
// outcomes") for the request ids of one submission. The worker keeps every
// terminal outcome there by request id, longer than the duplicate window and
// independently of the events stream, and acks a request whose id it knows
// with no call and no second event: for such a request the bucket is the
// only place its outcome is found.
type storedOutcomes struct {
	kw jetstream.KeyWatcher
	// initial is what the bucket held when the watch began, by request id.
	initial map[string]storedOutcome
}

type storedOutcome struct {
	outcome  messages.Outcome
	storedAt time.Time
}

// watchStored reads what the outcomes bucket holds for reqs and keeps
// watching it for their ids. It returns nil, with no error, when there is
// no bucket (a worker from before it) or it cannot be read (a warning says
// so): then outcomes come from the events stream alone, as before.
func (a *app) watchStored(ctx context.Context, js jetstream.JetStream, reqs []messages.DrainRequest) (*storedOutcomes, error) {
	kv, err := js.KeyValue(ctx, messages.OutcomeBucket)
	switch {
	case errors.Is(err, jetstream.ErrBucketNotFound):
		return nil, nil
	case err != nil && ctx.Err() != nil:
		return nil, a.ctxError(ctx, "looking up the outcomes bucket "+messages.OutcomeBucket)
	case err != nil:
		fmt.Fprintf(a.stderr, "drainctl: outcomes bucket %s: %v; waiting for the outcome event only\n", messages.OutcomeBucket, err)
		return nil, nil
	}
	keys := make([]string, len(reqs))
	for i, r := range reqs {
		keys[i] = messages.OutcomeKey(r.RequestID)
	}
	kw, err := kv.WatchFiltered(ctx, keys, jetstream.IgnoreDeletes())
	if err != nil {
		if ctx.Err() != nil {
			return nil, a.ctxError(ctx, "watching the outcomes bucket "+messages.OutcomeBucket)
		}
		fmt.Fprintf(a.stderr, "drainctl: watch outcomes bucket %s: %v; waiting for the outcome event only\n", messages.OutcomeBucket, err)
		return nil, nil
	}
	s := &storedOutcomes{kw: kw, initial: map[string]storedOutcome{}}
	// The watcher sends what is stored, then nil.
	for {
		select {
		case e, ok := <-kw.Updates():
			if !ok {
				fmt.Fprintf(a.stderr, "drainctl: watch of outcomes bucket %s ended; waiting for the outcome event only\n", messages.OutcomeBucket)
				return nil, nil
			}
			if e == nil {
				return s, nil
			}
			if so, ok := a.decodeStored(e); ok {
				s.initial[so.outcome.RequestID] = so
			}
		case <-ctx.Done():
			_ = kw.Stop()
			return nil, a.ctxError(ctx, "reading the outcomes bucket "+messages.OutcomeBucket)
		}
	}
}

// initialOf is the outcome of id the bucket held when the watch began.
func (s *storedOutcomes) initialOf(id string) (storedOutcome, bool) {
	if s == nil {
		return storedOutcome{}, false
	}
	so, ok := s.initial[id]
	return so, ok
}

// updates delivers outcomes stored after the watch began; nil s has none.
func (s *storedOutcomes) updates() <-chan jetstream.KeyValueEntry {
	if s == nil {
		return nil
	}
	return s.kw.Updates()
}

func (s *storedOutcomes) stop() {
	if s != nil {
		_ = s.kw.Stop()
	}
}

// decodeStored decodes a bucket entry; one that cannot be read is reported
// and skipped (the events stream may still answer).
func (a *app) decodeStored(e jetstream.KeyValueEntry) (storedOutcome, bool) {
	id, err := messages.RequestIDOfOutcomeKey(e.Key())
	if err == nil {
		var o messages.Outcome
		if o, err = messages.DecodeOutcome(e.Value()); err == nil {
			if o.RequestID == id {
				return storedOutcome{outcome: o, storedAt: e.Created()}, true
			}
			err = fmt.Errorf("it is the outcome of request %s", o.RequestID)
		}
	}
	fmt.Fprintf(a.stderr, "drainctl: skipping entry %s (revision %d) of outcomes bucket %s: %v\n", e.Key(), e.Revision(), messages.OutcomeBucket, err)
	return storedOutcome{}, false
}

// knownNote is what drainctl says of a request it does not publish because
// its outcome is stored: a request id is answered once.
func knownNote(req messages.DrainRequest, so storedOutcome) string {
	o := so.outcome
	note := fmt.Sprintf("request %s already has an outcome (%s, finished %s, remembered in %s since %s): not published again; a request id is answered once",
		req.RequestID, o.Status, formatTime(o.FinishedAt), messages.OutcomeBucket, formatTime(so.storedAt))
	switch o.Status {
	case messages.StatusFailed:
		note += "\n  to try its servers again: drainctl retry " + req.RequestID + " (or a new --request-id)"
	case messages.StatusRejected:
		note += "\n  to send a corrected request: a new --request-id"
	}
	if d := differsFrom(req, o); d != "" {
		note += "\n  note: the outcome remembered under this id is of a different request (" + d + "): this id was used before; use a new --request-id"
	}
	return note
}

// differsFrom says how the request whose outcome o is differs from req
// (another group, other servers), or "" when it is the same drain.
func differsFrom(req messages.DrainRequest, o messages.Outcome) string {
	if o.RegionID != req.RegionID || o.VServerGroupID != req.VServerGroupID {
		return fmt.Sprintf("group %s/%s", o.RegionID, groupToken(o))
	}
	if o.Status == messages.StatusRejected {
		return "" // a rejected event may not carry the servers
	}
	names := func(list []messages.BackendServer) []string {
		out := make([]string, len(list))
		for i, b := range list {
			out[i] = b.String()
		}
		slices.Sort(out)
		return slices.Compact(out)
	}
	if !slices.Equal(names(o.BackendServers), names(req.BackendServers)) {
		return "other backend servers: " + serverList(o.BackendServers)
	}
	return ""
}
