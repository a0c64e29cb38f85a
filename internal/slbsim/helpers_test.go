package slbsim

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	sdkerrors "github.com/aliyun/alibaba-cloud-sdk-go/sdk/errors"
	"github.com/aliyun/alibaba-cloud-sdk-go/services/slb"
)

const (
	testAK     = "test-ak"
	testSecret = "test-secret"
	testRegion = "cn-hangzhou"
	waitLimit  = 10 * time.Second
)

type harness struct {
	t    *testing.T
	sim  *Sim
	srv  *Server
	ends chan Call // every answered call, from OnCallEnd
}

// start serves a Sim configured by cfg (test-ak/test-secret unless cfg names
// keys) and closes it when the test ends.
func start(t *testing.T, cfg Config) *harness {
	t.Helper()
	if cfg.AccessKeys == nil {
		cfg.AccessKeys = map[string]string{testAK: testSecret}
	}
	h := &harness{t: t, ends: make(chan Call, 4096)}
	next := cfg.OnCallEnd
	cfg.OnCallEnd = func(c Call) {
		if next != nil {
			next(c)
		}
		select {
		case h.ends <- c:
		default:
		}
	}
	sim, srv, err := Start(cfg)
	if err != nil {
		t.Fatalf("start sim: %v", err)
	}
	t.Cleanup(func() {
		if err := srv.Close(); err != nil {
			t.Errorf("close sim: %v", err)
		}
	})
	h.sim, h.srv = sim, srv
	return h
}

// client is a real SDK client for the sim, signed with the test key.
func (h *harness) client() *slb.Client {
	return h.clientWith(testAK, testSecret, 5*time.Second)
}

func (h *harness) clientWith(ak, secret string, timeout time.Duration) *slb.Client {
	h.t.Helper()
	c, err := NewClient(h.srv.URL, testRegion, ak, secret, timeout)
	if err != nil {
		h.t.Fatalf("new client: %v", err)
	}
	return c
}

// waitCall returns the next answered call, or fails the test at the deadline.
func (h *harness) waitCall() Call {
	h.t.Helper()
	select {
	case c := <-h.ends:
		return c
	case <-time.After(waitLimit):
		h.t.Fatalf("no call answered within %v", waitLimit)
		return Call{}
	}
}

// servers makes a BackendServers value from "id:port" or "id:port:type"
// items, with Port as a string as the worker sends it.
func servers(items ...string) string {
	type entry struct {
		ServerId string
		Port     string
		Type     string
	}
	list := make([]entry, 0, len(items))
	for _, it := range items {
		parts := strings.Split(it, ":")
		e := entry{ServerId: parts[0], Port: parts[1], Type: "ecs"}
		if len(parts) > 2 {
			e.Type = parts[2]
		}
		list = append(list, e)
	}
	b, _ := json.Marshal(list)
	return string(b)
}

func removeReq(region, group, backends string) *slb.RemoveVServerGroupBackendServersRequest {
	req := slb.CreateRemoveVServerGroupBackendServersRequest()
	req.RegionId = region
	req.VServerGroupId = group
	req.BackendServers = backends
	return req
}

func remove(c *slb.Client, group, backends string) (*slb.RemoveVServerGroupBackendServersResponse, error) {
	return c.RemoveVServerGroupBackendServers(removeReq(testRegion, group, backends))
}

// serverError asserts err is the SDK's ServerError with code and status.
func serverError(t *testing.T, err error, status int, code string) *sdkerrors.ServerError {
	t.Helper()
	var se *sdkerrors.ServerError
	if !errors.As(err, &se) {
		t.Fatalf("want *errors.ServerError %d %s, got %T: %v", status, code, err, err)
	}
	if se.HttpStatus() != status || se.ErrorCode() != code {
		t.Fatalf("want %d %s, got %d %s (%s)", status, code, se.HttpStatus(), se.ErrorCode(), se.Message())
	}
	if !requestIDPattern.MatchString(se.RequestId()) {
		t.Fatalf("RequestId %q is not an upper-case UUID", se.RequestId())
	}
	return se
}

func backendIDs(bs []Backend) string {
	ids := make([]string, len(bs))
	for i, b := range bs {
		ids[i] = b.ServerID + ":" + strconv.Itoa(b.Port)
	}
	return strings.Join(ids, ",")
}

func seedGroup(sim *Sim, group string, n int) {
	bs := make([]Backend, n)
	for i := range bs {
		bs[i] = Backend{ServerID: fmt.Sprintf("i-%d", i+1), Port: 80}
	}
	sim.CreateGroup(testRegion, group, bs)
}

// rawParams are the common parameters of a hand-made call, unsigned.
func rawParams(action string, extra map[string]string) map[string]string {
	p := map[string]string{
		"Action":           action,
		"Version":          apiVersion,
		"Format":           "JSON",
		"AccessKeyId":      testAK,
		"SignatureMethod":  "HMAC-SHA1",
		"SignatureVersion": "1.0",
		"SignatureNonce":   newRequestID(),
		"Timestamp":        time.Now().UTC().Format(timestampLayout),
		"RegionId":         testRegion,
	}
	for k, v := range extra {
		p[k] = v
	}
	return p
}

type rawAnswer struct {
	status int
	header http.Header
	body   errorBody
	raw    string
}

// post sends params as the SDK does (POST, in the query) or in a form body.
func (h *harness) post(params map[string]string, inBody bool) rawAnswer {
	h.t.Helper()
	v := url.Values{}
	for k, val := range params {
		v.Set(k, val)
	}
	var req *http.Request
	var err error
	if inBody {
		req, err = http.NewRequest(http.MethodPost, h.srv.URL+"/", strings.NewReader(v.Encode()))
	} else {
		req, err = http.NewRequest(http.MethodPost, h.srv.URL+"/?"+v.Encode(), nil)
	}
	if err != nil {
		h.t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		h.t.Fatalf("post: %v", err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		h.t.Fatalf("read answer: %v", err)
	}
	a := rawAnswer{status: resp.StatusCode, header: resp.Header, raw: string(b)}
	if err := json.Unmarshal(b, &a.body); err != nil {
		h.t.Fatalf("answer %q is not JSON: %v", b, err)
	}
	return a
}

// fakeClock is a Clock tests move by hand; it starts at the real time so the
// SDK's Timestamps stay within the accepted window.
type fakeClock struct {
	mu  sync.Mutex
	now time.Time
}

func newFakeClock() *fakeClock { return &fakeClock{now: time.Now()} }

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *fakeClock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
}
