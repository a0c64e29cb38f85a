package retry

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"strings"
	"testing"

	sdkerrors "github.com/aliyun/alibaba-cloud-sdk-go/sdk/errors"
)

const (
	secretToken = "CAIS-secret-sts-token"
	secretSig   = "c2lnbmF0dXJlLXNlY3JldA"
)

func TestMessage(t *testing.T) {
	signedURL := "https://slb.cn-hangzhou.aliyuncs.com/?AccessKeyId=STS.ak&Action=RemoveVServerGroupBackendServers&SecurityToken=" +
		secretToken + "&Signature=" + secretSig + "&VServerGroupId=rsp-1"
	refused := refusedDialError(t)
	urlErr := &url.Error{Op: "Post", URL: signedURL, Err: refused}
	stringToSignBody := `{"Code":"SignatureDoesNotMatch","RequestId":"r-9","Message":"Specified signature is not matched with our calculation. server string to sign is:POST&%2F&AccessKeyId%3DSTS.ak%26SecurityToken%3D` + secretToken + `%26SignatureMethod%3DHMAC-SHA1"}`

	tests := []struct {
		name     string
		err      error
		want     string   // exact, if not empty
		contains []string // substrings that must be there
	}{
		{name: "nil", err: nil, want: ""},
		{name: "API message", err: fmt.Errorf("call: %w", apiError(404, "InvalidParameter")), want: "message of InvalidParameter"},
		{name: "non-JSON body collapsed", err: sdkerrors.NewServerError(502, "<html>\n  <body>Bad   Gateway</body>\n</html>", ""), want: "<html> <body>Bad Gateway</body> </html>"},
		{name: "plain error", err: errors.New("something odd"), want: "something odd"},
		{name: "url error loses its query", err: fmt.Errorf("call rsp-1: %w", urlErr),
			contains: []string{"call rsp-1: Post \"https://slb.cn-hangzhou.aliyuncs.com/\"", "connection refused"}},
		{name: "SDK client error around url error", err: sdkerrors.NewClientError(sdkerrors.TimeoutErrorCode, "timed out", urlErr),
			contains: []string{"[SDK.TimeoutError] timed out", "https://slb.cn-hangzhou.aliyuncs.com/"}},
		{name: "string to sign cut", err: sdkerrors.NewServerError(400, stringToSignBody, ""),
			want: "Specified signature is not matched with our calculation. server string to sign is: [redacted]"},
		{name: "stray secret parameter", err: errors.New("GET /?SecurityToken=" + secretToken + "&Signature=" + secretSig + " failed"),
			want: "GET /?SecurityToken=[redacted]&Signature=[redacted] failed"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got := Message(tc.err)
			if tc.want != "" || tc.err == nil {
				if got != tc.want {
					t.Errorf("Message = %q, want %q", got, tc.want)
				}
			}
			for _, s := range tc.contains {
				if !strings.Contains(got, s) {
					t.Errorf("Message = %q, want it to contain %q", got, s)
				}
			}
			if strings.Contains(got, secretToken) || strings.Contains(got, secretSig) {
				t.Errorf("Message = %q leaks a secret", got)
			}
		})
	}
}

func TestMessageTruncated(t *testing.T) {
	body := strings.Repeat("é", 2*maxMessage) // 2 bytes a rune: a cut can fall mid-rune
	got := Message(sdkerrors.NewServerError(502, body, ""))
	if len(got) > maxMessage+len("…") {
		t.Fatalf("Message is %d bytes, want at most %d", len(got), maxMessage+len("…"))
	}
	if !strings.HasSuffix(got, "…") || !strings.HasPrefix(got, "éé") {
		t.Fatalf("Message = %q..., want the start of the body and an ellipsis", got[:10])
	}
	if !strings.Contains(got, "é…") {
		t.Fatalf("Message cut mid-rune: %q", got[len(got)-8:])
	}
}

// The error Do returns when it gives up is described by its last try's error,
// not by the reason it gave up.
func TestDetailsOfGiveUp(t *testing.T) {
	refused := refusedDialError(t)
	ctx, cancel := context.WithTimeout(context.Background(), 0)
	defer cancel()
	<-ctx.Done()

	tests := []struct {
		name  string
		err   error
		class Class
		code  string
	}{
		{name: "deadline after API error", err: &giveUpError{last: apiError(503, "ServiceUnavailable"), reason: ErrDeadline}, class: Transient, code: "ServiceUnavailable"},
		{name: "ctx deadline after refused dial", err: fmt.Errorf("group rsp-1: %w", &giveUpError{last: refused, reason: ctx.Err()}), class: Transient, code: CodeConnection},
		{name: "not started", err: &giveUpError{reason: context.Canceled}, class: Transient, code: CodeCanceled},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := Code(tc.err); got != tc.code {
				t.Errorf("Code = %q, want %q", got, tc.code)
			}
			if got := Classify(tc.err); got != tc.class {
				t.Errorf("Classify = %v, want %v", got, tc.class)
			}
		})
	}
	g := &giveUpError{last: apiError(503, "ServiceUnavailable"), reason: ErrDeadline}
	if got, want := RequestID(g), "req-ServiceUnavailable"; got != want {
		t.Errorf("RequestID = %q, want %q", got, want)
	}
	if got, want := HTTPStatus(g), 503; got != want {
		t.Errorf("HTTPStatus = %d, want %d", got, want)
	}
	if got, want := Message(g), "message of ServiceUnavailable"; got != want {
		t.Errorf("Message = %q, want %q", got, want)
	}
}

var urlErrorWithToken = url.Error{
	Op:  "Post",
	URL: "https://slb.cn-hangzhou.aliyuncs.com/?SecurityToken=" + secretToken + "&Signature=" + secretSig,
	Err: errors.New("connection reset by peer"),
}

func contains(s, sub string) bool { return strings.Contains(s, sub) }
