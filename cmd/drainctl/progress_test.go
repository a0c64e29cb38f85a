package main

import (
	"context"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/slbdrain/slbdrain/internal/syncbuf"
	"github.com/slbdrain/slbdrain/messages"
)

func TestWatchStatusPlannedUsage(t *testing.T) {
	r := runCLI(t, "", "--nats-url", closedURL(t), "watch", "--status", "done")
	if r.code != exitUsage || !strings.Contains(r.stderr, "one of completed, failed, rejected, planned") {
		t.Errorf("want exit 2 naming planned among the statuses\n%s", r)
	}
}

// A dry run ends planned: exit 0 when the guard allows it, 1 when it would
// refuse; watch --status planned shows them.
func TestDryRunPlannedAndWatch(t *testing.T) {
	e := newEnv(t)
	e.startWorker()
	servers := e.group("rsp-plan", 2)
	r := e.drainctl("", "drain", "--region", testRegion, "--group", "rsp-plan", "--server", servers[0], "--request-id", "plan-ok",
		"--dry-run", "--wait")
	if r.code != exitOK {
		t.Fatalf("dry run the guard allows: want exit 0\n%s", r)
	}
	for _, want := range []string{"request plan-ok: planned", "drain remove, dry run", "would", "remove 1 backend server (a dry run: nothing was changed)",
		"nothing refuses it", "rsp-plan on lb-rsp-plan: i-plan-0000:80:ecs weight 100"} {
		if !strings.Contains(r.stdout, want) {
			t.Errorf("stdout lacks %q\n%s", want, r)
		}
	}
	r = e.drainctl("", append([]string{"drain", "--region", testRegion, "--group", "rsp-plan", "--request-id", "plan-refused",
		"--dry-run", "--wait"}, serverFlags(servers)...)...)
	if r.code != exitFailed || !strings.Contains(r.stdout, "verdict") || !strings.Contains(r.stdout, "refused, GuardRefused: ") ||
		!strings.Contains(r.stderr, "request plan-refused planned (GuardRefused)") {
		t.Fatalf("dry run the guard refuses: want exit 1 and the verdict\n%s", r)
	}
	if n := e.left("rsp-plan"); n != 2 {
		t.Errorf("dry runs changed the group: %d servers, want 2", n)
	}
	t.Logf("transcript:\n$ drainctl drain --region %s --group rsp-plan --server ... --dry-run --wait\n%s%s", testRegion, r.stderr, r.stdout)

	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	out := newLineWriter()
	code := make(chan int, 1)
	go func() {
		code <- run(ctx, []string{"--nats-url", e.url, "watch", "--status", "planned", "--since", "1h"}, strings.NewReader(""), out, &syncbuf.Buffer{})
	}()
	line := waitLine(t, out, "plan-refused", func(l string) bool {
		if strings.Contains(l, "completed") || strings.Contains(l, " failed ") {
			t.Errorf("watch --status planned printed %q", l)
		}
		return strings.Contains(l, "plan-refused")
	})
	for _, want := range []string{"planned", "cn-hangzhou/rsp-plan", "2 servers", "drain remove, dry run, 1 group", "GuardRefused"} {
		if !strings.Contains(line, want) {
			t.Errorf("line %q lacks %q", line, want)
		}
	}
	cancel()
	if c := <-code; c != exitOK {
		t.Errorf("watch ended with exit %d on interrupt, want 0", c)
	}
}

// The phases of a graceful drain's progress notes, as drain --wait shows
// them when its stderr is not a terminal.
func TestProgressPhases(t *testing.T) {
	now := time.Date(2026, 11, 27, 10, 0, 0, 0, time.UTC)
	for _, tc := range []struct {
		p    messages.Progress
		want string
	}{
		{messages.Progress{Phase: messages.PhaseWeightZero, Total: 2}, "weight 0"},
		{messages.Progress{Phase: messages.PhaseWaiting, Total: 2, Until: now.Add(30 * time.Second)}, "waiting until 10:00:30 (30s left)"},
		{messages.Progress{Phase: messages.PhaseWaiting, Total: 2, Until: now.Add(1500 * time.Millisecond)}, "waiting until 10:00:01 (2s left)"},
		{messages.Progress{Phase: messages.PhaseWaiting, Total: 2, Until: now.Add(-time.Second)}, "waiting until 09:59:59 (0s left)"},
		{messages.Progress{Phase: messages.PhaseRemoved, Removed: 1, Total: 2}, "removed 1/2"},
	} {
		if got := phaseText(tc.p, now); got != tc.want {
			t.Errorf("phaseText(%+v) = %q, want %q", tc.p, got, tc.want)
		}
	}

	stderr := newLineWriter()
	a := &app{stdout: &syncbuf.Buffer{}, stderr: stderr, now: func() time.Time { return now }}
	w := &waiter{a: a, progress: make(chan *nats.Msg, 8), events: make(chan messages.Outcome, 1), errc: make(chan error, 1)}
	req := messages.DrainRequest{Version: messages.Version2, RequestID: "ph-1", RegionID: testRegion, VServerGroupID: "rsp-ph",
		BackendServers: []messages.BackendServer{{ServerID: "i-a", Port: 80, Type: "ecs"}, {ServerID: "i-b", Port: 80, Type: "ecs"}},
		Action:         messages.ActionDrain, Mode: messages.ModeGraceful}
	ctx, cancel := context.WithTimeout(context.Background(), waitLimit)
	defer cancel()
	done := make(chan error, 1)
	go func() {
		done <- w.wait(ctx, []part{{req: req, ack: &jetstream.PubAck{Sequence: 4}}}, waitLimit, false)
	}()
	note := func(p messages.Progress) {
		p.RequestID = "ph-1"
		data, err := json.Marshal(p)
		if err != nil {
			t.Fatal(err)
		}
		w.progress <- &nats.Msg{Data: data}
	}
	for _, step := range []struct {
		p    messages.Progress
		want string
	}{
		{messages.Progress{Phase: messages.PhaseWeightZero, Total: 2}, "draining cn-hangzhou/rsp-ph: weight 0"},
		{messages.Progress{Phase: messages.PhaseWaiting, Total: 2, Until: now.Add(45 * time.Second)}, "draining cn-hangzhou/rsp-ph: waiting until 10:00:45 (45s left)"},
		{messages.Progress{Phase: messages.PhaseRemoved, Removed: 2, Total: 2}, "draining cn-hangzhou/rsp-ph: removed 2/2"},
	} {
		note(step.p)
		if line := waitLine(t, stderr, step.want, func(string) bool { return true }); line != step.want {
			t.Errorf("progress line %q, want %q", line, step.want)
		}
	}
	o := completedOutcome("ph-1", "rsp-ph", 4, req.BackendServers...)
	o.Version, o.Action, o.Mode = messages.Version2, messages.ActionDrain, messages.ModeGraceful
	w.events <- o
	select {
	case err := <-done:
		if err != nil {
			t.Errorf("wait: %v, want the completed outcome", err)
		}
	case <-ctx.Done():
		t.Fatal("wait did not end on the outcome")
	}
	if out := a.stdout.(*syncbuf.Buffer).String(); !strings.Contains(out, "request ph-1: completed") || !strings.Contains(out, "drain graceful") {
		t.Errorf("stdout:\n%s\nwant the completed graceful drain", out)
	}
}
