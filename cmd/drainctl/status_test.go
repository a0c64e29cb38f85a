package main

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

// readyzServer answers /readyz with code and body, as drainworker does.
func readyzServer(t *testing.T, code int, body string) string {
	t.Helper()
	srv := httptest.NewServer(http.HandlerFunc(func(rw http.ResponseWriter, req *http.Request) {
		if req.URL.Path != "/readyz" {
			http.NotFound(rw, req)
			return
		}
		rw.WriteHeader(code)
		fmt.Fprint(rw, body)
	}))
	t.Cleanup(srv.Close)
	return srv.URL
}

// With one --metrics-url per replica, status shows which one is active.
func TestStatusReplicaRoles(t *testing.T) {
	e := newEnv(t)
	e.createStreams()
	active := readyzServer(t, http.StatusOK, "ready (active)\n")
	standby := readyzServer(t, http.StatusOK, "ready (standby)\n")
	fresh := readyzServer(t, http.StatusOK, "ready (role unknown: no request delivered yet)\n")
	broken := readyzServer(t, http.StatusServiceUnavailable, "not ready: slb credentials failing: InvalidAccessKeyId.NotFound\nrole: standby\n")
	old := readyzServer(t, http.StatusOK, "ready\n")
	gone := closedURL(t)
	gone = "http://" + strings.TrimPrefix(gone, "nats://")

	// Repeated and comma separated mix.
	r := e.drainctl("", "status", "--metrics-url", active+","+standby, "--metrics-url", fresh,
		"--metrics-url", broken+", "+old, "--metrics-url", gone)
	if r.code != exitOK {
		t.Fatalf("want exit 0\n%s", r)
	}
	lines := map[string]string{}
	for line := range strings.Lines(r.stdout) {
		for _, u := range []string{active, standby, fresh, broken, old, gone} {
			if strings.Contains(line, u+"/readyz") {
				lines[u] = strings.TrimSpace(line)
			}
		}
	}
	for u, want := range map[string]string{
		active:  "/readyz: ready (active)",
		standby: "/readyz: ready (standby)",
		fresh:   "/readyz: ready (role unknown: no request delivered yet)",
		broken:  "/readyz: NOT READY (HTTP 503) not ready: slb credentials failing: InvalidAccessKeyId.NotFound; role: standby",
		old:     "/readyz: ready",
		gone:    "/readyz: unreachable",
	} {
		if !strings.HasPrefix(lines[u], "worker") || !strings.Contains(lines[u], want) {
			t.Errorf("line of %s is %q, want it to say %q\n%s", u, lines[u], want, r)
		}
	}
	if strings.Index(r.stdout, active) > strings.Index(r.stdout, gone) {
		t.Errorf("replicas not in the order given\n%s", r)
	}
	t.Logf("transcript:\n$ drainctl status --metrics-url ...\n%s", r.stdout)

	r = e.drainctl("", "status", "--json", "--metrics-url", active+","+broken+","+old)
	var rep statusReport
	if err := json.Unmarshal([]byte(r.stdout), &rep); err != nil || r.code != exitOK {
		t.Fatalf("status --json: %v\n%s", err, r)
	}
	if rep.Worker != nil || len(rep.Workers) != 3 {
		t.Fatalf("--json of 3 replicas: worker %+v, workers %+v; want 3 workers and no single worker", rep.Worker, rep.Workers)
	}
	for i, want := range []workerStatus{
		{URL: active + "/readyz", Ready: true, Status: 200, Role: "active", Detail: "ready (active)"},
		{URL: broken + "/readyz", Ready: false, Status: 503, Role: "standby", Detail: "not ready: slb credentials failing: InvalidAccessKeyId.NotFound"},
		{URL: old + "/readyz", Ready: true, Status: 200, Role: "", Detail: "ready"},
	} {
		if *rep.Workers[i] != want {
			t.Errorf("workers[%d] = %+v, want %+v", i, *rep.Workers[i], want)
		}
	}

	// One replica: also the single "worker" of the JSON as before.
	r = e.drainctl("", "status", "--json", "--metrics-url", fresh)
	rep = statusReport{}
	if err := json.Unmarshal([]byte(r.stdout), &rep); err != nil || r.code != exitOK {
		t.Fatalf("status --json: %v\n%s", err, r)
	}
	if rep.Worker == nil || rep.Worker.Role != "unknown" || !rep.Worker.Ready || len(rep.Workers) != 1 {
		t.Errorf("--json of one replica: worker %+v, workers %v; want it ready with role unknown", rep.Worker, rep.Workers)
	}
}

func TestParseReadyz(t *testing.T) {
	for _, tc := range []struct{ body, detail, role string }{
		{"ready (active)\n", "ready (active)", "active"},
		{"ready (standby)\n", "ready (standby)", "standby"},
		{"ready (role unknown: no request delivered yet)\n", "ready (role unknown: no request delivered yet)", "unknown"},
		{"not ready: consumer not bound\nrole: active\n", "not ready: consumer not bound", "active"},
		{"not ready: not running\nrole unknown: no request delivered yet\n", "not ready: not running", "unknown"},
		{"ready\n", "ready", ""},
		{"not ready: shutting down\n", "not ready: shutting down", ""},
		{"ready (something new)\n", "ready (something new)", ""},
	} {
		if detail, role := parseReadyz(tc.body); detail != tc.detail || role != tc.role {
			t.Errorf("parseReadyz(%q) = %q, %q; want %q, %q", tc.body, detail, role, tc.detail, tc.role)
		}
	}
}
