package retry

import (
	"errors"
	"net/url"
	"regexp"
	"strconv"
	"strings"
	"unicode/utf8"

	sdkerrors "github.com/aliyun/alibaba-cloud-sdk-go/sdk/errors"
)

// Codes Code gives errors that carry no Alibaba error code.
const (
	// CodeTimeout: a connect or read timeout, or a deadline, before an answer.
	// Not "DeadlineExceeded", which the contract keeps for a request whose own
	// deadline passed.
	CodeTimeout = "Timeout"
	// CodeConnection: refused, reset, EOF, or any other failed HTTP exchange.
	CodeConnection = "ConnectionError"
	// CodeTLSCertificate: the endpoint's certificate did not verify.
	CodeTLSCertificate = "TLSCertificateError"
	// CodeCanceled: a context was canceled before an answer.
	CodeCanceled = "Canceled"
	// CodeUnknown: none of the above.
	CodeUnknown = "Unknown"
	// CodeHTTPPrefix + the status ("HTTP502") is the code of an API answer
	// that had none: a body that is not JSON, from a proxy in front of the API.
	CodeHTTPPrefix = "HTTP"
)

// maxMessage bounds Message: a non-JSON error body can be a whole HTML page.
const maxMessage = 1024

// Code returns the code for the outcome event and logs, looking through any
// wrapping (and, for an error from Policy.Do that gave up, at the last try's
// error):
//
//   - an Alibaba API answer: its error code (ServerError.ErrorCode(), e.g.
//     "Throttling.User"), or CodeHTTPPrefix+status when the answer had no code;
//   - an SDK client-side error: the SDK's own code, e.g. "SDK.JsonUnmarshalError"
//     (the SDK prefixes all of them with "SDK.");
//   - otherwise CodeTLSCertificate, CodeTimeout, CodeConnection, CodeCanceled
//     or CodeUnknown.
//
// Code(nil) is "".
func Code(err error) string {
	if err == nil {
		return ""
	}
	err = lastTry(err)
	if se, ok := errors.AsType[*sdkerrors.ServerError](err); ok {
		if code := se.ErrorCode(); code != "" {
			return code
		}
		return CodeHTTPPrefix + strconv.Itoa(se.HttpStatus())
	}
	if ce, ok := errors.AsType[*sdkerrors.ClientError](err); ok {
		return ce.ErrorCode()
	}
	switch transportKindOf(err) {
	case kindTLS:
		return CodeTLSCertificate
	case kindTimeout:
		return CodeTimeout
	case kindConn:
		return CodeConnection
	case kindCanceled:
		return CodeCanceled
	}
	return CodeUnknown
}

// RequestID returns the Alibaba RequestId of the API answer in err, or "" when
// no answer (or no JSON answer) came.
func RequestID(err error) string {
	if se, ok := errors.AsType[*sdkerrors.ServerError](lastTry(err)); ok {
		return se.RequestId()
	}
	return ""
}

// HTTPStatus returns the HTTP status of the API answer in err, or 0 when no
// answer came (an SDK client-side error reports 400 for itself; that is not an
// answer, so it gives 0 here).
func HTTPStatus(err error) int {
	if se, ok := errors.AsType[*sdkerrors.ServerError](lastTry(err)); ok {
		return se.HttpStatus()
	}
	return 0
}

// Message returns a human-readable message for the outcome event and logs,
// without secrets, at most about 1 KiB:
//
//   - an Alibaba API answer: its Message (ServerError.Message()); for an answer
//     without a code, the start of its body;
//   - anything else: err.Error().
//
// Secrets are taken out: the SDK signs RPC calls in the URL query, so an HTTP
// failure's text holds the Signature and, with STS credentials, the
// SecurityToken; URLs lose their query. Alibaba's SignatureDoesNotMatch message
// quotes the server's string to sign (the whole query); it is cut off. Any
// remaining Signature=, SecurityToken= or AccessKeySecret= value is masked.
// Message(nil) is "".
func Message(err error) string {
	if err == nil {
		return ""
	}
	err = lastTry(err)
	if se, ok := errors.AsType[*sdkerrors.ServerError](err); ok {
		msg := se.Message()
		if se.ErrorCode() == "" {
			msg = strings.Join(strings.Fields(msg), " ")
		}
		return truncate(redact(msg), maxMessage)
	}
	return truncate(redactedText(err), maxMessage)
}

// Redact returns an error whose text is err's without secrets (as Message
// cleans it, but whole: not truncated, and a ServerError keeps its full
// text), and which wraps err, so that Classify, Code, errors.Is and errors.As
// work on it as on err. An SDK call's raw error text holds the signed URL
// (Signature, SecurityToken): wrap the SDK's error with Redact where it is
// returned, before anything can log it. Redact(nil) is nil.
func Redact(err error) error {
	if err == nil {
		return nil
	}
	return &redactedError{err: err}
}

type redactedError struct{ err error }

func (e *redactedError) Error() string { return redactedText(e.err) }
func (e *redactedError) Unwrap() error { return e.err }

// redactedText is err.Error() without secrets.
func redactedText(err error) string {
	msg := err.Error()
	walk(err, func(e error) {
		if ue, ok := e.(*url.Error); ok && ue.URL != "" {
			msg = strings.ReplaceAll(msg, ue.URL, stripQuery(ue.URL))
		}
	})
	return redact(msg)
}

// stringToSign is how Alibaba's SignatureDoesNotMatch message introduces the
// server's string to sign (sdk/errors/signature_does_not_match_wrapper.go).
const stringToSign = sdkerrors.MessageContain

// secretParam matches a secret query parameter and its value, plain or
// URL-encoded once or twice (as in a string to sign).
var secretParam = regexp.MustCompile(`(?i)(SecurityToken|Signature|AccessKeySecret|BearerToken)(=|%3D|%253D)[^&\s"]*`)

func redact(msg string) string {
	if i := strings.Index(msg, stringToSign); i >= 0 {
		msg = msg[:i+len(stringToSign)] + " [redacted]"
	}
	return secretParam.ReplaceAllString(msg, "${1}${2}[redacted]")
}

// stripQuery drops the query and fragment of a URL: what is left names the
// endpoint, which is what an operator needs.
func stripQuery(raw string) string {
	if i := strings.IndexAny(raw, "?#"); i >= 0 {
		return raw[:i]
	}
	return raw
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	for n > 0 && !utf8.RuneStart(s[n]) {
		n--
	}
	return s[:n] + "…"
}

// walk calls fn for every error in err's tree, including the origin error an
// SDK ClientError keeps without an Unwrap method.
func walk(err error, fn func(error)) {
	if err == nil {
		return
	}
	fn(err)
	switch e := err.(type) {
	case interface{ Unwrap() error }:
		walk(e.Unwrap(), fn)
	case interface{ Unwrap() []error }:
		for _, inner := range e.Unwrap() {
			walk(inner, fn)
		}
	}
	if ce, ok := err.(*sdkerrors.ClientError); ok {
		walk(ce.OriginError(), fn)
	}
}
