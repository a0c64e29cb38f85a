package retry

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/url"
	"os"
	"syscall"
	"testing"

	sdkerrors "github.com/aliyun/alibaba-cloud-sdk-go/sdk/errors"
)

// apiError builds the error the SDK returns for an API answer with a JSON
// body, with the SDK's own constructor (as responses.Unmarshal does).
func apiError(status int, code string) error {
	body := fmt.Sprintf(`{"Code":%q,"Message":"message of %s","RequestId":"req-%s","HostId":"slb.aliyuncs.com"}`, code, code, code)
	return sdkerrors.NewServerError(status, body, "")
}

// timeoutError is a net.Error that timed out, as net/http returns for a
// client timeout.
type timeoutError struct{}

func (timeoutError) Error() string   { return "i/o timeout" }
func (timeoutError) Timeout() bool   { return true }
func (timeoutError) Temporary() bool { return true }

// refusedDialError dials a loopback port nothing listens on and returns the
// real error: a *net.OpError around ECONNREFUSED.
func refusedDialError(t testing.TB) error {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	conn, err := net.Dial("tcp", addr)
	if err == nil {
		conn.Close()
		t.Fatalf("dial %s: connected to a closed port", addr)
	}
	if !errors.Is(err, syscall.ECONNREFUSED) {
		t.Fatalf("dial %s: got %v, want ECONNREFUSED", addr, err)
	}
	return err
}

type classifyCase struct {
	name   string
	err    error
	class  Class
	code   string
	status int
	reqID  string
}

func classifyCases(t testing.TB) []classifyCase {
	row := func(status int, code string, class Class) classifyCase {
		return classifyCase{name: code, err: apiError(status, code), class: class, code: code, status: status, reqID: "req-" + code}
	}
	throttling := apiError(400, "Throttling.User")
	refused := refusedDialError(t)
	postURL := "http://127.0.0.1:1/?Action=RemoveVServerGroupBackendServers"
	var syntaxErr *json.SyntaxError
	jsonErr := json.Unmarshal([]byte("{not json"), &struct{}{})
	if !errors.As(jsonErr, &syntaxErr) {
		t.Fatalf("json error %T", jsonErr)
	}
	return []classifyCase{
		// design.md's table, one row per code.
		row(400, "Throttling", Throttled),
		row(400, "Throttling.User", Throttled),
		row(400, "Throttling.Api", Throttled),
		row(400, "Rejected.Throttling", Throttled),
		row(400, "Throttling.Resource", Throttled), // unlisted, contains Throttling
		row(400, "Request.Throttled", Throttled),   // unlisted, contains Throttled
		row(503, "ServiceUnavailable", Transient),
		row(500, "InternalError", Transient),
		row(500, "UnknownError", Transient), // by its 5xx status
		row(400, "UnknownError", Permanent), // design.md: everything else
		row(449, "SystemBusy", Transient),
		row(400, "OperationBusy", Transient),
		row(400, "ServiceIsConfiguring", Transient),
		row(400, "VServerGroupProcessing", Transient),
		row(400, "ProcessingSameRequest", Transient),
		row(400, "BackendServer.configuring", Transient),
		row(400, "ServiceIsStopping", Transient),
		row(409, "OperationConflict", Transient),
		row(502, "SomethingNew", Transient), // any 5xx
		row(504, "InvalidFooBar", Transient),
		row(404, "InvalidAccessKeyId.NotFound", Credentials),
		row(400, "InvalidAccessKeyId.Inactive", Credentials),
		row(404, "InvalidAccessKeyId", Credentials),
		row(400, "InvalidAccessKeyId.Other", Credentials), // prefix
		row(400, "InvalidAccessKeySecret", Credentials),
		row(400, "SignatureDoesNotMatch", Credentials),
		row(400, "IncompleteSignature", Credentials),
		row(400, "InvalidSecurityToken", Credentials),
		row(400, "MissingSecurityToken", Credentials),
		row(400, "InvalidSecurityToken.Expired", Credentials),
		row(400, "InvalidSecurityToken.Malformed", Credentials),
		row(400, "InvalidSecurityToken.MismatchWithAccessKey", Credentials),
		row(403, "Forbidden.AccessKeyDisabled", Credentials),
		row(404, "InvalidParameter", Permanent),
		row(404, "InvalidServerId.NotFound", Permanent),
		row(400, "BackendServersMalformed", Permanent),
		row(403, "Forbidden", Permanent),
		row(403, "Forbidden.RAM", Permanent),
		row(403, "Forbidden.NoPermission", Permanent), // prefix
		row(400, "TooManyBackendServers", Permanent),
		row(400, "SignatureNonceUsed", Permanent),
		row(400, "InvalidFooBar", Permanent), // unknown code, 4xx
		row(400, "throttlingIsNotACodeWeKnow", Throttled),
		row(400, "backendserver.Configuring", Permanent), // codes are case-sensitive

		// Answers without a code: the body is not JSON (a proxy, a load balancer).
		{name: "non-JSON 502", err: sdkerrors.NewServerError(502, "<html><body>502 Bad Gateway</body></html>", ""), class: Transient, code: "HTTP502", status: 502},
		{name: "empty 503", err: sdkerrors.NewServerError(503, "", ""), class: Transient, code: "HTTP503", status: 503},
		{name: "non-JSON 429", err: sdkerrors.NewServerError(429, "Too Many Requests", ""), class: Throttled, code: "HTTP429", status: 429},
		{name: "non-JSON 400", err: sdkerrors.NewServerError(400, "Bad Request", ""), class: Permanent, code: "HTTP400", status: 400},
		{name: "non-JSON 404", err: sdkerrors.NewServerError(404, "Not Found", ""), class: Permanent, code: "HTTP404", status: 404},
		{name: "JSON without code 500", err: sdkerrors.NewServerError(500, `{"RequestId":"r-1"}`, ""), class: Transient, code: "HTTP500", status: 500, reqID: "r-1"},

		// Answers to the credential providers (STS, ECS metadata) carry a comment.
		{name: "STS denies", err: sdkerrors.NewServerError(403, `{"Code":"NoPermission","RequestId":"sts-1"}`, "refresh session token failed"), class: Credentials, code: "NoPermission", status: 403, reqID: "sts-1"},
		{name: "STS unavailable", err: sdkerrors.NewServerError(503, `{"Code":"ServiceUnavailable"}`, "refresh session token failed"), class: Transient, code: "ServiceUnavailable", status: 503},
		{name: "STS throttled", err: sdkerrors.NewServerError(400, `{"Code":"Throttling.User"}`, "refresh temp ak failed"), class: Throttled, code: "Throttling.User", status: 400},

		// SDK client-side errors.
		{name: "SDK timeout around a net error", err: sdkerrors.NewClientError(sdkerrors.TimeoutErrorCode, "timed out", &url.Error{Op: "Post", URL: postURL, Err: timeoutError{}}), class: Transient, code: "SDK.TimeoutError"},
		{name: "SDK timeout around a string", err: sdkerrors.NewClientError(sdkerrors.TimeoutErrorCode, "timed out", errors.New("Client.Timeout exceeded")), class: Transient, code: "SDK.TimeoutError"},
		{name: "SDK JSON unmarshal of a 200", err: sdkerrors.NewClientError(sdkerrors.JsonUnmarshalErrorCode, sdkerrors.JsonUnmarshalErrorMessage, jsonErr), class: Transient, code: "SDK.JsonUnmarshalError"},
		{name: "SDK empty access key id", err: sdkerrors.NewClientError(sdkerrors.InvalidParamErrorCode, "The access key id is empty", nil), class: Credentials, code: "SDK.InvalidParam"},
		{name: "SDK unsupported credential", err: sdkerrors.NewClientError(sdkerrors.UnsupportedCredentialErrorCode, "nope", nil), class: Credentials, code: "SDK.UnsupportedCredential"},
		{name: "SDK missing param", err: sdkerrors.NewClientError(sdkerrors.MissingParamErrorCode, "missing", nil), class: Permanent, code: "SDK.MissingParam"},
		{name: "SDK unknown request type", err: sdkerrors.NewClientError(sdkerrors.UnknownRequestTypeErrorCode, "?", nil), class: Permanent, code: "SDK.UnknownRequestType"},
		{name: "SDK endpoint not resolved", err: sdkerrors.NewClientError(sdkerrors.CanNotResolveEndpointErrorCode, "no endpoint", errors.New("no rule")), class: Permanent, code: "SDK.CanNotResolveEndpoint"},
		{name: "SDK endpoint lookup refused", err: sdkerrors.NewClientError(sdkerrors.CanNotResolveEndpointErrorCode, "no endpoint", refused), class: Transient, code: "SDK.CanNotResolveEndpoint"},
		{name: "SDK server unreachable (other SDKs)", err: sdkerrors.NewClientError("SDK.ServerUnreachable", "unreachable", nil), class: Transient, code: "SDK.ServerUnreachable"},
		{name: "SDK default code", err: sdkerrors.NewClientError("", "something", nil), class: Transient, code: "SDK.ClientError"},

		// Wrapping.
		{name: "wrapped", err: fmt.Errorf("call rsp-1: %w", throttling), class: Throttled, code: "Throttling.User", status: 400, reqID: "req-Throttling.User"},
		{name: "wrapped twice", err: fmt.Errorf("group rsp-1: %w", fmt.Errorf("call 3: %w", apiError(404, "InvalidParameter"))), class: Permanent, code: "InvalidParameter", status: 404, reqID: "req-InvalidParameter"},
		{name: "joined", err: errors.Join(errors.New("context"), apiError(503, "ServiceUnavailable")), class: Transient, code: "ServiceUnavailable", status: 503, reqID: "req-ServiceUnavailable"},
		{name: "nil", err: nil, class: Permanent, code: ""},

		// No answer: network and timeouts.
		{name: "dial refused", err: refused, class: Transient, code: CodeConnection},
		{name: "url error around refused dial", err: fmt.Errorf("call rsp-1: %w", &url.Error{Op: "Post", URL: postURL, Err: refused}), class: Transient, code: CodeConnection},
		{name: "connection reset", err: &net.OpError{Op: "read", Net: "tcp", Err: os.NewSyscallError("read", syscall.ECONNRESET)}, class: Transient, code: CodeConnection},
		{name: "broken pipe", err: &net.OpError{Op: "write", Net: "tcp", Err: os.NewSyscallError("write", syscall.EPIPE)}, class: Transient, code: CodeConnection},
		{name: "EOF", err: &url.Error{Op: "Post", URL: postURL, Err: io.EOF}, class: Transient, code: CodeConnection},
		{name: "unexpected EOF", err: io.ErrUnexpectedEOF, class: Transient, code: CodeConnection},
		{name: "DNS", err: &url.Error{Op: "Post", URL: postURL, Err: &net.OpError{Op: "dial", Net: "tcp", Err: &net.DNSError{Err: "no such host", Name: "slb.example", IsNotFound: true}}}, class: Transient, code: CodeConnection},
		{name: "other HTTP exchange failure", err: &url.Error{Op: "Post", URL: postURL, Err: errors.New("net/http: HTTP/1.x transport connection broken: malformed HTTP response")}, class: Transient, code: CodeConnection},
		{name: "net timeout", err: &url.Error{Op: "Post", URL: postURL, Err: timeoutError{}}, class: Transient, code: CodeTimeout},
		{name: "context deadline", err: context.DeadlineExceeded, class: Transient, code: CodeTimeout},
		{name: "os deadline", err: fmt.Errorf("read: %w", os.ErrDeadlineExceeded), class: Transient, code: CodeTimeout},
		{name: "canceled", err: fmt.Errorf("call: %w", context.Canceled), class: Transient, code: CodeCanceled},
		{name: "TLS unknown authority", err: &url.Error{Op: "Post", URL: "https://slb.aliyuncs.com/", Err: &tls.CertificateVerificationError{Err: x509.UnknownAuthorityError{}}}, class: Permanent, code: CodeTLSCertificate},
		{name: "TLS hostname", err: &url.Error{Op: "Post", URL: "https://slb.aliyuncs.com/", Err: x509.HostnameError{Host: "slb.aliyuncs.com"}}, class: Permanent, code: CodeTLSCertificate},
		{name: "unknown non-API error", err: errors.New("something odd"), class: Transient, code: CodeUnknown},

		// Callers' verdicts.
		{name: "WithClass permanent", err: WithClass(errors.New("bad answer"), Permanent), class: Permanent, code: CodeUnknown},
		{name: "WithClass over an API error", err: fmt.Errorf("call: %w", WithClass(throttling, Permanent)), class: Permanent, code: "Throttling.User", status: 400, reqID: "req-Throttling.User"},
	}
}

func TestClassify(t *testing.T) {
	for _, tc := range classifyCases(t) {
		t.Run(tc.name, func(t *testing.T) {
			if got := Classify(tc.err); got != tc.class {
				t.Errorf("Classify(%v) = %v, want %v", tc.err, got, tc.class)
			}
			if got := Code(tc.err); got != tc.code {
				t.Errorf("Code = %q, want %q", got, tc.code)
			}
			if got := HTTPStatus(tc.err); got != tc.status {
				t.Errorf("HTTPStatus = %d, want %d", got, tc.status)
			}
			if got := RequestID(tc.err); got != tc.reqID {
				t.Errorf("RequestID = %q, want %q", got, tc.reqID)
			}
		})
	}
}

func TestClassString(t *testing.T) {
	for c, want := range map[Class]string{
		Permanent: "permanent", Throttled: "throttled", Transient: "transient", Credentials: "credentials", Class(9): "Class(9)",
	} {
		if got := c.String(); got != want {
			t.Errorf("Class(%d).String() = %q, want %q", int(c), got, want)
		}
	}
	for c, want := range map[Class]bool{Permanent: false, Throttled: true, Transient: true, Credentials: false} {
		if got := c.Retryable(); got != want {
			t.Errorf("%v.Retryable() = %v, want %v", c, got, want)
		}
	}
}

func TestWithClassNil(t *testing.T) {
	if err := WithClass(nil, Transient); err != nil {
		t.Fatalf("WithClass(nil) = %v, want nil", err)
	}
}

func BenchmarkClassify(b *testing.B) {
	errs := []error{
		fmt.Errorf("call rsp-1: %w", apiError(400, "Throttling.User")),
		apiError(404, "InvalidParameter"),
		apiError(400, "Throttling.Resource"),
		sdkerrors.NewServerError(502, "<html></html>", ""),
		&url.Error{Op: "Post", URL: "http://127.0.0.1:1/", Err: &net.OpError{Op: "dial", Err: os.NewSyscallError("connect", syscall.ECONNREFUSED)}},
	}
	b.ReportAllocs()
	for i := 0; b.Loop(); i++ {
		_ = Classify(errs[i%len(errs)])
	}
}

func TestQuotaSpent(t *testing.T) {
	for code, want := range map[string]bool{"Throttling.User": true, "Throttling": false, "Throttling.Api": false, "ServiceUnavailable": false} {
		if got := QuotaSpent(apiError(400, code)); got != want {
			t.Errorf("%s: QuotaSpent %v, want %v", code, got, want)
		}
	}
}

func TestGroupWide(t *testing.T) {
	for _, c := range []struct {
		status    int
		code, msg string
		want      bool
	}{
		{404, "InvalidParameter", "The specified VServerGroupId does not exist.", true},
		{403, "Forbidden.RAM", "User not authorized to operate on the specified resource.", true},
		{404, "InvalidLoadBalancerId.NotFound", "The specified LoadBalancerId does not exist.", true},
		{404, "InvalidServerId.NotFound", "The specified ServerId does not exist.", false},
		{400, "BackendServer.InvalidType", "The backend server type is invalid.", false},
		{400, "InvalidParameter", "The specified Port is invalid.", false},
		{400, "UnknownError", "", false},
	} {
		err := sdkerrors.NewServerError(c.status, `{"Code":"`+c.code+`","Message":"`+c.msg+`","RequestId":"r"}`, "")
		if got := GroupWide(err); got != c.want {
			t.Errorf("%s %q: GroupWide %v, want %v", c.code, c.msg, got, c.want)
		}
	}
}
