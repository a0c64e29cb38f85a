package main

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"time"
	"unicode/utf8"

	"github.com/nats-io/nats.go/jetstream"
	"github.com/spf13/cobra"

	"github.com/slbdrain/slbdrain/messages"
)

type restoreOptions struct {
	since     time.Duration
	requestID string
	reason    string
	source    string
	dryRun    bool
	wait      bool
	timeout   time.Duration
	verbose   bool
}

func (a *app) restoreCommand() *cobra.Command {
	var o restoreOptions
	cmd := &cobra.Command{
		Use:   "restore REQUEST_ID",
		Short: "Put back what a version-2 drain took out, at the weights its servers had",
		Long: "restore reads the outcome of the drain REQUEST_ID (from the outcomes bucket " + messages.OutcomeBucket + ",\n" +
			"else from its event in " + messages.EventStream + ") and publishes one version-2 request with action\n" +
			"restore per VServer group of the outcome's groups: the group's servers with the weights they had\n" +
			"before the drain, restore_of REQUEST_ID, reason \"restore of REQUEST_ID\". Its id is\n" +
			"<REQUEST_ID>-restore (with several groups <REQUEST_ID>-restore-N, N = 1, 2, ... in the order of the\n" +
			"outcome's groups); run again, it is the same request, answered once.\n" +
			"Only a version-2 drain's event names groups and weights: a version-1 drain cannot be restored.\n\n" +
			"Exit codes: 0 completed, planned (with --dry-run) or published (without --wait), 1 the drain\n" +
			"has no outcome or nothing to restore, or the restore failed, 2 bad usage, 3 timed out.",
		Example: "  drainctl restore asg-42-scalein-0001 --wait\n" +
			"  drainctl restore asg-42-scalein-0001 --dry-run --wait --json",
		Args: requestIDArg(" (the drain to undo)"),
		RunE: func(cmd *cobra.Command, args []string) error {
			return a.restore(cmd, args[0], o)
		},
	}
	f := cmd.Flags()
	f.StringVar(&o.requestID, "request-id", "", "id of the restore (default <REQUEST_ID>-restore; with several groups, this id or the default with -N appended per group)")
	f.StringVar(&o.reason, "reason", "", "why, for the audit trail (default \"restore of REQUEST_ID\")")
	f.StringVar(&o.source, "source", "", "who asks (default drainctl/<user>@<host>)")
	f.BoolVar(&o.dryRun, "dry-run", false, "report what would be put back (status planned), changing nothing")
	f.DurationVar(&o.since, "since", 30*24*time.Hour, "how far back to look in the events stream for the drain when the outcomes bucket does not have it")
	a.waitFlags(cmd, &o.wait, &o.timeout, &o.verbose)
	return cmd
}

func (a *app) restore(cmd *cobra.Command, drainID string, o restoreOptions) error {
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
	for _, flag := range []struct{ name, value string }{{"reason", o.reason}, {"source", o.source}} {
		if n := utf8.RuneCountInString(flag.value); n > messages.MaxTextChars {
			return usageErrorf("--%s: at most %d characters, got %d", flag.name, messages.MaxTextChars, n)
		}
	}
	reason := o.reason
	if !cmd.Flags().Changed("reason") {
		reason = truncateRunes("restore of "+drainID, messages.MaxTextChars)
	}
	source := o.source
	if !cmd.Flags().Changed("source") {
		source = defaultSource(a.getenv)
	}
	ctx, cancel := context.WithTimeout(cmd.Context(), timeout)
	defer cancel()
	nc, js, err := a.connect(timeout)
	if err != nil {
		return err
	}
	defer nc.Close()
	drain, from, err := a.findOutcome(ctx, js, drainID, a.now().Add(-o.since))
	if err != nil {
		return err
	}
	reqs, err := restoreRequests(drain, drainID, o.requestID, reason, source, o.dryRun)
	if err != nil {
		return err
	}
	fmt.Fprintf(a.stderr, "drain %s ended %s (finished %s; %s): restoring %s in %s\n", drainID, drain.Status,
		formatTime(drain.FinishedAt), from, plural(serverCount(reqs), "backend server"), plural(len(reqs), "group"))
	return a.submitOn(ctx, nc, js, submission{reqs: reqs, wait: o.wait, timeout: timeout, verbose: o.verbose})
}

// findOutcome finds the outcome of request id: the one the outcomes bucket
// remembers, else the last event of id in the events stream since since
// (the bucket may be missing, from a worker before it, or have forgotten
// it, past --outcome-ttl). from says where it was found. No outcome is exit 1.
func (a *app) findOutcome(ctx context.Context, js jetstream.JetStream, id string, since time.Time) (o messages.Outcome, from string, err error) {
	kv, err := js.KeyValue(ctx, messages.OutcomeBucket)
	switch {
	case err == nil:
		e, err := kv.Get(ctx, messages.OutcomeKey(id))
		switch {
		case err == nil:
			if so, ok := a.decodeStored(e); ok {
				return so.outcome, "remembered in " + messages.OutcomeBucket, nil
			}
		case errors.Is(err, jetstream.ErrKeyNotFound):
		case ctx.Err() != nil:
			return o, "", a.ctxError(ctx, "reading the outcomes bucket "+messages.OutcomeBucket)
		default:
			fmt.Fprintf(a.stderr, "drainctl: outcomes bucket %s: %v; looking in the events stream\n", messages.OutcomeBucket, err)
		}
	case errors.Is(err, jetstream.ErrBucketNotFound):
	case ctx.Err() != nil:
		return o, "", a.ctxError(ctx, "looking up the outcomes bucket "+messages.OutcomeBucket)
	default:
		fmt.Fprintf(a.stderr, "drainctl: outcomes bucket %s: %v; looking in the events stream\n", messages.OutcomeBucket, err)
	}
	var found *messages.Outcome
	var seq uint64
	err = a.replayEvents(ctx, js, []string{messages.EventSubjects}, since, func(ev messages.Outcome) {
		if ev.RequestID == id {
			found, seq = &ev, ev.StreamSequence
		}
	})
	if err != nil {
		return o, "", err
	}
	if found == nil {
		return o, "", failedErrorf("no outcome of request %s: not in the outcomes bucket %s, nor among the events since %s "+
			"(is the drain still in progress? drainctl drain --wait under its id shows its outcome; look further back with --since)",
			id, messages.OutcomeBucket, formatTime(since))
	}
	return *found, fmt.Sprintf("its event in %s, request stream sequence %d", messages.EventStream, seq), nil
}

// restoreRequests are the restores of drain, the outcome of drainID: one per
// group of its groups that holds servers, each with the servers' weights
// and restore_of drainID. A drain whose outcome says nothing to put back,
// or not at which weights, is exit 1.
func restoreRequests(drain messages.Outcome, drainID, requestID, reason, source string, dryRun bool) ([]messages.DrainRequest, error) {
	switch {
	case drain.Status == messages.StatusRejected:
		return nil, failedErrorf("request %s was rejected%s: nothing was drained, so there is nothing to restore", drainID, errorSuffix(drain.Error))
	case drain.Action == messages.ActionRestore:
		return nil, failedErrorf("request %s is a restore, not a drain: give the id of the drain to undo", drainID)
	case drain.DryRun || drain.Status == messages.StatusPlanned:
		return nil, failedErrorf("request %s was a dry run (status %s): nothing was drained, so there is nothing to restore", drainID, drain.Status)
	case drain.Version < messages.Version2:
		return nil, failedErrorf("request %s was a version-1 drain: its event has no groups, so the weights its servers had are unknown; "+
			"restore needs a version-2 drain's event", drainID)
	case drain.Groups == nil:
		return nil, failedErrorf("the event of request %s has no groups, so the weights its servers had are unknown; "+
			"restore needs a version-2 drain's event with its groups", drainID)
	}
	var groups []messages.Group
	for _, g := range drain.Groups {
		if len(g.BackendServers) > 0 {
			groups = append(groups, g)
		}
	}
	if len(groups) == 0 {
		return nil, failedErrorf("the outcome of request %s (%s) lists no backend server in any group: none was drained, so there is nothing to restore",
			drainID, drain.Status)
	}
	base := requestID
	if base == "" {
		base = drainID + "-restore"
	}
	reqs := make([]messages.DrainRequest, 0, len(groups))
	for i, g := range groups {
		id := base
		if len(groups) > 1 {
			id = base + "-" + strconv.Itoa(i+1)
		}
		if !messages.ValidRequestID(id) {
			return nil, usageErrorf("request id %s of the restore is too long (at most %d characters); give a shorter one with --request-id",
				id, messages.MaxRequestIDLen)
		}
		req := messages.DrainRequest{
			Version:        messages.Version2,
			Action:         messages.ActionRestore,
			RequestID:      id,
			RegionID:       drain.RegionID,
			VServerGroupID: g.VServerGroupID,
			BackendServers: slices.Clone(g.BackendServers),
			Reason:         reason,
			Source:         source,
			DryRun:         dryRun,
			RestoreOf:      drainID,
		}
		if err := req.Validate(); err != nil {
			return nil, failedErrorf("the outcome of request %s cannot be restored as %s: %w", drainID, id, err)
		}
		reqs = append(reqs, req)
	}
	return reqs, nil
}
