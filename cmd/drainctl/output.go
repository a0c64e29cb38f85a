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
// group, servers, for a version-2 event its action, mode, dry run and
// groups, and, for a failed, rejected or refused planned one, the error
// code and, with withMessage, its message.
func eventLine(o messages.Outcome, withMessage bool) string {
	var b strings.Builder
	noun := "server"
	if instanceScope(o) {
		noun = "instance"
	}
	fmt.Fprintf(&b, "%s  %-9s  %s  %s/%s  %s", formatTime(o.FinishedAt), o.Status, o.RequestID,
		o.RegionID, groupToken(o), plural(len(o.BackendServers), noun))
	if o.Status == messages.StatusFailed && len(o.Removed) > 0 {
		fmt.Fprintf(&b, " (%d %s)", len(o.Removed), outcomeDoneWord(o))
	}
	if o.Version >= messages.Version2 {
		fmt.Fprintf(&b, "  %s", actionText(o))
		if o.Groups != nil {
			fmt.Fprintf(&b, ", %s", plural(len(o.Groups), "group"))
		}
	}
	if o.Error != nil {
		fmt.Fprintf(&b, "  %s", o.Error.Code)
		if withMessage && o.Error.Message != "" {
			fmt.Fprintf(&b, ": %s", o.Error.Message)
		}
	}
	return b.String()
}

// groupToken is an outcome's group as its subject names it: the group id,
// or "instances" in instance scope (version 2).
func groupToken(o messages.Outcome) string {
	if o.VServerGroupID == "" && o.Version >= messages.Version2 {
		return messages.InstancesToken
	}
	return o.VServerGroupID
}

// actionText is a version-2 outcome's action and mode, and "dry run" for
// one: "drain graceful", "restore", "drain remove, dry run".
func actionText(o messages.Outcome) string {
	s := string(o.Action)
	if s == "" {
		s = string(messages.ActionDrain)
	}
	if o.Mode != "" {
		s += " " + string(o.Mode)
	}
	if o.DryRun {
		s += ", dry run"
	}
	return s
}

func isRestore(o messages.Outcome) bool { return o.Action == messages.ActionRestore }

// outcomeDoneWord is what the outcome's request does to its servers:
// "removed", or "restored".
func outcomeDoneWord(o messages.Outcome) string {
	if isRestore(o) {
		return "restored"
	}
	return "removed"
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
	return listed(list, messages.BackendServer.String)
}

// listed spells out up to maxListed entries of list, each as name says,
// and counts the rest.
func listed(list []messages.BackendServer, name func(messages.BackendServer) string) string {
	parts := make([]string, 0, min(len(list), maxListed)+1)
	for i, s := range list {
		if i == maxListed {
			parts = append(parts, "and "+strconv.Itoa(len(list)-maxListed)+" more")
			break
		}
		parts = append(parts, name(s))
	}
	return strings.Join(parts, ", ")
}

// instanceScope reports whether o is the outcome of an instance-scope
// request (version 2, no group).
func instanceScope(o messages.Outcome) bool {
	return o.Version >= messages.Version2 && o.VServerGroupID == ""
}

// instanceName is an instance of an instance-scope request: its id, its
// type when not ecs, and its port when the request narrows to one.
func instanceName(b messages.BackendServer) string {
	s := b.ServerID
	if b.Type != "" && b.Type != messages.TypeECS {
		s += ":" + b.Type
	}
	if b.Port != 0 {
		s += " port " + strconv.Itoa(b.Port)
	}
	return s
}

// instancesText lists the instances of an instance-scope request.
func instancesText(list []messages.BackendServer) string { return listed(list, instanceName) }

// groupsText is "3 groups on 2 load balancers" for an outcome's groups.
func groupsText(groups []messages.Group) string {
	lbs := map[string]bool{}
	for _, g := range groups {
		if len(g.BackendServers) > 0 && g.LoadBalancerID != "" {
			lbs[g.LoadBalancerID] = true
		}
	}
	n := 0
	for _, g := range groups {
		if len(g.BackendServers) > 0 {
			n++
		}
	}
	s := plural(n, "group")
	if len(lbs) > 0 {
		s += " on " + plural(len(lbs), "load balancer")
	}
	return s
}

// inNoGroup are the instances of an instance-scope outcome that none of
// its groups holds (on the requested port): already drained.
func inNoGroup(o messages.Outcome) []messages.BackendServer {
	var none []messages.BackendServer
	for _, s := range o.BackendServers {
		found := false
		for _, g := range o.Groups {
			for _, b := range g.BackendServers {
				if b.ServerID == s.ServerID && (s.Port == 0 || b.Port == s.Port) {
					found = true
				}
			}
		}
		if !found {
			none = append(none, s)
		}
	}
	return none
}

// writeSummary prints the outcome of one request for a person.
func writeSummary(w io.Writer, o messages.Outcome, verbose bool) {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintf(tw, "request %s: %s\n", o.RequestID, o.Status)
	instances := instanceScope(o)
	if instances {
		ports := "every port"
		names := make([]messages.BackendServer, len(o.BackendServers))
		for i, s := range o.BackendServers {
			names[i] = messages.BackendServer{ServerID: s.ServerID, Type: s.Type}
			if s.Port != 0 {
				ports = "port " + strconv.Itoa(s.Port) // --port: the same for all
			}
		}
		fmt.Fprintf(tw, "  instances\t%s in %s, %s of every group that holds them\n", instancesText(names), o.RegionID, ports)
	} else {
		fmt.Fprintf(tw, "  group\t%s/%s\n", o.RegionID, groupToken(o))
	}
	if o.Version >= messages.Version2 {
		fmt.Fprintf(tw, "  action\t%s\n", actionText(o))
	}
	done := outcomeDoneWord(o)
	if instances {
		writeInstancesResult(tw, o)
	} else if o.Status == messages.StatusPlanned {
		fmt.Fprintf(tw, "  would\t%s (a dry run: nothing was changed)\n", wouldText(o))
		if o.Error != nil {
			fmt.Fprintf(tw, "  verdict\trefused, %s: %s\n", o.Error.Code, o.Error.Message)
		} else {
			fmt.Fprintf(tw, "  verdict\tnothing refuses it\n")
		}
	} else {
		fmt.Fprintf(tw, "  %s\t%d of %d backend servers\n", done, removedCount(o), len(o.BackendServers))
		if o.Error != nil {
			fmt.Fprintf(tw, "  failed\t%s: %s\n", o.Error.Code, o.Error.Message)
		}
		if len(o.NotRemoved) > 0 {
			fmt.Fprintf(tw, "  not %s\t%s\n", done, serverList(o.NotRemoved))
		} else if o.Status == messages.StatusRejected {
			fmt.Fprintf(tw, "  not %s\t%s\n", done, serverList(o.BackendServers))
		}
	}
	label := "servers"
	if instances {
		label = "group"
	}
	for _, g := range o.Groups {
		fmt.Fprintf(tw, "  %s\t%s\n", label, groupServers(g))
		if !g.WeightZeroAt.IsZero() {
			fmt.Fprintf(tw, "  weight 0 at\t%s\n", formatTime(g.WeightZeroAt))
		}
		if !g.RemovedAt.IsZero() {
			fmt.Fprintf(tw, "  removed at\t%s\n", formatTime(g.RemovedAt))
		}
	}
	if instances {
		writeInNoGroup(tw, o)
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
		if o.TraceID != "" {
			fmt.Fprintf(tw, "  trace_id\t%s\n", o.TraceID)
		}
		if o.Source != "" {
			fmt.Fprintf(tw, "  source\t%s\n", o.Source)
		}
		if o.Reason != "" {
			fmt.Fprintf(tw, "  reason\t%s\n", o.Reason)
		}
	}
	_ = tw.Flush()
}

// writeInstancesResult is the part of an instance-scope outcome's summary
// that says what was (or would be) done: backend servers in how many
// groups, the error, and the instances in no group of the region.
func writeInstancesResult(tw io.Writer, o messages.Outcome) {
	n := groupServerCount(o)
	switch o.Status {
	case messages.StatusPlanned:
		fmt.Fprintf(tw, "  would\t%s (a dry run: nothing was changed)\n", wouldText(o))
		if o.Error != nil {
			fmt.Fprintf(tw, "  verdict\trefused, %s: %s\n", o.Error.Code, o.Error.Message)
		} else {
			fmt.Fprintf(tw, "  verdict\tnothing refuses it\n")
		}
	case messages.StatusCompleted:
		fmt.Fprintf(tw, "  removed\t%s of %s, from %s\n", plural(n, "backend server"), plural(len(o.BackendServers), "instance"), groupsText(o.Groups))
	default:
		fmt.Fprintf(tw, "  removed\t%d of %s from every group that held them\n", len(o.Removed), plural(len(o.BackendServers), "instance"))
		if o.Error != nil {
			fmt.Fprintf(tw, "  failed\t%s: %s\n", o.Error.Code, o.Error.Message)
		}
		switch {
		case len(o.NotRemoved) > 0:
			fmt.Fprintf(tw, "  not removed\t%s\n", instancesText(o.NotRemoved))
		case o.Status == messages.StatusRejected:
			fmt.Fprintf(tw, "  not removed\t%s\n", instancesText(o.BackendServers))
		}
	}
}

// writeInNoGroup names the instances of a completed or planned
// instance-scope outcome that no group of the region holds (on the
// requested port): already drained. (A failed one's groups may not all be
// known.)
func writeInNoGroup(tw io.Writer, o messages.Outcome) {
	if o.Status != messages.StatusCompleted && o.Status != messages.StatusPlanned {
		return
	}
	for _, s := range inNoGroup(o) {
		where := "is in no VServer group of " + o.RegionID
		if s.Port != 0 {
			where = "has port " + strconv.Itoa(s.Port) + " in no VServer group of " + o.RegionID
		}
		fmt.Fprintf(tw, "  in no group\t%s %s (already drained: nothing to do)\n", instanceName(messages.BackendServer{ServerID: s.ServerID, Type: s.Type}), where)
	}
}

// wouldText says what a planned request would do.
func wouldText(o messages.Outcome) string {
	n := len(o.BackendServers)
	if o.Groups != nil {
		n = 0
		for _, g := range o.Groups {
			n += len(g.BackendServers)
		}
	}
	what := plural(n, "backend server")
	if instanceScope(o) {
		what += " of " + plural(len(o.BackendServers), "instance") + " in " + groupsText(o.Groups)
	}
	var s string
	switch {
	case isRestore(o):
		s = "add back " + what + " at the weights listed"
	case o.Mode == messages.ModeGraceful:
		s = "set the weight of " + what + " to 0, wait the drain timeout, then remove them"
	default:
		s = "remove " + what
	}
	if o.Groups != nil && !isRestore(o) && o.VServerGroupID != "" && n < len(o.BackendServers) {
		s += fmt.Sprintf("; %d of the %d requested are not in the group (nothing to do for them)", len(o.BackendServers)-n, len(o.BackendServers))
	}
	return s
}

// groupServers is one group of an outcome's groups: the group, its load
// balancer, and its servers with their weights (the weights a restore puts
// back).
func groupServers(g messages.Group) string {
	var b strings.Builder
	b.WriteString(g.VServerGroupID)
	if g.LoadBalancerID != "" {
		b.WriteString(" on " + g.LoadBalancerID)
	}
	b.WriteString(": ")
	if len(g.BackendServers) == 0 {
		b.WriteString("none")
		return b.String()
	}
	for i, s := range g.BackendServers {
		if i == maxListed {
			fmt.Fprintf(&b, ", and %d more", len(g.BackendServers)-maxListed)
			break
		}
		if i > 0 {
			b.WriteString(", ")
		}
		b.WriteString(s.String())
		if s.Weight.IsSet() {
			b.WriteString(" weight " + s.Weight.String())
		}
	}
	return b.String()
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
	// phase shows where a version-2 request stands (phaseText), with
	// removed of total backend servers.
	phase(line string, removed, total int)
	// note prints a line of its own (a part's outcome).
	note(line string)
	// live reports whether the view redraws in place (a terminal), so that
	// a countdown may be refreshed.
	live() bool
	// finish ends the display before the summary is printed.
	finish()
}

// newProgressView is a progress bar when w is a terminal, plain lines when
// it is a file or a pipe (logs, CI), and nothing with --json. what names
// the work ("draining cn-hangzhou/rsp-x"), done what happens to a server
// ("removed").
func (a *app) newProgressView(w io.Writer, total int, what, done string) progressView {
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
		return &barView{bar: bar, w: w, what: what}
	}
	return &lineView{w: w, what: what, done: done}
}

type quietView struct{}

func (quietView) update(int, int)        {}
func (quietView) phase(string, int, int) {}
func (quietView) note(string)            {}
func (quietView) live() bool             { return false }
func (quietView) finish()                {}

type barView struct {
	bar  *progressbar.ProgressBar
	w    io.Writer
	what string
}

func (v *barView) update(removed, total int) {
	if total != v.bar.GetMax() {
		v.bar.ChangeMax(total)
	}
	_ = v.bar.Set(removed)
}

func (v *barView) phase(line string, removed, total int) {
	v.bar.Describe(v.what + ": " + line)
	v.update(removed, total)
}

func (v *barView) note(line string) {
	_ = v.bar.Clear()
	fmt.Fprintln(v.w, line)
	_ = v.bar.RenderBlank()
}

func (v *barView) live() bool { return true }

func (v *barView) finish() {
	_ = v.bar.Clear()
	_ = v.bar.Exit()
}

type lineView struct {
	w    io.Writer
	what string
	done string // "removed" or "restored"
	last int    // removed count last shown; nothing is shown until some are removed
	// lastPhase is the phase line last shown: a line is not repeated.
	lastPhase string
}

func (v *lineView) update(removed, total int) {
	if removed == v.last {
		return
	}
	v.last = removed
	fmt.Fprintf(v.w, "%s: %d of %d backend servers %s\n", v.what, removed, total, v.done)
}

func (v *lineView) phase(line string, removed, _ int) {
	v.last = removed // the phase line says it
	if line == v.lastPhase {
		return
	}
	v.lastPhase = line
	fmt.Fprintf(v.w, "%s: %s\n", v.what, line)
}

func (v *lineView) note(line string) { fmt.Fprintln(v.w, line) }
func (v *lineView) live() bool       { return false }
func (v *lineView) finish()          {}
