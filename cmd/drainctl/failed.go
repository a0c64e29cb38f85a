package main

import (
	"context"
	"fmt"
	"time"

	"github.com/spf13/cobra"

	"github.com/slbdrain/slbdrain/messages"
)

type failedOptions struct {
	since   time.Duration
	timeout time.Duration
}

// failedFilters are the subjects of the events failed and retry look at.
var failedFilters = []string{
	messages.EventSubject(messages.StatusFailed, "*", "*"),
	messages.EventSubject(messages.StatusRejected, "*", "*"),
}

func (a *app) failedCommand() *cobra.Command {
	var o failedOptions
	cmd := &cobra.Command{
		Use:   "failed [--since D]",
		Short: "List failed and rejected requests, newest last, with their error code and message",
		Example: "  drainctl failed --since 2h\n" +
			"  drainctl failed --json | jq -r .request_id",
		Args: noArgs(""),
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := checkPositive(cmd, "since", o.since); err != nil {
				return err
			}
			if err := checkPositive(cmd, "timeout", o.timeout); err != nil {
				return err
			}
			return a.failed(cmd.Context(), o)
		},
	}
	cmd.Flags().DurationVar(&o.since, "since", 24*time.Hour, "how far back to look")
	addTimeoutFlag(cmd, &o.timeout, 30*time.Second, "how long to wait for the broker")
	return cmd
}

func (a *app) failed(ctx context.Context, o failedOptions) error {
	ctx, cancel := context.WithTimeout(ctx, o.timeout)
	defer cancel()
	nc, js, err := a.connect(o.timeout)
	if err != nil {
		return err
	}
	defer nc.Close()
	since := a.now().Add(-o.since)
	n := 0
	err = a.replayEvents(ctx, js, failedFilters, since, func(ev messages.Outcome) {
		n++
		if a.json {
			_ = a.printJSON(ev)
			return
		}
		fmt.Fprintln(a.stdout, eventLine(ev, true))
	})
	if err != nil {
		return err
	}
	if n == 0 && !a.json {
		fmt.Fprintf(a.stdout, "no failed or rejected requests since %s\n", formatTime(since))
	}
	return nil
}
