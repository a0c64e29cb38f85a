package main

import (
	"fmt"
	"slices"
	"strings"
	"testing"

	"github.com/slbdrain/slbdrain/messages"
)

func TestDrainWaitCompletes(t *testing.T) {
	e := newEnv(t)
	e.startWorker()
	servers := e.group("rsp-drain45", 45)

	args := append([]string{"drain", "--region", testRegion, "--group", "rsp-drain45",
		"--request-id", "drain45-1", "--reason", "scale-in", "--wait", "--verbose"}, serverFlags(servers)...)
	r := e.drainctl("", args...)
	if r.code != exitOK {
		t.Fatalf("want exit 0\n%s", r)
	}
	for _, want := range []string{"request drain45-1: completed", "45 of 45 backend servers", "api_request_ids", "reason", "scale-in"} {
		if !strings.Contains(r.stdout, want) {
			t.Errorf("stdout lacks %q\n%s", want, r)
		}
	}
	for _, want := range []string{"published drain45-1: 45 backend servers", "45 of 45 backend servers removed"} {
		if !strings.Contains(r.stderr, want) {
			t.Errorf("stderr lacks %q\n%s", want, r)
		}
	}
	if n := e.left("rsp-drain45"); n != 0 {
		t.Errorf("%d servers left in the group, want 0", n)
	}
	t.Logf("transcript:\n$ drainctl %s\n%s%s", strings.Join(args[:9], " ")+" --server ...", r.stderr, r.stdout)

	// Sent again under the same id, it is the same request: drainctl finds
	// its outcome in the outcomes bucket and shows it, publishing nothing.
	r = e.drainctl("", append([]string{"drain", "--region", testRegion, "--group", "rsp-drain45",
		"--request-id", "drain45-1", "--wait", "--json"}, serverFlags(servers)...)...)
	if r.code != exitOK {
		t.Fatalf("re-sent request: want exit 0\n%s", r)
	}
	if !strings.Contains(r.stderr, "request drain45-1 already has an outcome (completed") || !strings.Contains(r.stderr, "not published again") ||
		strings.Contains(r.stderr, "published drain45-1") {
		t.Errorf("re-sent request not reported as answered already\n%s", r)
	}
	outs := decodeOutcomes(t, r.stdout)
	if len(outs) != 1 || outs[0].RequestID != "drain45-1" || outs[0].Status != messages.StatusCompleted || len(outs[0].BackendServers) != 45 {
		t.Errorf("--json outcome %+v, want the completed drain45-1 of 45 servers", outs)
	}
}

func TestDrainWithoutWaitPublishes(t *testing.T) {
	e := newEnv(t)
	r := e.drainctl("", "drain", "--region", testRegion, "--group", "rsp-nowait", "--server", "i-a:80")
	if r.code != exitFailed || !strings.Contains(r.stderr, "stream SLB_DRAIN_REQUESTS") || !strings.Contains(r.stderr, "does not exist") {
		t.Fatalf("drain before any worker created the streams: want exit 1 and why\n%s", r)
	}

	e.createStreams()
	r = e.drainctl("", "drain", "--region", testRegion, "--group", "rsp-nowait", "--server", "i-a:80", "--server", "i-b:8080:eni", "--json")
	if r.code != exitOK {
		t.Fatalf("want exit 0\n%s", r)
	}
	if !strings.Contains(r.stdout, `"request_id":"drainctl-`) || !strings.Contains(r.stdout, `"servers":2`) {
		t.Errorf("stdout lacks the published request\n%s", r)
	}
	info, err := e.js.Stream(t.Context(), messages.RequestStream)
	if err != nil {
		t.Fatal(err)
	}
	if n := info.CachedInfo().State.Msgs; n != 1 {
		t.Errorf("requests stream holds %d messages, want 1", n)
	}
}

func TestDrainUnknownGroupFails(t *testing.T) {
	e := newEnv(t)
	e.startWorker()
	r := e.drainctl("", "drain", "--region", testRegion, "--group", "rsp-missing", "--server", "i-x:80", "--wait")
	if r.code != exitFailed {
		t.Fatalf("want exit 1\n%s", r)
	}
	if !strings.Contains(r.stdout, "failed") || !strings.Contains(r.stdout, "InvalidParameter") || !strings.Contains(r.stdout, "i-x:80:ecs") {
		t.Errorf("summary lacks the status, the code or the server not removed\n%s", r)
	}
	if !strings.Contains(r.stderr, "InvalidParameter") {
		t.Errorf("stderr lacks the code\n%s", r)
	}
}

func TestDrainTimesOutWithoutWorker(t *testing.T) {
	e := newEnv(t)
	e.createStreams()
	r := e.drainctl("", "drain", "--region", testRegion, "--group", "rsp-noworker", "--server", "i-x:80", "--wait", "--timeout", "300ms")
	if r.code != exitTimeout {
		t.Fatalf("want exit 3\n%s", r)
	}
	if !strings.Contains(r.stderr, "timed out") || !strings.Contains(r.stderr, "is drainworker running") {
		t.Errorf("stderr does not explain the timeout\n%s", r)
	}
}

func TestDrainServersFileFromStdinIsSplit(t *testing.T) {
	e := newEnv(t)
	e.startWorker()
	servers := e.group("rsp-big", 1500)
	var in strings.Builder
	in.WriteString("# servers of the scale-in\n\n")
	for i, s := range servers {
		fmt.Fprintf(&in, "  %s  # #%d\n", s, i)
		if i%100 == 0 {
			in.WriteString("\n")
		}
	}
	r := e.drainctl(in.String(), "drain", "--region", testRegion, "--group", "rsp-big", "--servers-file", "-",
		"--request-id", "big", "--wait")
	if r.code != exitOK {
		t.Fatalf("want exit 0\n%s", r)
	}
	for _, want := range []string{"request big-part-1: completed", "1000 of 1000", "request big-part-2: completed", "500 of 500",
		"2 of 2 requests completed; 1500 of 1500 backend servers removed"} {
		if !strings.Contains(r.stdout, want) {
			t.Errorf("stdout lacks %q\n%s", want, r)
		}
	}
	if n := e.left("rsp-big"); n != 0 {
		t.Errorf("%d servers left in the group, want 0", n)
	}
}

func TestUnreachableBroker(t *testing.T) {
	url := closedURL(t)
	for _, args := range [][]string{
		{"drain", "--region", testRegion, "--group", "rsp-x", "--server", "i-x:80", "--wait"},
		{"status"},
	} {
		r := runCLI(t, "", append([]string{"--nats-url", url}, args...)...)
		if r.code != exitFailed {
			t.Errorf("%s: want exit 1\n%s", args[0], r)
		}
		if !strings.Contains(r.stderr, url) || !strings.Contains(r.stderr, "is drainworker (embedded server) or nats-server running?") {
			t.Errorf("%s: stderr does not name the URL and what to check\n%s", args[0], r)
		}
	}
}

func TestNATSURLFromEnvironment(t *testing.T) {
	url := closedURL(t)
	t.Setenv("DRAIN_NATS_URL", url)
	r := runCLI(t, "", "failed")
	if r.code != exitFailed || !strings.Contains(r.stderr, url) {
		t.Errorf("want exit 1 naming DRAIN_NATS_URL's %s\n%s", url, r)
	}
}

func TestBadUsage(t *testing.T) {
	// Nothing listens here: bad usage must be found before connecting.
	url := closedURL(t)
	drain := []string{"drain", "--region", testRegion}
	for _, tc := range []struct {
		name string
		args []string
		want string
	}{
		{"missing group", append(drain, "--server", "i-a:80"), "--group is required"},
		{"missing region", []string{"drain", "--group", "rsp-a", "--server", "i-a:80"}, "--region is required"},
		{"bad region", []string{"drain", "--region", "Hangzhou", "--group", "rsp-a", "--server", "i-a:80"}, "--region"},
		{"bad server syntax", append(drain, "--group", "rsp-a", "--server", "i-a"), "--server"},
		{"port 0", append(drain, "--group", "rsp-a", "--server", "i-a:0"), "port"},
		{"bad type", append(drain, "--group", "rsp-a", "--server", "i-a:80:vm"), "type"},
		{"no servers", append(drain, "--group", "rsp-a"), "no backend servers"},
		{"bad servers file line", append(drain, "--group", "rsp-a", "--servers-file", "-"), "stdin line 2"},
		{"bad deadline", append(drain, "--group", "rsp-a", "--server", "i-a:80", "--deadline", "soon"), "--deadline"},
		{"past deadline", append(drain, "--group", "rsp-a", "--server", "i-a:80", "--deadline", "2001-01-01T00:00:00Z"), "in the past"},
		{"bad request id", append(drain, "--group", "rsp-a", "--server", "i-a:80", "--request-id", "a b"), "--request-id"},
		{"long reason", append(drain, "--group", "rsp-a", "--server", "i-a:80", "--reason", strings.Repeat("r", 300)), "reason"},
		{"zero timeout", append(drain, "--group", "rsp-a", "--server", "i-a:80", "--timeout", "0s"), "--timeout"},
		{"unknown flag", append(drain, "--group", "rsp-a", "--servers", "i-a:80"), "--servers"},
		{"unknown command", []string{"dran"}, "unknown command"},
		{"no command", nil, "missing command"},
		{"retry without id", []string{"retry"}, "REQUEST_ID"},
		{"watch bad status", []string{"watch", "--status", "done"}, "--status"},
		{"failed bad since", []string{"failed", "--since", "-1h"}, "--since"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := runCLI(t, "i-a:80\ni-b:http\n", append([]string{"--nats-url", url}, tc.args...)...)
			if r.code != exitUsage {
				t.Fatalf("want exit 2\n%s", r)
			}
			if !strings.Contains(r.stderr, tc.want) {
				t.Errorf("stderr lacks %q\n%s", tc.want, r)
			}
		})
	}
}

// Servers repeated on the command line and in the file are sent once, the
// way the worker folds them (an empty type is ecs), so counts match the
// outcome.
func TestReadServersFoldsRepeats(t *testing.T) {
	a, _ := newTestApp()
	a.stdin = strings.NewReader("i-b:80\ni-a:80:ecs # again\ni-a:80:eni\n")
	got, err := a.readServers(drainOptions{servers: []string{"i-a:80", "i-b:80:ecs", "i-a:81"}, serversFile: "-"})
	if err != nil {
		t.Fatal(err)
	}
	want := []messages.BackendServer{
		{ServerID: "i-a", Port: 80, Type: "ecs"}, {ServerID: "i-b", Port: 80, Type: "ecs"},
		{ServerID: "i-a", Port: 81, Type: "ecs"}, {ServerID: "i-a", Port: 80, Type: "eni"},
	}
	if !slices.Equal(got, want) {
		t.Errorf("servers %v, want %v", got, want)
	}
}
