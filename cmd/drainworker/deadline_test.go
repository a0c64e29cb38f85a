package main

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/slbdrain/slbdrain/internal/natstest"
	"github.com/slbdrain/slbdrain/messages"
	"github.com/slbdrain/slbdrain/worker"
)

// While the emulator refuses the worker's AccessKey for longer than the
// requests' deadlines, each request fails DeadlineExceeded within about a
// second of its deadline: the one that met the refusal, and those taken
// while the worker is not ready. Once the key works again, drains complete.
func TestCredentialsBrokenPastDeadlines(t *testing.T) {
	srv := natstest.StartProcess(t, natstest.ProcessOptions{})
	_, js := natstest.Connect(t, srv.URL())
	sim, simURL := simWithGroups(t, 0, 2, 10)
	createStreams(t, js, worker.DefaultConfig(), nil)
	events := followOutcomes(t, js)
	metrics := freeAddr(t)
	w := startBinary(t, credsEnv(), procArgs(srv.URL(), simURL, metrics, "--credential-retry", "1s")...)
	waitReady(t, w, metrics)

	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	publish := func(req messages.DrainRequest) {
		t.Helper()
		if _, err := messages.Publish(ctx, js, req); err != nil {
			t.Fatal(err)
		}
	}
	withDeadline := func(req messages.DrainRequest, in time.Duration) messages.DrainRequest {
		d := time.Now().Add(in).UTC().Truncate(time.Millisecond)
		req.Deadline = &d
		return req
	}
	publish(oneServerRequest("creds-ok-0", 0, 0))
	if o := events.waitIDs(t, 20*time.Second, "creds-ok-0")["creds-ok-0"].o; o.Status != messages.StatusCompleted {
		t.Fatalf("first drain: %s %+v", o.Status, o.Error)
	}

	sim.DisableAccessKey(testAK)
	// The first request meets the refusal...
	reqs := []messages.DrainRequest{withDeadline(oneServerRequest("creds-broken-0", 0, 1), 3*time.Second)}
	publish(reqs[0])
	pollUntil(t, 10*time.Second, "/readyz to say the credentials fail", func() bool {
		code, body := procReadyz(metrics)
		return code == http.StatusServiceUnavailable && strings.Contains(body, "credentials")
	})
	// ...the others arrive while the worker knows they fail: in both
	// groups, with deadlines 3s and 6s away.
	for i, in := range []time.Duration{3 * time.Second, 3 * time.Second, 3 * time.Second, 6 * time.Second, 6 * time.Second} {
		req := withDeadline(oneServerRequest(fmt.Sprintf("creds-broken-%d", i+1), i%2, 2+i), in)
		reqs = append(reqs, req)
		publish(req)
	}
	var ids []string
	for _, r := range reqs {
		ids = append(ids, r.RequestID)
	}
	got := events.waitIDs(t, 20*time.Second, ids...)
	for _, req := range reqs {
		o := got[req.RequestID].o
		if o.Status != messages.StatusFailed || o.Error == nil || o.Error.Code != messages.CodeDeadlineExceeded {
			t.Errorf("%s: %s %+v, want failed DeadlineExceeded", req.RequestID, o.Status, o.Error)
			continue
		}
		late := o.FinishedAt.Sub(*req.Deadline)
		t.Logf("FIGURE %s: failed DeadlineExceeded %s after its deadline (the event reached the test %s after it)",
			req.RequestID, late.Round(time.Millisecond), got[req.RequestID].at.Sub(*req.Deadline).Round(time.Millisecond))
		if late >= 2*time.Second {
			t.Errorf("%s: finished_at %s, %s after its deadline %s", req.RequestID, o.FinishedAt.Format(time.RFC3339Nano), late, req.Deadline.Format(time.RFC3339Nano))
		}
		if late < -10*time.Millisecond {
			t.Errorf("%s: failed DeadlineExceeded at %s, before its deadline %s", req.RequestID, o.FinishedAt.Format(time.RFC3339Nano), req.Deadline.Format(time.RFC3339Nano))
		}
	}

	// The key works again: the worker finds out, is ready, and drains.
	sim.SetAccessKey(testAK, testSecret)
	publish(oneServerRequest("creds-ok-1", 1, 9))
	if o := events.waitIDs(t, 30*time.Second, "creds-ok-1")["creds-ok-1"].o; o.Status != messages.StatusCompleted {
		t.Errorf("drain after the key works again: %s %+v", o.Status, o.Error)
	}
	pollUntil(t, 10*time.Second, "/readyz ready again", func() bool {
		code, _ := procReadyz(metrics)
		return code == http.StatusOK
	})
	waitStreamEmpty(t, js, 10*time.Second)
	assertExactlyOne(t, js, append(ids, "creds-ok-0", "creds-ok-1"), "")
}

// procReadyz is a worker's /readyz status code and body (0 when unreachable).
func procReadyz(metricsAddr string) (int, string) {
	resp, err := http.Get("http://" + metricsAddr + "/readyz")
	if err != nil {
		return 0, err.Error()
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(body)
}
