package main

import (
	"context"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/slbdrain/slbdrain/internal/natstest"
	"github.com/slbdrain/slbdrain/messages"
	"github.com/slbdrain/slbdrain/worker"
)

type fakeReady struct {
	err  error
	role worker.Role
}

func (f fakeReady) Ready() error      { return f.err }
func (f fakeReady) Role() worker.Role { return f.role }

// /readyz says the replica's role, ready or not.
func TestReadyzBody(t *testing.T) {
	creds := errors.New("slb credentials failing: InvalidAccessKeyId.NotFound")
	for _, tc := range []struct {
		src  fakeReady
		code int
		body string
	}{
		{fakeReady{nil, worker.RoleActive}, http.StatusOK, "ready (active)\n"},
		{fakeReady{nil, worker.RoleStandby}, http.StatusOK, "ready (standby)\n"},
		{fakeReady{nil, worker.RoleUnknown}, http.StatusOK, "ready (role unknown: no request delivered yet)\n"},
		{fakeReady{creds, worker.RoleActive}, http.StatusServiceUnavailable,
			"not ready: slb credentials failing: InvalidAccessKeyId.NotFound\nrole: active\n"},
		{fakeReady{errors.New("consumer not bound"), worker.RoleStandby}, http.StatusServiceUnavailable,
			"not ready: consumer not bound\nrole: standby\n"},
		{fakeReady{errors.New("not running"), worker.RoleUnknown}, http.StatusServiceUnavailable,
			"not ready: not running\nrole unknown: no request delivered yet\n"},
	} {
		rec := httptest.NewRecorder()
		readyzHandler(tc.src)(rec, httptest.NewRequest(http.MethodGet, "/readyz", nil))
		if rec.Code != tc.code || rec.Body.String() != tc.body {
			t.Errorf("ready %v, role %s: HTTP %d %q, want %d %q", tc.src.err, tc.src.role, rec.Code, rec.Body.String(), tc.code, tc.body)
		}
	}
}

// The binary's /readyz: role unknown until a request is delivered, then
// active (a lone replica holds the pin).
func TestReadyzSaysActiveAfterADelivery(t *testing.T) {
	srv := natstest.RunServer(t)
	_, js := natstest.Connect(t, srv.ClientURL())
	_, simURL := simWithGroups(t, 0, 1, 1)
	metrics := freeAddr(t)
	p := startBinary(t, []string{"ALIBABA_CLOUD_ACCESS_KEY_ID=" + testAK, "ALIBABA_CLOUD_ACCESS_KEY_SECRET=" + testSecret},
		"--nats-url", srv.ClientURL(), "--slb-endpoint", simURL, "--metrics-addr", metrics)
	waitReady(t, p, metrics)
	if code, body := askReadyz(t, metrics); code != http.StatusOK || body != "ready (role unknown: no request delivered yet)\n" {
		t.Errorf("before any request: HTTP %d %q, want 200 and the role unknown", code, body)
	}

	events := countEvents(t, js)
	if _, err := messages.Publish(context.Background(), js, messages.DrainRequest{Version: 1, RequestID: "readyz-1",
		RegionID: region, VServerGroupID: "rsp-g0", BackendServers: []messages.BackendServer{{ServerID: "i-g0-000", Port: 80}}}); err != nil {
		t.Fatal(err)
	}
	events.waitFor(t, 20*time.Second, "the event of readyz-1", func(c map[string]int) bool { return c["readyz-1"] == 1 })
	// The worker learns that its pin is the consumer's from the consumer's
	// info, polled every few seconds: poll /readyz, with a deadline.
	var code int
	var body string
	for deadline := time.Now().Add(20 * time.Second); time.Now().Before(deadline); {
		if code, body = askReadyz(t, metrics); body == "ready (active)\n" {
			return
		}
		time.Sleep(50 * time.Millisecond) // polling state: no event to wait on
	}
	t.Errorf("after a delivery: HTTP %d %q, want 200 %q", code, body, "ready (active)\n")
}

func askReadyz(t *testing.T, addr string) (int, string) {
	t.Helper()
	resp, err := http.Get("http://" + addr + "/readyz")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	if ct := resp.Header.Get("Content-Type"); !strings.HasPrefix(ct, "text/plain") {
		t.Errorf("/readyz Content-Type %q, want text/plain", ct)
	}
	return resp.StatusCode, string(b)
}
