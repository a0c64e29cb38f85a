package retry

import (
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/aliyun/alibaba-cloud-sdk-go/services/slb"
)

// These tests make real RemoveVServerGroupBackendServers calls with the SDK
// (AutoRetry off, as the worker does) against a loopback server, so that
// Classify sees exactly what the SDK returns, not what we think it returns.

// callSLB makes one call to endpoint (host:port, plain HTTP) with STS
// credentials, so that the signed URL holds a security token.
func callSLB(t *testing.T, endpoint string, readTimeout time.Duration) error {
	t.Helper()
	client, err := slb.NewClientWithStsToken("cn-hangzhou", "STS.ak", "the-secret", secretToken)
	if err != nil {
		t.Fatal(err)
	}
	client.GetConfig().WithAutoRetry(false)
	req := slb.CreateRemoveVServerGroupBackendServersRequest()
	req.SetScheme("http")
	req.SetDomain(endpoint)
	req.SetConnectTimeout(2 * time.Second)
	req.SetReadTimeout(readTimeout)
	req.VServerGroupId = "rsp-1"
	req.BackendServers = `[{"ServerId":"i-1","Port":"80","Type":"ecs"}]`
	_, err = client.RemoveVServerGroupBackendServers(req)
	return err
}

func serve(t *testing.T, h http.HandlerFunc) string {
	t.Helper()
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	return strings.TrimPrefix(srv.URL, "http://")
}

func reply(status int, body string) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(status)
		w.Write([]byte(body))
	}
}

func TestClassifySDKErrors(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	closedPort := ln.Addr().String()
	ln.Close()

	tests := []struct {
		name    string
		handler http.HandlerFunc // nil: call closedPort
		class   Class
		code    string
		status  int
		reqID   string
	}{
		{name: "throttled", handler: reply(400, `{"Code":"Throttling.User","Message":"Request was denied due to user flow control.","RequestId":"r-thr"}`),
			class: Throttled, code: "Throttling.User", status: 400, reqID: "r-thr"},
		{name: "service unavailable", handler: reply(503, `{"Code":"ServiceUnavailable","Message":"The request has failed due to a temporary failure of the server.","RequestId":"r-503"}`),
			class: Transient, code: "ServiceUnavailable", status: 503, reqID: "r-503"},
		{name: "group missing", handler: reply(404, `{"Code":"InvalidParameter","Message":"The specified VServerGroupId does not exist.","RequestId":"r-404"}`),
			class: Permanent, code: "InvalidParameter", status: 404, reqID: "r-404"},
		{name: "bad key", handler: reply(404, `{"Code":"InvalidAccessKeyId.NotFound","Message":"Specified access key is not found.","RequestId":"r-ak"}`),
			class: Credentials, code: "InvalidAccessKeyId.NotFound", status: 404, reqID: "r-ak"},
		{name: "gateway page", handler: reply(502, "<html><body>502 Bad Gateway</body></html>"),
			class: Transient, code: "HTTP502", status: 502},
		{name: "200 with broken body", handler: reply(200, `{"RequestId": "r-ok", "VServerGroupId": `),
			class: Transient, code: "SDK.JsonUnmarshalError"},
		{name: "connection dropped", handler: func(w http.ResponseWriter, r *http.Request) {
			conn, _, err := w.(http.Hijacker).Hijack()
			if err == nil {
				conn.Close()
			}
		}, class: Transient, code: CodeConnection},
		{name: "no answer in time", handler: func(w http.ResponseWriter, r *http.Request) {
			<-r.Context().Done() // the client gives up and closes the connection
		}, class: Transient, code: CodeTimeout},
		{name: "connection refused", class: Transient, code: CodeConnection},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			endpoint := closedPort
			if tc.handler != nil {
				endpoint = serve(t, tc.handler)
			}
			err := callSLB(t, endpoint, 200*time.Millisecond)
			if err == nil {
				t.Fatal("call succeeded, want an error")
			}
			if got := Classify(err); got != tc.class {
				t.Errorf("Classify(%T %v) = %v, want %v", err, err, got, tc.class)
			}
			if got := Code(err); got != tc.code {
				t.Errorf("Code = %q, want %q", got, tc.code)
			}
			if got := HTTPStatus(err); got != tc.status {
				t.Errorf("HTTPStatus = %d, want %d", got, tc.status)
			}
			if got := RequestID(err); got != tc.reqID {
				t.Errorf("RequestID = %q, want %q", got, tc.reqID)
			}
			msg := Message(err)
			if msg == "" {
				t.Error("Message is empty")
			}
			if strings.Contains(msg, secretToken) || strings.Contains(msg, "the-secret") {
				t.Errorf("Message leaks a secret: %q", msg)
			}
			if tc.handler == nil && !strings.Contains(err.Error(), secretToken) {
				// Guards the test: the raw error must hold the token, else the
				// check above proves nothing.
				t.Errorf("raw error no longer holds the token; the redaction check is vacuous: %v", err)
			}
		})
	}
}

// SignatureDoesNotMatch quotes the server's string to sign, which holds the
// security token.
func TestSDKSignatureMismatchRedacted(t *testing.T) {
	var query string
	endpoint := serve(t, func(w http.ResponseWriter, r *http.Request) {
		query = r.URL.RawQuery
		body := `{"Code":"SignatureDoesNotMatch","RequestId":"r-sig","Message":"Specified signature is not matched with our calculation. server string to sign is:POST&%2F&` +
			strings.ReplaceAll(strings.ReplaceAll(query, "&", "%26"), "=", "%3D") + `"}`
		reply(400, body)(w, r)
	})
	err := callSLB(t, endpoint, 2*time.Second)
	if !strings.Contains(query, "SecurityToken="+secretToken) {
		t.Fatalf("the signed query does not hold the token; the test is vacuous: %q", query)
	}
	if got := Classify(err); got != Credentials {
		t.Errorf("Classify = %v, want credentials", got)
	}
	msg := Message(err)
	if strings.Contains(msg, secretToken) {
		t.Errorf("Message leaks the token: %q", msg)
	}
	if !strings.HasPrefix(msg, "Specified signature is not matched") {
		t.Errorf("Message = %q, want Alibaba's message", msg)
	}
}
