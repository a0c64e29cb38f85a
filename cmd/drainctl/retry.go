package main

import (
	"context"
	"errors"
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
	if err := req.Validate(); err != nil {
		return failedErrorf("request %s cannot be retried as %s: %w", oldID, newID, err)
	}
	return a.submitOn(ctx, nc, js, submission{reqs: []messages.DrainRequest{req}, wait: o.wait, timeout: timeout, verbose: o.verbose})
}

// findRetry finds the last failed or rejected event of oldID and the next
// free retry id of it.
func (a *app) findRetry(ctx context.Context, js jetstream.JetStream, oldID string, o retryOptions) (messages.Outcome, string, error) {
	since := a.now().Add(-o.since)
	var old *messages.Outcome
	err := a.replayEvents(ctx, js, failedFilters, since, func(ev messages.Outcome) {
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
	if o.requestID != "" {
		return *old, o.requestID, nil
	}
	// Retries go to the same group, after the failure: the ids used so far
	// are among that group's events since then.
	base, n := retryBase(oldID)
	next := n + 1
	after := old.FinishedAt.Add(-clockSkew)
	if old.FinishedAt.IsZero() || after.Before(since) {
		after = since
	}
	pattern := regexp.MustCompile("^" + regexp.QuoteMeta(base) + `-retry-([0-9]+)$`)
	groupEvents := []string{messages.EventSubject("*", old.RegionID, old.VServerGroupID)}
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
	err = queuedRequestIDs(ctx, js, messages.RequestSubject(old.RegionID, old.VServerGroupID), func(id string) {
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
