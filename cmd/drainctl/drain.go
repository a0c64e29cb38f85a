package main

import (
	"bufio"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"io"
	"os"
	"os/user"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/spf13/cobra"

	"github.com/slbdrain/slbdrain/messages"
)

const (
	defaultWaitTimeout    = 15 * time.Minute
	defaultPublishTimeout = 30 * time.Second
)

type drainOptions struct {
	region      string
	group       string
	servers     []string
	instances   []string // --instance: instance scope (version 2), instead of --group
	port        int      // --port: with --instance, only this backend port
	serversFile string
	reason      string
	source      string
	requestID   string
	deadline    string
	wait        bool
	timeout     time.Duration
	verbose     bool

	// Version 2: any of these makes the request a version-2 one.
	graceful     bool
	drainTimeout time.Duration
	dryRun       bool
	force        bool
}

// v2 reports whether the flags ask for anything of contract version 2
// (instance scope is version 2 only).
func (o drainOptions) v2(cmd *cobra.Command) bool {
	return o.graceful || o.dryRun || o.force || cmd.Flags().Changed("drain-timeout") || len(o.instances) > 0
}

func (a *app) drainCommand() *cobra.Command {
	var o drainOptions
	cmd := &cobra.Command{
		Use:   "drain --region R (--group G --server ID:PORT[:TYPE]... | --instance ID[:TYPE]... [--port P]) [flags]",
		Short: "Publish a drain request; with --wait, show its progress and outcome",
		Long: "drain publishes a request to take backend servers out of one VServer group.\n" +
			"With --instance instead of --group (instance scope, version 2), the worker drains each named\n" +
			"instance from every VServer group of the region that holds it, on every port (--port: only that\n" +
			"one); the outcome lists the groups it found, and an instance no group holds is already drained.\n" +
			"More than 1000 servers are split into requests <request-id>-part-N of at most 1000.\n" +
			"A request id is answered once: with --wait, a request whose outcome the worker remembers\n" +
			"(the outcomes bucket " + messages.OutcomeBucket + ") is not published again, and that outcome is shown.\n\n" +
			"--graceful, --drain-timeout, --dry-run and --force make a version-2 request (contract version 2):\n" +
			"--graceful sets the servers' weight to 0, waits --drain-timeout (default: the worker's, 30s), then\n" +
			"removes them; --dry-run reports what would be done (status planned) and changes nothing; --force\n" +
			"lifts the worker's --min-remaining guard. Without them the request is a version-1 one, as before.\n" +
			"A version-2 drain's event keeps the servers' weights: drainctl restore puts them back.\n\n" +
			"Exit codes: 0 completed, planned (a dry run the guard allows) or published (without --wait),\n" +
			"1 failed, rejected or planned with an error (the guard would refuse), 2 bad usage, 3 timed out.",
		Example: "  drainctl drain --region cn-hangzhou --group rsp-cige6j5e7p --server i-bp1a2b3c:80 --wait\n" +
			"  drainctl drain --region cn-hangzhou --group rsp-cige6j5e7p --server i-bp1a2b3c:80 --graceful --drain-timeout 2m --wait\n" +
			"  drainctl drain --region cn-hangzhou --group rsp-cige6j5e7p --server i-bp1a2b3c:80 --dry-run --wait\n" +
			"  drainctl drain --region cn-hangzhou --instance i-bp1a2b3c --graceful --wait\n" +
			"  drainctl drain --region cn-hangzhou --instance i-bp1a2b3c --instance i-bp4d5e6f --port 80 --dry-run --wait\n" +
			"  terraform output -raw servers | drainctl drain --region cn-hangzhou --group rsp-cige6j5e7p --servers-file - --wait",
		Args: noArgs(" (servers are given with --server or --servers-file, instances with --instance)"),
		RunE: func(cmd *cobra.Command, _ []string) error {
			s, err := a.drainSubmission(cmd, o)
			if err != nil {
				return err
			}
			return a.submit(cmd.Context(), s)
		},
	}
	f := cmd.Flags()
	f.StringVar(&o.region, "region", "", "region id of the VServer group, e.g. cn-hangzhou (required)")
	f.StringVar(&o.group, "group", "", "VServer group id, e.g. rsp-cige6j5e7p (required, unless --instance)")
	f.StringArrayVar(&o.servers, "server", nil, "backend server ID:PORT[:TYPE], TYPE ecs (default), eni or eci; repeatable")
	f.StringArrayVar(&o.instances, "instance", nil, "instead of --group and --server: drain instance ID[:TYPE] from every VServer group of the region that holds it (version 2); repeatable")
	f.IntVar(&o.port, "port", 0, "with --instance, only this backend port, 1..65535 (default: every port)")
	f.StringVar(&o.serversFile, "servers-file", "", "file of backend servers, one ID:PORT[:TYPE] a line (# comments and blank lines ignored); - for stdin")
	f.StringVar(&o.reason, "reason", "", "why, for the audit trail (at most 256 characters)")
	f.StringVar(&o.source, "source", "", "who asks (default drainctl/<user>@<host>)")
	f.StringVar(&o.requestID, "request-id", "", "idempotency key (default drainctl-<time>-<random>); re-sending the same id is the same request")
	f.StringVar(&o.deadline, "deadline", "", "when the worker gives up: RFC 3339 time or a duration from now, e.g. 10m (default: the worker's --max-retry)")
	f.BoolVar(&o.graceful, "graceful", false, "drain gracefully: weight 0 first, wait --drain-timeout, then remove (version 2)")
	f.DurationVar(&o.drainTimeout, "drain-timeout", 0, "with --graceful, the wait at weight 0 before removal, 0s..1h (default: the worker's --drain-timeout, 30s)")
	f.BoolVar(&o.dryRun, "dry-run", false, "report what would be done (status planned), changing nothing (version 2)")
	f.BoolVar(&o.force, "force", false, "lift the worker's --min-remaining guard for this request (never its --allow-group) (version 2)")
	a.waitFlags(cmd, &o.wait, &o.timeout, &o.verbose)
	return cmd
}

// waitFlags are the flags drain and retry share.
func (a *app) waitFlags(cmd *cobra.Command, wait *bool, timeout *time.Duration, verbose *bool) {
	cmd.Flags().BoolVar(wait, "wait", false, "wait for the outcome, showing progress")
	addTimeoutFlag(cmd, timeout, 0, "with --wait, how long to wait for the outcome (default 15m); without, how long to try publishing (default 30s)")
	cmd.Flags().BoolVar(verbose, "verbose", false, "also show the Alibaba API request ids and the request's details")
}

func submitTimeout(cmd *cobra.Command, wait bool, timeout time.Duration) (time.Duration, error) {
	if err := checkPositive(cmd, "timeout", timeout); err != nil {
		return 0, err
	}
	switch {
	case cmd.Flags().Changed("timeout"):
		return timeout, nil
	case wait:
		return defaultWaitTimeout, nil
	}
	return defaultPublishTimeout, nil
}

// requestIDArg takes exactly one positional argument, a request id (what
// it is for in hint), and refuses anything else as bad usage.
func requestIDArg(hint string) cobra.PositionalArgs {
	return func(_ *cobra.Command, args []string) error {
		if len(args) != 1 {
			return usageErrorf("want exactly one REQUEST_ID%s, got %d arguments", hint, len(args))
		}
		if !messages.ValidRequestID(args[0]) {
			return usageErrorf("REQUEST_ID %q: not a request id (1..%d characters of A-Z a-z 0-9 . _ : -)", args[0], messages.MaxRequestIDLen)
		}
		return nil
	}
}

// checkRequestIDFlag refuses a --request-id that is not a request id
// (empty: none given).
func checkRequestIDFlag(id string) error {
	if id != "" && !messages.ValidRequestID(id) {
		return usageErrorf("--request-id %q: must be 1..%d characters of A-Z a-z 0-9 . _ : -", id, messages.MaxRequestIDLen)
	}
	return nil
}

// errorSuffix is " (code: message)" of an event's error, "" for none.
func errorSuffix(e *messages.Error) string {
	if e == nil {
		return ""
	}
	return " (" + e.Code + ": " + e.Message + ")"
}

// noArgs refuses positional arguments as bad usage, with hint.
func noArgs(hint string) cobra.PositionalArgs {
	return func(_ *cobra.Command, args []string) error {
		if len(args) > 0 {
			return usageErrorf("unexpected argument %q%s", args[0], hint)
		}
		return nil
	}
}

// drainSubmission checks the flags and builds the requests. Everything a
// worker would reject is bad usage here.
func (a *app) drainSubmission(cmd *cobra.Command, o drainOptions) (submission, error) {
	timeout, err := submitTimeout(cmd, o.wait, o.timeout)
	if err != nil {
		return submission{}, err
	}
	instanceScope := len(o.instances) > 0
	switch {
	case o.region == "":
		return submission{}, usageErrorf("--region is required (the VServer group's region id, e.g. cn-hangzhou)")
	case !messages.ValidRegionID(o.region):
		return submission{}, usageErrorf("--region %q: not a region id like cn-hangzhou", o.region)
	case instanceScope && o.group != "":
		return submission{}, usageErrorf("--instance and --group %s are mutually exclusive: --instance drains the instances from every group of the region that holds them, --group drains --server members of one group", o.group)
	case instanceScope && (len(o.servers) > 0 || o.serversFile != ""):
		return submission{}, usageErrorf("--instance and --server/--servers-file are mutually exclusive: --server and --servers-file name members ID:PORT of one --group; with --instance, narrow the ports with --port")
	case cmd.Flags().Changed("port") && !instanceScope:
		return submission{}, usageErrorf("--port %d: only with --instance (a --server names its own port: ID:PORT)", o.port)
	case instanceScope && cmd.Flags().Changed("port") && (o.port < messages.MinPort || o.port > messages.MaxPort):
		return submission{}, usageErrorf("--port %d: must be %d..%d", o.port, messages.MinPort, messages.MaxPort)
	case instanceScope:
	case o.group == "":
		return submission{}, usageErrorf("--group is required (the VServer group id, e.g. rsp-cige6j5e7p), or --instance ID to drain an instance from every group of the region")
	case !messages.ValidGroupID(o.group):
		return submission{}, usageErrorf("--group %q: not a VServer group id like rsp-cige6j5e7p", o.group)
	}
	var servers []messages.BackendServer
	if instanceScope {
		servers, err = readInstances(o.instances, o.port)
	} else {
		servers, err = a.readServers(o)
	}
	if err != nil {
		return submission{}, err
	}
	deadline, err := parseDeadline(o.deadline, a.now())
	if err != nil {
		return submission{}, err
	}
	source := o.source
	if !cmd.Flags().Changed("source") {
		source = defaultSource(a.getenv)
	}
	if err := checkRequestIDFlag(o.requestID); err != nil {
		return submission{}, err
	}
	base := o.requestID
	if base == "" {
		base = generateRequestID(a.now())
	}
	tmpl := messages.DrainRequest{
		Version:        messages.Version,
		RequestID:      base,
		RegionID:       o.region,
		VServerGroupID: o.group,
		Reason:         o.reason,
		Source:         source,
		Deadline:       deadline,
	}
	if err := o.applyV2(cmd, &tmpl); err != nil {
		return submission{}, err
	}
	reqs, err := splitRequests(tmpl, servers)
	if err != nil {
		return submission{}, err
	}
	return submission{reqs: reqs, wait: o.wait, timeout: timeout, verbose: o.verbose}, nil
}

// applyV2 makes tmpl a version-2 drain when the flags ask for it, checking
// them as the worker would (a version-1 request is left exactly as it is).
func (o drainOptions) applyV2(cmd *cobra.Command, tmpl *messages.DrainRequest) error {
	timeoutGiven := cmd.Flags().Changed("drain-timeout")
	switch {
	case timeoutGiven && !o.graceful:
		return usageErrorf("--drain-timeout %s: only with --graceful (it is the wait at weight 0 of a graceful drain)", o.drainTimeout)
	case timeoutGiven && (o.drainTimeout < 0 || o.drainTimeout > messages.MaxDrainTimeout):
		return usageErrorf("--drain-timeout %s: must be 0s..%s", o.drainTimeout, messages.MaxDrainTimeout)
	}
	if !o.v2(cmd) {
		return nil
	}
	tmpl.Version = messages.Version2
	tmpl.Action = messages.ActionDrain
	tmpl.Mode = messages.ModeRemove
	if o.graceful {
		tmpl.Mode = messages.ModeGraceful
	}
	if timeoutGiven {
		d := o.drainTimeout
		tmpl.DrainTimeout = &d
	}
	tmpl.DryRun, tmpl.Force = o.dryRun, o.force
	return nil
}

// readInstances makes the backend servers of an instance-scope request
// from --instance ID[:TYPE] (type ecs by default) and --port (0: every
// port), in order, without duplicates.
func readInstances(instances []string, port int) ([]messages.BackendServer, error) {
	servers := make([]messages.BackendServer, 0, len(instances))
	for _, arg := range instances {
		s := strings.TrimSpace(arg)
		id, typ, hasType := strings.Cut(s, ":")
		switch {
		case !messages.ValidServerID(id):
			return nil, usageErrorf("--instance %q: not an instance id (1..%d characters of A-Z a-z 0-9 - _), want ID[:TYPE]", arg, messages.MaxServerIDLen)
		case hasType && typ != "" && strings.Trim(typ, "0123456789") == "":
			return nil, usageErrorf("--instance %q: an instance is drained from every port; give the port with --port %s", arg, typ)
		case hasType && !messages.ValidServerType(typ):
			return nil, usageErrorf("--instance %q: type %q: want ecs (default), eni or eci", arg, typ)
		case !hasType:
			typ = messages.TypeECS
		}
		servers = append(servers, messages.BackendServer{ServerID: id, Port: port, Type: typ})
	}
	return messages.FoldServers(servers), nil
}

// readServers collects the backend servers of --server and --servers-file,
// in order, without duplicates.
func (a *app) readServers(o drainOptions) ([]messages.BackendServer, error) {
	var servers []messages.BackendServer
	for _, s := range o.servers {
		b, err := messages.ParseBackendServer(strings.TrimSpace(s))
		if err != nil {
			return nil, usageErrorf("--server: %v", err)
		}
		servers = append(servers, b)
	}
	if o.serversFile != "" {
		list, err := a.readServersFile(o.serversFile)
		if err != nil {
			return nil, err
		}
		servers = append(servers, list...)
	}
	if len(servers) == 0 {
		return nil, usageErrorf("no backend servers: give --server ID:PORT[:TYPE] (repeatable) or --servers-file")
	}
	// Folded as the worker folds them, so the counts shown match the outcome.
	return messages.FoldServers(servers), nil
}

func (a *app) readServersFile(path string) ([]messages.BackendServer, error) {
	var r io.Reader
	name := path
	if path == "-" {
		r, name = a.stdin, "stdin"
	} else {
		f, err := os.Open(path)
		if err != nil {
			return nil, usageErrorf("--servers-file: %v", err)
		}
		defer f.Close()
		r = f
	}
	var servers []messages.BackendServer
	sc := bufio.NewScanner(r)
	for line := 1; sc.Scan(); line++ {
		text := sc.Text()
		if i := strings.IndexByte(text, '#'); i >= 0 {
			text = text[:i]
		}
		text = strings.TrimSpace(text)
		if text == "" {
			continue
		}
		b, err := messages.ParseBackendServer(text)
		if err != nil {
			return nil, usageErrorf("--servers-file %s line %d: %v", name, line, err)
		}
		servers = append(servers, b)
	}
	if err := sc.Err(); err != nil {
		return nil, usageErrorf("--servers-file %s: %v", name, err)
	}
	if len(servers) == 0 {
		return nil, usageErrorf("--servers-file %s: no backend servers in it", name)
	}
	return servers, nil
}

// splitRequests makes requests of at most messages.MaxServers servers from
// tmpl; when there are several, their ids get the suffix -part-N.
func splitRequests(tmpl messages.DrainRequest, servers []messages.BackendServer) ([]messages.DrainRequest, error) {
	n := (len(servers) + messages.MaxServers - 1) / messages.MaxServers
	reqs := make([]messages.DrainRequest, 0, n)
	for i := range n {
		r := tmpl
		r.BackendServers = servers[i*messages.MaxServers : min((i+1)*messages.MaxServers, len(servers))]
		if n > 1 {
			r.RequestID = tmpl.RequestID + "-part-" + strconv.Itoa(i+1)
			if len(r.RequestID) > messages.MaxRequestIDLen {
				return nil, usageErrorf("--request-id %q: too long for the suffix -part-%d of a drain split in %d requests (at most %d characters in all)",
					tmpl.RequestID, i+1, n, messages.MaxRequestIDLen)
			}
		}
		if err := r.Validate(); err != nil {
			return nil, usageErrorf("%v", err)
		}
		reqs = append(reqs, r)
	}
	return reqs, nil
}

// parseDeadline reads --deadline: an RFC 3339 time or a duration from now.
func parseDeadline(s string, now time.Time) (*time.Time, error) {
	if s == "" {
		return nil, nil
	}
	t, err := time.Parse(time.RFC3339, s)
	if err != nil {
		d, derr := time.ParseDuration(s)
		if derr != nil {
			return nil, usageErrorf("--deadline %q: want an RFC 3339 time (2026-11-27T10:00:00Z) or a duration (10m)", s)
		}
		if d <= 0 {
			return nil, usageErrorf("--deadline %q: the duration must be positive", s)
		}
		t = now.Add(d)
	}
	if !t.After(now) {
		return nil, usageErrorf("--deadline %q: in the past; the worker would fail the request at once", s)
	}
	t = t.UTC()
	return &t, nil
}

// defaultSource is drainctl/<user>@<host>.
func defaultSource(getenv func(string) string) string {
	name := getenv("USER")
	if u, err := user.Current(); err == nil && u.Username != "" {
		name = u.Username
	}
	if name == "" {
		name = "unknown"
	}
	host, err := os.Hostname()
	if err != nil || host == "" {
		host = "unknown"
	}
	s := "drainctl/" + name + "@" + host
	return truncateRunes(s, messages.MaxTextChars)
}

func truncateRunes(s string, n int) string {
	if utf8.RuneCountInString(s) <= n {
		return s
	}
	return string([]rune(s)[:n])
}

// generateRequestID is drainctl-<UTC time>-<random>: unique without
// coordination, and sortable by time.
func generateRequestID(now time.Time) string {
	var b [4]byte
	_, _ = rand.Read(b[:])
	return fmt.Sprintf("drainctl-%s-%s", now.UTC().Format("20060102T150405Z"), hex.EncodeToString(b[:]))
}
