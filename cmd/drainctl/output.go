package main

import (
	"encoding/json"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/schollz/progressbar/v3"
	"golang.org/x/term"

	"github.com/slbdrain/slbdrain/messages"
)

// timeLayout prints times in UTC with milliseconds, like the events do.
const timeLayout = "2006-01-02T15:04:05.000Z07:00"

func formatTime(t time.Time) string {
	if t.IsZero() {
		return "-"
	}
	return t.UTC().Format(timeLayout)
}

// printJSON writes v as one JSON line on stdout.
func (a *app) printJSON(v any) error {
	b, err := json.Marshal(v)
	if err != nil {
		return failedErrorf("encode JSON output: %w", err)
	}
	_, err = a.stdout.Write(append(b, '\n'))
	return err
}

// removedCount is how many backend servers an outcome says are out.
func removedCount(o messages.Outcome) int {
	switch o.Status {
	case messages.StatusCompleted:
		return len(o.BackendServers)
	case messages.StatusFailed:
		return len(o.Removed)
	}
	return 0
}

// eventLine is the one-line form of an event: time, status, request id,
// group, servers and, for a failed or rejected one, the error code and, with
// withMessage, its message.
func eventLine(o messages.Outcome, withMessage bool) string {
	var b strings.Builder
	fmt.Fprintf(&b, "%s  %-9s  %s  %s/%s  %s", formatTime(o.FinishedAt), o.Status, o.RequestID,
		o.RegionID, o.VServerGroupID, plural(len(o.BackendServers), "server"))
	if o.Status == messages.StatusFailed && len(o.Removed) > 0 {
		fmt.Fprintf(&b, " (%d removed)", len(o.Removed))
	}
	if o.Error != nil {
		fmt.Fprintf(&b, "  %s", o.Error.Code)
		if withMessage && o.Error.Message != "" {
			fmt.Fprintf(&b, ": %s", o.Error.Message)
		}
	}
	return b.String()
}

func plural(n int, noun string) string {
	if n == 1 {
		return "1 " + noun
	}
	return strconv.Itoa(n) + " " + noun + "s"
}

// maxListed bounds the backend servers a summary spells out.
const maxListed = 10

func serverList(list []messages.BackendServer) string {
	parts := make([]string, 0, min(len(list), maxListed)+1)
	for i, s := range list {
		if i == maxListed {
			parts = append(parts, "and "+strconv.Itoa(len(list)-maxListed)+" more")
			break
		}
		parts = append(parts, s.String())
	}
	return strings.Join(parts, ", ")
}

// writeSummary prints the outcome of one request for a person.
func writeSummary(w io.Writer, o messages.Outcome, verbose bool) {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintf(tw, "request %s: %s\n", o.RequestID, o.Status)
	fmt.Fprintf(tw, "  group\t%s/%s\n", o.RegionID, o.VServerGroupID)
	fmt.Fprintf(tw, "  removed\t%d of %d backend servers\n", removedCount(o), len(o.BackendServers))
	if o.Error != nil {
		fmt.Fprintf(tw, "  failed\t%s: %s\n", o.Error.Code, o.Error.Message)
	}
	if len(o.NotRemoved) > 0 {
		fmt.Fprintf(tw, "  not removed\t%s\n", serverList(o.NotRemoved))
	} else if o.Status == messages.StatusRejected {
		fmt.Fprintf(tw, "  not removed\t%s\n", serverList(o.BackendServers))
	}
	fmt.Fprintf(tw, "  duration\t%s (received %s, finished %s)\n", duration(o), formatTime(o.ReceivedAt), formatTime(o.FinishedAt))
	fmt.Fprintf(tw, "  api calls\t%d\n", o.Attempts)
	if verbose {
		ids := "-"
		if len(o.APIRequestIDs) > 0 {
			ids = strings.Join(o.APIRequestIDs, " ")
		}
		fmt.Fprintf(tw, "  api_request_ids\t%s\n", ids)
		fmt.Fprintf(tw, "  stream_sequence\t%d\n", o.StreamSequence)
		if o.Source != "" {
			fmt.Fprintf(tw, "  source\t%s\n", o.Source)
		}
		if o.Reason != "" {
			fmt.Fprintf(tw, "  reason\t%s\n", o.Reason)
		}
	}
	_ = tw.Flush()
}

func duration(o messages.Outcome) string {
	if o.ReceivedAt.IsZero() || o.FinishedAt.IsZero() {
		return "-"
	}
	return o.FinishedAt.Sub(o.ReceivedAt).Round(time.Millisecond).String()
}

// progressView shows how far a drain is while drainctl waits.
type progressView interface {
	// update shows removed of total backend servers.
	update(removed, total int)
	// note prints a line of its own (a part's outcome).
	note(line string)
	// finish ends the display before the summary is printed.
	finish()
}

// newProgressView is a progress bar when w is a terminal, plain lines when
// it is a file or a pipe (logs, CI), and nothing with --json.
func (a *app) newProgressView(w io.Writer, total int, what string) progressView {
	if a.json {
		return quietView{}
	}
	if f, ok := w.(*os.File); ok && term.IsTerminal(int(f.Fd())) {
		bar := progressbar.NewOptions(total,
			progressbar.OptionSetWriter(w),
			progressbar.OptionSetDescription(what),
			progressbar.OptionShowCount(),
			progressbar.OptionSetElapsedTime(true),
			progressbar.OptionSetPredictTime(false),
			progressbar.OptionClearOnFinish(),
			progressbar.OptionThrottle(50*time.Millisecond),
		)
		_ = bar.RenderBlank()
		return &barView{bar: bar, w: w}
	}
	return &lineView{w: w, what: what}
}

type quietView struct{}

func (quietView) update(int, int) {}
func (quietView) note(string)     {}
func (quietView) finish()         {}

type barView struct {
	bar *progressbar.ProgressBar
	w   io.Writer
}

func (v *barView) update(removed, total int) {
	if total != v.bar.GetMax() {
		v.bar.ChangeMax(total)
	}
	_ = v.bar.Set(removed)
}

func (v *barView) note(line string) {
	_ = v.bar.Clear()
	fmt.Fprintln(v.w, line)
	_ = v.bar.RenderBlank()
}

func (v *barView) finish() {
	_ = v.bar.Clear()
	_ = v.bar.Exit()
}

type lineView struct {
	w    io.Writer
	what string
	last int // removed count last shown; nothing is shown until some are removed
}

func (v *lineView) update(removed, total int) {
	if removed == v.last {
		return
	}
	v.last = removed
	fmt.Fprintf(v.w, "%s: %d of %d backend servers removed\n", v.what, removed, total)
}

func (v *lineView) note(line string) { fmt.Fprintln(v.w, line) }
func (v *lineView) finish()          {}
