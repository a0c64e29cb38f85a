package main

import (
	"context"
	"errors"
	"fmt"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"github.com/spf13/cobra"

	"github.com/slbdrain/slbdrain/messages"
)

type retryOptions struct {
	since     time.Duration
	requestID string
	source    string
	deadline  string
	wait      bool
	timeout   time.Duration
	verbose   bool

	// Version 2: what a version-2 drain's event does not record, restated.
	drainTimeout time.Duration
	force        bool
}

// retryFilters are the subjects of the events retry looks at: those of
// failed (failed and rejected) and the dry runs' planned ones, so that the
// retry of a dry run is refused for what it is rather than not found.
var retryFilters = []string{
	messages.EventSubject(messages.StatusFailed, "*", "*"),
	messages.EventSubject(messages.StatusRejected, "*", "*"),
	messages.EventSubject(messages.StatusPlanned, "*", "*"),
}

func (a *app) retryCommand() *cobra.Command {
	var o retryOptions
	cmd := &cobra.Command{
		Use:   "retry REQUEST_ID",
		Short: "Re-publish a failed request under a new request id that links the old one",
		Long: "retry finds the failed request's event and publishes its backend servers that were not\n" +
			"removed again, under the id <old>-retry-<n> (the next free n) with reason\n" +
			"\"retry of <old>: <old reason>\". A rejected request is invalid and is not retried:\n" +
			"correct it and publish it with drain.\n\n" +
			"A version-1 request is retried as the same version-1 request. A version-2 drain is retried as a\n" +
			"version-2 drain of the same mode and scope: in group scope its servers that were not removed, in\n" +
			"instance scope (no group) its instances that were not removed from every group (with the port\n" +
			"it named, if any), to slb.drain.request.<region>.instances. Its event does not record\n" +
			"drain_timeout or force: a graceful retry waits --drain-timeout (default: the worker's) and\n" +
			"--force lifts the guard. A dry run is not retried (bad usage), nor is a restore (run\n" +
			"drainctl restore again under a new --request-id).\n\n" +
			"Exit codes: 0 completed (or published, without --wait), 1 not found or failed again,\n" +
			"2 bad usage, 3 timed out.",
		Example: "  drainctl retry asg-42-scalein-0001 --wait",
		Args:    requestIDArg(""),
		RunE: func(cmd *cobra.Command, args []string) error {
			return a.retry(cmd, args[0], o)
		},
	}
	f := cmd.Flags()
	f.DurationVar(&o.since, "since", 30*24*time.Hour, "how far back to look for the failed request")
	f.StringVar(&o.requestID, "request-id", "", "id of the new request (default <old>-retry-<n>)")
	f.StringVar(&o.source, "source", "", "who asks (default: the failed request's source)")
	f.StringVar(&o.deadline, "deadline", "", "when the worker gives up on the new request: RFC 3339 time or a duration from now")
	f.DurationVar(&o.drainTimeout, "drain-timeout", 0, "retrying a graceful drain (version 2), the wait at weight 0, 0s..1h (default: the worker's --drain-timeout; the event does not record the failed request's)")
	f.BoolVar(&o.force, "force", false, "retrying a version-2 drain, lift the worker's --min-remaining guard for the retry (the event does not record whether the failed request did)")
	a.waitFlags(cmd, &o.wait, &o.timeout, &o.verbose)
	return cmd
}

func (a *app) retry(cmd *cobra.Command, oldID string, o retryOptions) error {
	if err := checkPositive(cmd, "since", o.since); err != nil {
		return err
	}
	timeout, err := submitTimeout(cmd, o.wait, o.timeout)
	if err != nil {
		return err
	}
	if err := checkRequestIDFlag(o.requestID); err != nil {
		return err
	}
	deadline, err := parseDeadline(o.deadline, a.now())
	if err != nil {
		return err
	}
	if cmd.Flags().Changed("drain-timeout") && (o.drainTimeout < 0 || o.drainTimeout > messages.MaxDrainTimeout) {
		return usageErrorf("--drain-timeout %s: must be 0s..%s", o.drainTimeout, messages.MaxDrainTimeout)
	}
	ctx, cancel := context.WithTimeout(cmd.Context(), timeout)
	defer cancel()
	nc, js, err := a.connect(timeout)
	if err != nil {
		return err
	}
	defer nc.Close()
	old, newID, err := a.findRetry(ctx, js, oldID, o)
	if err != nil {
		return err
	}
	if o.requestID != "" {
		newID = o.requestID
	}
	req := messages.DrainRequest{
		Version:        messages.Version,
		RequestID:      newID,
		RegionID:       old.RegionID,
		VServerGroupID: old.VServerGroupID,
		BackendServers: old.NotRemoved,
		Reason:         retryReason(old),
		Source:         old.Source,
		Deadline:       deadline,
	}
	if len(req.BackendServers) == 0 {
		req.BackendServers = old.BackendServers
	}
	if cmd.Flags().Changed("source") {
		req.Source = o.source
	}
	if err := retryV2(cmd, old, &req, o); err != nil {
		return err
	}
	if err := req.Validate(); err != nil {
		return failedErrorf("request %s cannot be retried as %s: %w", oldID, newID, err)
	}
	if note := retryNote(old, req, cmd.Flags().Changed("drain-timeout")); note != "" {
		fmt.Fprintln(a.stderr, "drainctl: note: "+note)
	}
	return a.submitOn(ctx, nc, js, submission{reqs: []messages.DrainRequest{req}, wait: o.wait, timeout: timeout, verbose: o.verbose})
}

// retryV2 makes req, the version-1 retry of old, what old asked for: a
// version-1 event is left as it is; a version-2 drain's retry is a
// version-2 drain of the same scope (no group: instance scope, published
// to the region's instances subject) and mode, with the drain_timeout and
// force of the flags, as old's event records neither.
func retryV2(cmd *cobra.Command, old messages.Outcome, req *messages.DrainRequest, o retryOptions) error {
	timeoutGiven := cmd.Flags().Changed("drain-timeout")
	if old.Version < messages.Version2 {
		switch {
		case timeoutGiven:
			return usageErrorf("--drain-timeout %s: request %s was a version-1 drain, not a graceful one; "+
				"for a graceful drain of its servers, publish one with drainctl drain --graceful", o.drainTimeout, old.RequestID)
		case o.force:
			return usageErrorf("--force: request %s was a version-1 drain, which has no force; "+
				"to drain its servers with force, publish a drain with drainctl drain --force", old.RequestID)
		}
		return nil
	}
	req.Version = messages.Version2
	req.Action = messages.ActionDrain
	req.Mode = old.Mode
	if req.Mode == "" {
		req.Mode = messages.ModeRemove
	}
	if timeoutGiven {
		if req.Mode != messages.ModeGraceful {
			return usageErrorf("--drain-timeout %s: request %s was a drain of mode %s, not a graceful one (it is the wait at weight 0 of a graceful drain)",
				o.drainTimeout, old.RequestID, req.Mode)
		}
		d := o.drainTimeout
		req.DrainTimeout = &d
	}
	req.Force = o.force
	// A drain names no weights (an event's servers have none outside a
	// restore, which is not retried).
	servers := make([]messages.BackendServer, len(req.BackendServers))
	for i, b := range req.BackendServers {
		b.Weight = messages.Weight{}
		servers[i] = b
	}
	req.BackendServers = servers
	return nil
}

// retryNote says what the retry of a version-2 drain does where old's
// event is silent (drain_timeout, force) and the flags did not say; "" for
// a version-1 retry or when they did.
func retryNote(old messages.Outcome, req messages.DrainRequest, timeoutGiven bool) string {
	if req.Version < messages.Version2 {
		return ""
	}
	var unknown, does, flags []string
	if req.Mode == messages.ModeGraceful && !timeoutGiven {
		unknown = append(unknown, "drain_timeout")
		does = append(does, "waits the worker's --drain-timeout at weight 0")
		flags = append(flags, "--drain-timeout D")
	}
	if !req.Force {
		unknown = append(unknown, "whether it said force")
		does = append(does, "keeps the worker's --min-remaining guard")
		flags = append(flags, "--force")
	}
	if len(unknown) == 0 {
		return ""
	}
	return fmt.Sprintf("the event of %s does not record %s: %s %s (restate with %s)",
		old.RequestID, strings.Join(unknown, " or "), req.RequestID, strings.Join(does, " and "), strings.Join(flags, ", "))
}

// notRetried refuses the retry of what is not a failed drain: a dry run
// (bad usage: it changed nothing, so there is nothing to try again) and a
// restore (drainctl restore builds those, from the drain's event).
func notRetried(old messages.Outcome) error {
	switch {
	case old.DryRun || old.Status == messages.StatusPlanned:
		return usageErrorf("request %s was a dry run (status %s%s): it changed nothing, so there is nothing to retry; "+
			"to drain its servers, publish the drain itself with drainctl drain, without --dry-run", old.RequestID, old.Status, errorSuffix(old.Error))
	case old.Action == messages.ActionRestore:
		drain := "DRAIN_ID"
		if id := restoredDrain(old); id != "" {
			drain = id
		}
		return failedErrorf("request %s is a restore, not a drain: retry re-publishes failed drains only; "+
			"to put the servers back, run drainctl restore %s --request-id NEW_ID again (DRAIN_ID: the drain it undoes; "+
			"a new id, as %s is answered once)", old.RequestID, drain, old.RequestID)
	}
	return nil
}

// restoredDrain is the drain a restore's event names by the id or the
// reason drainctl restore gives it by default, or "" (the event does not
// carry restore_of).
func restoredDrain(o messages.Outcome) string {
	if m := restoreIDPattern.FindStringSubmatch(o.RequestID); m != nil {
		return m[1]
	}
	if id, ok := strings.CutPrefix(o.Reason, "restore of "); ok && messages.ValidRequestID(id) {
		return id
	}
	return ""
}

var restoreIDPattern = regexp.MustCompile(`^(.+)-restore(?:-[0-9]+)?$`)

// findRetry finds the last failed or rejected event of oldID and the next
// free retry id of it.
func (a *app) findRetry(ctx context.Context, js jetstream.JetStream, oldID string, o retryOptions) (messages.Outcome, string, error) {
	since := a.now().Add(-o.since)
	var old *messages.Outcome
	err := a.replayEvents(ctx, js, retryFilters, since, func(ev messages.Outcome) {
		if ev.RequestID == oldID {
			old = &ev
		}
	})
	if err != nil {
		return messages.Outcome{}, "", err
	}
	if old == nil {
		return messages.Outcome{}, "", failedErrorf("no failed request %s since %s (only failed requests are retried; "+
			"look further back with --since, or list them with drainctl failed)", oldID, formatTime(since))
	}
	if old.Status == messages.StatusRejected {
		return messages.Outcome{}, "", failedErrorf("request %s was rejected%s: it is invalid and cannot be retried as it is; "+
			"correct it and publish it with drainctl drain under a new request id", oldID, errorSuffix(old.Error))
	}
	if err := notRetried(*old); err != nil {
		return messages.Outcome{}, "", err
	}
	if o.requestID != "" {
		return *old, o.requestID, nil
	}
	// Retries go to the same group (in instance scope, the region's
	// instances subject), after the failure: the ids used so far are among
	// that subject's events since then.
	base, n := retryBase(oldID)
	next := n + 1
	after := old.FinishedAt.Add(-clockSkew)
	if old.FinishedAt.IsZero() || after.Before(since) {
		after = since
	}
	pattern := regexp.MustCompile("^" + regexp.QuoteMeta(base) + `-retry-([0-9]+)$`)
	token := groupToken(*old)
	groupEvents := []string{messages.EventSubject("*", old.RegionID, token)}
	err = a.replayEvents(ctx, js, groupEvents, after, func(ev messages.Outcome) {
		if m := pattern.FindStringSubmatch(ev.RequestID); m != nil {
			if n, err := strconv.Atoi(m[1]); err == nil && n >= next {
				next = n + 1
			}
		}
	})
	if err != nil {
		return messages.Outcome{}, "", err
	}
	// A retry still queued has no event yet: its id is taken too.
	err = queuedRequestIDs(ctx, js, messages.RequestSubject(old.RegionID, token), func(id string) {
		if m := pattern.FindStringSubmatch(id); m != nil {
			if n, err := strconv.Atoi(m[1]); err == nil && n >= next {
				next = n + 1
			}
		}
	})
	if err != nil {
		return messages.Outcome{}, "", err
	}
	newID := base + "-retry-" + strconv.Itoa(next)
	if !messages.ValidRequestID(newID) {
		return messages.Outcome{}, "", usageErrorf("request id %s is too long for a retry id (%s); give one with --request-id", oldID, newID)
	}
	return *old, newID, nil
}

// retryBase strips a -retry-<n> suffix, so that retrying a retry numbers on
// from the original: x-retry-1 fails, its retry is x-retry-2.
func retryBase(id string) (base string, n int) {
	i := strings.LastIndex(id, "-retry-")
	if i <= 0 {
		return id, 0
	}
	n, err := strconv.Atoi(id[i+len("-retry-"):])
	if err != nil || n < 1 {
		return id, 0
	}
	return id[:i], n
}

// retryReason links the new request to the old one.
func retryReason(old messages.Outcome) string {
	r := "retry of " + old.RequestID
	if old.Reason != "" {
		r += ": " + old.Reason
	}
	return truncateRunes(r, messages.MaxTextChars)
}

// queuedRequestIDs calls fn with the Nats-Msg-Id of every request still
// queued on subject. The requests stream is a work queue, which admits no
// consumer beside the worker's: the messages are read by sequence.
func queuedRequestIDs(ctx context.Context, js jetstream.JetStream, subject string, fn func(string)) error {
	stream, err := js.Stream(ctx, messages.RequestStream)
	if err != nil {
		return failedErrorf("look up %s: %w", messages.RequestStream, err)
	}
	for seq := uint64(1); ; {
		msg, err := stream.GetMsg(ctx, seq, jetstream.WithGetMsgSubject(subject))
		if errors.Is(err, jetstream.ErrMsgNotFound) {
			return nil
		}
		if err != nil {
			return failedErrorf("read queued requests on %s: %w", subject, err)
		}
		fn(msg.Header.Get(messages.MsgIDHeader))
		seq = msg.Sequence + 1
	}
}
