package main

import (
	"encoding/json"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/slbdrain/slbdrain/messages"
)

// squeeze is s with each run of white space one space: the summaries'
// columns, whatever their width.
func squeeze(s string) string { return strings.Join(strings.Fields(s), " ") }

// queued is the request published with sequence seq, as the worker would
// read it: its subject, its body and the body decoded.
func (e *env) queued(seq uint64) (string, string, messages.DrainRequest) {
	e.t.Helper()
	s, err := e.js.Stream(e.t.Context(), messages.RequestStream)
	if err != nil {
		e.t.Fatal(err)
	}
	msg, err := s.GetMsg(e.t.Context(), seq)
	if err != nil {
		e.t.Fatalf("request %d: %v", seq, err)
	}
	req, err := messages.Decode(msg.Subject, msg.Data)
	if err != nil {
		e.t.Fatalf("request %d %s: the worker would reject it: %v", seq, msg.Data, err)
	}
	if id := msg.Header.Get(messages.MsgIDHeader); id != req.RequestID {
		e.t.Errorf("request %d: Nats-Msg-Id %q, want its request_id %q", seq, id, req.RequestID)
	}
	return msg.Subject, string(msg.Data), req
}

func TestDrainGracefulIsVersion2(t *testing.T) {
	e := newEnv(t)
	e.createStreams()
	r := e.drainctl("", "drain", "--region", testRegion, "--group", "rsp-grace", "--server", "i-a:80", "--server", "i-b:8080:eni",
		"--request-id", "grace-1", "--graceful", "--drain-timeout", "90s", "--json")
	if r.code != exitOK {
		t.Fatalf("want exit 0\n%s", r)
	}
	var p published
	if err := json.Unmarshal([]byte(r.stdout), &p); err != nil || p.RequestID != "grace-1" || p.Servers != 2 || p.Subject != "slb.drain.request.cn-hangzhou.rsp-grace" {
		t.Errorf("--json: %+v (%v), want the published grace-1 of 2 servers\n%s", p, err, r)
	}
	_, body, req := e.queued(1)
	if req.Version != messages.Version2 || req.Action != messages.ActionDrain || req.Mode != messages.ModeGraceful ||
		req.DrainTimeout == nil || *req.DrainTimeout != 90*time.Second || req.DryRun || req.Force {
		t.Errorf("request %s: want version 2, drain, graceful, drain_timeout 90s", body)
	}
	if !strings.Contains(body, `"drain_timeout":"1m30s"`) || !strings.Contains(body, `"mode":"graceful"`) {
		t.Errorf("request %s lacks mode or drain_timeout", body)
	}

	// --dry-run and --force alone make version 2 too; a graceful drain
	// without --drain-timeout leaves it to the worker.
	r = e.drainctl("", "drain", "--region", testRegion, "--group", "rsp-grace", "--server", "i-a:80", "--request-id", "grace-2",
		"--graceful", "--dry-run", "--force")
	if r.code != exitOK || !strings.Contains(r.stdout, "published grace-2: 1 backend server to slb.drain.request.cn-hangzhou.rsp-grace") {
		t.Fatalf("want exit 0 and the published line\n%s", r)
	}
	_, body, req = e.queued(2)
	if req.Version != messages.Version2 || req.Mode != messages.ModeGraceful || req.DrainTimeout != nil || !req.DryRun || !req.Force ||
		strings.Contains(body, "drain_timeout") {
		t.Errorf("request %s: want version 2, graceful, dry run, force, no drain_timeout", body)
	}
	r = e.drainctl("", "drain", "--region", testRegion, "--group", "rsp-grace", "--server", "i-a:80", "--request-id", "grace-3", "--force")
	if _, body, req = e.queued(3); r.code != exitOK || req.Version != messages.Version2 || req.Mode != messages.ModeRemove || !req.Force {
		t.Errorf("--force alone: request %s, want version 2, mode remove, force\n%s", body, r)
	}
}

// A drain without any version-2 flag is the version-1 request it always
// was, byte for byte.
func TestDrainPlainIsVersion1(t *testing.T) {
	e := newEnv(t)
	e.createStreams()
	r := e.drainctl("", "drain", "--region", testRegion, "--group", "rsp-plain", "--server", "i-a:80", "--server", "i-b:8080:eni",
		"--request-id", "plain-1", "--reason", "scale-in", "--source", "hook/asg-42", "--deadline", "2999-11-27T10:00:00Z",
		"--graceful=false", "--dry-run=false", "--force=false")
	if r.code != exitOK {
		t.Fatalf("want exit 0\n%s", r)
	}
	subject, body, _ := e.queued(1)
	want := `{"version":1,"request_id":"plain-1","region_id":"cn-hangzhou","vserver_group_id":"rsp-plain",` +
		`"backend_servers":[{"server_id":"i-a","port":80,"type":"ecs"},{"server_id":"i-b","port":8080,"type":"eni"}],` +
		`"reason":"scale-in","source":"hook/asg-42","deadline":"2999-11-27T10:00:00Z"}`
	if body != want || subject != "slb.drain.request.cn-hangzhou.rsp-plain" {
		t.Errorf("request on %s:\n%s\nwant on slb.drain.request.cn-hangzhou.rsp-plain:\n%s", subject, body, want)
	}
}

func TestDrainV2BadUsage(t *testing.T) {
	url := closedURL(t) // bad usage is found before connecting
	drain := []string{"--nats-url", url, "drain", "--region", testRegion, "--group", "rsp-a", "--server", "i-a:80"}
	for _, tc := range []struct {
		name string
		args []string
		want string
	}{
		{"drain timeout without graceful", []string{"--drain-timeout", "30s"}, "--drain-timeout 30s: only with --graceful"},
		{"drain timeout with graceful=false", []string{"--graceful=false", "--drain-timeout", "0s"}, "only with --graceful"},
		{"drain timeout over an hour", []string{"--graceful", "--drain-timeout", "61m"}, "--drain-timeout 1h1m0s: must be 0s..1h0m0s"},
		{"negative drain timeout", []string{"--graceful", "--drain-timeout", "-1s"}, "must be 0s..1h"},
		{"drain timeout not a duration", []string{"--graceful", "--drain-timeout", "soon"}, "--drain-timeout"},
		{"dry run not a boolean", []string{"--dry-run=maybe"}, "--dry-run"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := runCLI(t, "", append(slices.Clone(drain), tc.args...)...)
			if r.code != exitUsage || !strings.Contains(r.stderr, tc.want) {
				t.Errorf("want exit 2 and %q\n%s", tc.want, r)
			}
		})
	}
}
