package retry

import (
	"errors"
	"net/http"
	"strings"

	sdkerrors "github.com/aliyun/alibaba-cloud-sdk-go/sdk/errors"
)

// codeClasses is the table of Alibaba Cloud error codes the SLB API answers
// with (design.md, "Error classes"), with the HTTP status design.md gives. Codes are
// case-sensitive, as Alibaba spells them. Codes not listed here fall to the
// rules in classifyServer: prefixes and "Throttling" anywhere, then the HTTP
// status (5xx transient, 429 throttled), then Permanent.
var codeClasses = map[string]Class{
	// The account's API quota: back off and lower the adaptive rate.
	"Throttling":          Throttled, // 400
	"Throttling.User":     Throttled,
	"Throttling.Api":      Throttled,
	"Rejected.Throttling": Throttled,

	// The service failed this time, or the group is busy with another change.
	"ServiceUnavailable":        Transient, // 503
	"InternalError":             Transient, // 500
	"SystemBusy":                Transient, // 449
	"OperationBusy":             Transient,
	"ServiceIsConfiguring":      Transient,
	"VServerGroupProcessing":    Transient,
	"ProcessingSameRequest":     Transient, // 400
	"BackendServer.configuring": Transient,
	"ServiceIsStopping":         Transient,
	"OperationConflict":         Transient, // 409

	// The worker's identity is broken, whatever the request.
	// InvalidAccessKeyId.* and InvalidSecurityToken.* are also matched by prefix.
	"InvalidAccessKeyId":          Credentials,
	"InvalidAccessKeyId.NotFound": Credentials,
	"InvalidAccessKeyId.Inactive": Credentials,
	"InvalidAccessKeySecret":      Credentials,
	"SignatureDoesNotMatch":       Credentials,
	"IncompleteSignature":         Credentials,
	"InvalidSecurityToken":        Credentials,
	"MissingSecurityToken":        Credentials, // an STS key signed without its token
	// A disabled AccessKey is the identity's fault, not a RAM policy on the
	// group, so it is an exception to Forbidden* below.
	"Forbidden.AccessKeyDisabled": Credentials,

	// Listed although Permanent is the default, so the table is the whole
	// story. Forbidden* (403, a RAM policy denies the action on this group) is
	// matched by prefix.
	"InvalidParameter":         Permanent, // 404 "The specified VServerGroupId does not exist."
	"InvalidServerId.NotFound": Permanent, // 404
	"BackendServersMalformed":  Permanent,
	"Forbidden":                Permanent, // 403
	"Forbidden.RAM":            Permanent,
	"TooManyBackendServers":    Permanent, // the batcher never sends more than 20
	"SignatureNonceUsed":       Permanent, // every try is signed afresh, so a bug
}

// Prefixes of code families (checked after the exact table).
const (
	prefixAccessKeyID   = "InvalidAccessKeyId."
	prefixSecurityToken = "InvalidSecurityToken."
	prefixForbidden     = "Forbidden"
)

// SDK client-side error codes (sdk/errors/client_error.go). The SDK raises a
// *errors.ClientError for failures on our side of the wire.
const (
	sdkTimeout         = "SDK.TimeoutError"       // only with the SDK's AutoRetry, which we keep off; wraps the net error
	sdkJSONUnmarshal   = "SDK.JsonUnmarshalError" // a 2xx answer whose body did not parse
	sdkInvalidParam    = "SDK.InvalidParam"       // raised only by the credential providers and signers
	sdkUnsupportedCred = "SDK.UnsupportedCredential"
)

// clientCodeClasses: SDK client-side codes whose class is known. Codes not
// listed are Transient (see Classify), as are codes naming a timeout or an
// unreachable server, which other Alibaba SDKs use (SDK.ReadTimeout,
// SDK.ServerUnreachable) and a later Go SDK may adopt.
var clientCodeClasses = map[string]Class{
	sdkTimeout: Transient,
	// The answer came but its body did not parse: we cannot tell whether the
	// removal was applied, and removal is idempotent, so another try is safe.
	sdkJSONUnmarshal: Transient,
	// In SDK v1.63.107 every SDK.InvalidParam comes from a credential provider
	// or signer ("The access key id is empty", a bad session duration, ...):
	// the worker's identity is misconfigured, not the request.
	sdkInvalidParam:    Credentials,
	sdkUnsupportedCred: Credentials,
	// How we built the request, or the SDK's own configuration: the same try
	// fails the same way.
	"SDK.MissingParam":             Permanent,
	"SDK.UnknownRequestType":       Permanent,
	"SDK.UnsupportedParamPosition": Permanent,
	"SDK.AsyncFunctionNotEnabled":  Permanent,
	// Endpoint resolution without a network error behind it (one with a
	// network error is Transient, by its origin) is a bad region or product.
	"SDK.CanNotResolveEndpoint": Permanent,
}

// Classify says what to do about err, an error returned by an SLB API call
// (through any wrapping, errors.As style), by Policy.Do, or by WithClass.
//
//   - An Alibaba API answer (*errors.ServerError) is classified by its code,
//     per the table above; an answer without a code (a body that is not JSON,
//     from a proxy or load balancer in front of the API) by its HTTP status:
//     5xx Transient, 429 Throttled, else Permanent. A ServerError raised while
//     fetching the worker's own credentials (STS, ECS metadata: the SDK marks
//     those with a comment) that is not throttled or 5xx is Credentials.
//   - An SDK client-side error (*errors.ClientError) is Transient when the
//     error it wraps is a network error or timeout, else classified by its
//     code (clientCodeClasses).
//   - A TLS certificate verification failure is Permanent: a retry meets the
//     same certificate (the SDK also refuses to retry it).
//   - Everything else is Transient: timeouts, refused or reset connections,
//     EOF, any failure of the HTTP exchange, and errors we do not recognise.
//     Unknown errors are retried because removal is idempotent, so a retry
//     is safe, and a failed drain leaves a server in rotation for a human to
//     chase, while a wrongly retried error costs at most the request's
//     deadline (the failed event then carries its code and message).
//
// Callers never pass nil; Classify(nil) is Permanent, so that a bug does not
// turn into a retry loop.
func Classify(err error) Class {
	if err == nil {
		return Permanent
	}
	if c, ok := errors.AsType[*classified](err); ok {
		return c.class
	}
	err = lastTry(err)
	if se, ok := errors.AsType[*sdkerrors.ServerError](err); ok {
		c := classifyServer(se.ErrorCode(), se.HttpStatus())
		if se.Comment() != "" && !c.Retryable() {
			return Credentials
		}
		return c
	}
	if ce, ok := errors.AsType[*sdkerrors.ClientError](err); ok {
		return classifyClient(ce)
	}
	return classifyLocal(transportKindOf(err))
}

// classifyServer classifies an Alibaba API answer by code, then HTTP status.
func classifyServer(code string, status int) Class {
	if code != "" {
		if c, ok := codeClasses[code]; ok {
			return c
		}
		switch {
		case strings.HasPrefix(code, prefixAccessKeyID), strings.HasPrefix(code, prefixSecurityToken):
			return Credentials
		case containsFold(code, "throttling"), containsFold(code, "throttled"):
			return Throttled
		case strings.HasPrefix(code, prefixForbidden):
			return Permanent
		}
	}
	switch {
	case status >= http.StatusInternalServerError:
		return Transient
	case status == http.StatusTooManyRequests:
		return Throttled
	}
	return Permanent
}

func classifyClient(ce *sdkerrors.ClientError) Class {
	if origin := ce.OriginError(); origin != nil {
		if k := transportKindOf(origin); k != kindUnknown {
			return classifyLocal(k)
		}
	}
	code := ce.ErrorCode()
	if c, ok := clientCodeClasses[code]; ok {
		return c
	}
	return Transient
}

// classifyLocal classifies an error that is not an API answer.
func classifyLocal(k transportKind) Class {
	if k == kindTLS {
		return Permanent
	}
	return Transient
}

// containsFold reports whether substr (lower-case ASCII) is within s, ignoring
// ASCII case, without allocating.
func containsFold(s, substr string) bool {
	n := len(substr)
	for i := 0; i+n <= len(s); i++ {
		j := 0
		for ; j < n; j++ {
			c := s[i+j]
			if 'A' <= c && c <= 'Z' {
				c += 'a' - 'A'
			}
			if c != substr[j] {
				break
			}
		}
		if j == n {
			return true
		}
	}
	return false
}

// QuotaSpent reports whether a throttled answer says the account's quota
// window for the action is spent (Throttling.User: "user flow control"),
// as opposed to the service throttling on its own (Throttling,
// Throttling.Api), which says nothing of the window.
func QuotaSpent(err error) bool { return Code(err) == "Throttling.User" }

// GroupWide reports whether a permanent error is about the call as a whole
// (the group does not exist, a RAM policy denies it) rather than about one
// of its backend servers. A group-wide error fails every request in the
// call at once; any other permanent error is narrowed down by splitting the
// call, so that one bad server fails only itself.
func GroupWide(err error) bool {
	code := Code(err)
	switch {
	case strings.HasPrefix(code, prefixForbidden),
		strings.HasPrefix(code, "InvalidVServerGroupId"),
		strings.HasPrefix(code, "InvalidLoadBalancerId"):
		return true
	case code == "InvalidParameter":
		// Alibaba answers an unknown group with the generic code and names
		// the parameter in the message.
		return strings.Contains(Message(err), "VServerGroupId")
	}
	return false
}
