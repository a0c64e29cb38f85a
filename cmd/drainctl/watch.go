package main

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"github.com/spf13/cobra"

	"github.com/slbdrain/slbdrain/messages"
)

type watchOptions struct {
	status  string
	region  string
	group   string
	since   time.Duration
	timeout time.Duration
}

func (a *app) watchCommand() *cobra.Command {
	var o watchOptions
	cmd := &cobra.Command{
		Use:   "watch [--status S] [--region R] [--group G] [--since D]",
		Short: "Follow outcome events, one line each (or JSON lines), until interrupted",
		Example: "  drainctl watch --status failed\n" +
			"  drainctl watch --status planned\n" +
			"  drainctl watch --region cn-hangzhou --group rsp-cige6j5e7p --since 1h --json",
		Args: noArgs(""),
		RunE: func(cmd *cobra.Command, _ []string) error {
			subjects, err := watchSubjects(cmd, o)
			if err != nil {
				return err
			}
			return a.watch(cmd.Context(), subjects, o)
		},
	}
	f := cmd.Flags()
	f.StringVar(&o.status, "status", "", "only events of this status: completed, failed, rejected or planned (a dry run)")
	f.StringVar(&o.region, "region", "", "only events of this region id")
	f.StringVar(&o.group, "group", "", "only events of this VServer group id (and instance-scope events whose groups include it)")
	f.DurationVar(&o.since, "since", 0, "first replay the events of this past period, e.g. 1h (default: new events only)")
	addTimeoutFlag(cmd, &o.timeout, 10*time.Second, "how long to try connecting and subscribing")
	return cmd
}

// watchSubjects are the events filters of the flags:
// slb.drain.event.<status|*>.<region|*>.<group|*>, and with --group also
// slb.drain.event.<status|*>.<region|*>.instances, the events of
// instance-scope requests (version 2), of which watch shows those whose
// groups include the group (watchesEvent).
func watchSubjects(cmd *cobra.Command, o watchOptions) ([]string, error) {
	subject, err := watchSubject(cmd, o)
	if err != nil {
		return nil, err
	}
	list := []string{subject}
	if o.group != "" && o.group != "unknown" {
		status, region := "*", "*"
		if o.status != "" {
			status = o.status
		}
		if o.region != "" {
			region = o.region
		}
		list = append(list, messages.InstancesEventSubject(messages.Status(status), region))
	}
	return list, nil
}

// watchesEvent says whether watch shows o: with --group, an instance-scope
// event only when its groups include the group.
func watchesEvent(o messages.Outcome, group string) bool {
	if group == "" || !instanceScope(o) {
		return true
	}
	for _, g := range o.Groups {
		if g.VServerGroupID == group {
			return true
		}
	}
	return false
}

// watchSubject is the events filter of the flags:
// slb.drain.event.<status|*>.<region|*>.<group|*>.
func watchSubject(cmd *cobra.Command, o watchOptions) (string, error) {
	if err := checkPositive(cmd, "since", o.since); err != nil {
		return "", err
	}
	if err := checkPositive(cmd, "timeout", o.timeout); err != nil {
		return "", err
	}
	status, region, group := messages.Status("*"), "*", "*"
	if o.status != "" {
		if !messages.Status(o.status).Valid() {
			return "", usageErrorf("--status %q: one of completed, failed, rejected, planned", o.status)
		}
		status = messages.Status(o.status)
	}
	// "unknown" is the token of rejected events whose region or group is invalid.
	if o.region != "" {
		if !messages.ValidRegionID(o.region) && o.region != "unknown" {
			return "", usageErrorf("--region %q: not a region id like cn-hangzhou", o.region)
		}
		region = o.region
	}
	if o.group != "" {
		if !messages.ValidGroupID(o.group) && o.group != "unknown" {
			return "", usageErrorf("--group %q: not a VServer group id like rsp-cige6j5e7p", o.group)
		}
		group = o.group
	}
	return messages.EventSubject(status, region, group), nil
}

// watch prints events until ctx ends (an interrupt), which is success.
func (a *app) watch(ctx context.Context, subjects []string, o watchOptions) error {
	subject := strings.Join(subjects, " and ")
	group := o.group
	nc, js, err := a.connect(o.timeout)
	if err != nil {
		return err
	}
	defer nc.Close()
	var start *time.Time
	if o.since > 0 {
		t := a.now().Add(-o.since)
		start = &t
	}
	setup, cancel := context.WithTimeout(ctx, o.timeout)
	cons, err := a.eventConsumer(setup, js, subjects, start)
	cancel()
	if err != nil {
		if ctx.Err() != nil {
			return nil
		}
		return err
	}
	defer dropConsumer(js, cons)
	it, err := cons.Messages()
	if err != nil {
		return failedErrorf("follow outcome events %s: %w", subject, err)
	}
	defer it.Stop()
	if !a.json {
		from := "new events"
		if start != nil {
			from = "events since " + formatTime(*start)
		}
		fmt.Fprintf(a.stderr, "watching %s (%s); interrupt to stop\n", subject, from)
	}
	for {
		msg, err := it.Next(jetstream.NextContext(ctx))
		if err != nil {
			if ctx.Err() != nil {
				return nil
			}
			return failedErrorf("follow outcome events %s: %w", subject, err)
		}
		o, ok := a.decodeEvent(msg)
		if !ok || !watchesEvent(o, group) {
			continue
		}
		if a.json {
			err = a.printJSON(o)
		} else {
			_, err = fmt.Fprintln(a.stdout, eventLine(o, false))
		}
		if err != nil {
			return failedErrorf("write: %w", err)
		}
	}
}
