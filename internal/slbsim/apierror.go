package slbsim

import "net/http"

// Error codes the emulator answers with. Statuses and messages are
// Alibaba's where its documentation or its gateway give them; the few it does
// not document (TooManyBackendServers, BackendServersMalformed,
// InvalidServerId.NotFound, the 404 of an unknown VServerGroupId) follow
// slbdrain's design.md; the 404 of an unknown LoadBalancerId and the 400 of
// a SetVServerGroupAttribute on a server the group does not hold are ours.
// The InvalidSecurityToken.* answers are those of Alibaba's common error
// table (400, "Specified SecurityToken is expired." and so on).
const (
	CodeThrottling            = "Throttling"
	CodeThrottlingUser        = "Throttling.User"
	CodeServiceUnavailable    = "ServiceUnavailable"
	CodeSystemBusy            = "SystemBusy"
	CodeSignatureDoesNotMatch = "SignatureDoesNotMatch"
	CodeIncompleteSignature   = "IncompleteSignature"
	CodeSignatureNonceUsed    = "SignatureNonceUsed"
	CodeAccessKeyNotFound     = "InvalidAccessKeyId.NotFound"
	CodeAccessKeyInactive     = "InvalidAccessKeyId.Inactive"
	CodeSecurityTokenMismatch = "InvalidSecurityToken.MismatchWithAccessKey"
	CodeSecurityTokenExpired  = "InvalidSecurityToken.Expired"
	CodeSecurityTokenBad      = "InvalidSecurityToken.Malformed"
	CodeMissingSecurityToken  = "MissingSecurityToken"
	CodeTimeStampExpired      = "InvalidTimeStamp.Expired"
	CodeTimeStampFormat       = "InvalidTimeStamp.Format"
	CodeInvalidVersion        = "InvalidVersion"
	CodeActionNotFound        = "InvalidAction.NotFound"
	CodeUnsupportedFormat     = "InvalidParameter.Format"
	CodeForbiddenRAM          = "Forbidden.RAM"
	CodeInvalidParameter      = "InvalidParameter"
	CodeTooManyBackends       = "TooManyBackendServers"
	CodeBackendsMalformed     = "BackendServersMalformed"
	CodeInvalidType           = "BackendServer.InvalidType"
	CodeServerNotFound        = "InvalidServerId.NotFound"
	CodeLoadBalancerNotFound  = "InvalidLoadBalancerId.NotFound"
	// CodeDropped is not an Alibaba code: it marks, in the call log, a call
	// whose connection the Drop fault closed without an answer.
	CodeDropped = "slbsim.Dropped"
)

// MaxBackendServers is the documented limit of backend servers per call.
const MaxBackendServers = 20

const hostID = "slb.aliyuncs.com"

// apiError is an error answer: an HTTP status and Alibaba's code and message.
type apiError struct {
	status  int
	code    string
	message string
}

func (e *apiError) Error() string { return e.code + ": " + e.message }

func newAPIError(status int, code, message string) *apiError {
	return &apiError{status: status, code: code, message: message}
}

// missing is the gateway's answer to an absent mandatory parameter.
func missing(name string) *apiError {
	return newAPIError(http.StatusBadRequest, "Missing"+name, name+" is mandatory for this action.")
}

var (
	errThrottling = newAPIError(http.StatusBadRequest, CodeThrottling,
		"Request was denied due to request throttling.")
	errThrottlingUser = newAPIError(http.StatusBadRequest, CodeThrottlingUser,
		"Request was denied due to user flow control.")
	errServiceUnavailable = newAPIError(http.StatusServiceUnavailable, CodeServiceUnavailable,
		"The request has failed due to a temporary failure of the server.")
	errSystemBusy = newAPIError(http.StatusBadRequest, CodeSystemBusy,
		"The system is busy.")
	errIncompleteSignature = newAPIError(http.StatusBadRequest, CodeIncompleteSignature,
		"The request signature does not conform to Aliyun standards.")
	errNonceUsed = newAPIError(http.StatusBadRequest, CodeSignatureNonceUsed,
		"Specified signature nonce was used already.")
	errAccessKeyNotFound = newAPIError(http.StatusNotFound, CodeAccessKeyNotFound,
		"Specified access key is not found.")
	errAccessKeyInactive = newAPIError(http.StatusBadRequest, CodeAccessKeyInactive,
		"Specified access key is disabled.")
	errSecurityToken = newAPIError(http.StatusBadRequest, CodeSecurityTokenMismatch,
		"Specified SecurityToken mismatch with the AccessKey.")
	errSecurityTokenExpired = newAPIError(http.StatusBadRequest, CodeSecurityTokenExpired,
		"Specified SecurityToken is expired.")
	errSecurityTokenMalformed = newAPIError(http.StatusBadRequest, CodeSecurityTokenBad,
		"Specified SecurityToken is malformed.")
	errTimeStampExpired = newAPIError(http.StatusBadRequest, CodeTimeStampExpired,
		"Specified time stamp or date value is expired.")
	errTimeStampFormat = newAPIError(http.StatusBadRequest, CodeTimeStampFormat,
		"Specified time stamp or date value is not well formatted.")
	errInvalidVersion = newAPIError(http.StatusBadRequest, CodeInvalidVersion,
		"Specified parameter Version is not valid.")
	errActionNotFound = newAPIError(http.StatusNotFound, CodeActionNotFound,
		"Specified api is not found, please check your url and method.")
	errUnsupportedFormat = newAPIError(http.StatusBadRequest, CodeUnsupportedFormat,
		"The emulator answers Format=JSON only.")
	errForbiddenRAM = newAPIError(http.StatusForbidden, CodeForbiddenRAM,
		"User not authorized to operate on the specified resource, or this API doesn't support RAM.")
	errGroupNotFound = newAPIError(http.StatusNotFound, CodeInvalidParameter,
		"The specified VServerGroupId does not exist.")
	errTooManyBackends = newAPIError(http.StatusBadRequest, CodeTooManyBackends,
		"The backend servers exceed the max supported number: 20.")
	errInvalidType = newAPIError(http.StatusBadRequest, CodeInvalidType,
		"The specified Type is invalid.")
	errServerNotFound = newAPIError(http.StatusNotFound, CodeServerNotFound,
		"The specified ServerId does not exist.")
	errLoadBalancerNotFound = newAPIError(http.StatusNotFound, CodeLoadBalancerNotFound,
		"The specified LoadBalancerId does not exist.")
)

// invalidParam is the gateway's answer to a parameter out of its range.
func invalidParam(name string) *apiError {
	return newAPIError(http.StatusBadRequest, CodeInvalidParameter, "Specified parameter "+name+" is not valid.")
}

// notInGroup answers a SetVServerGroupAttribute that names a server the
// group does not hold.
func notInGroup(server string) *apiError {
	return newAPIError(http.StatusBadRequest, CodeInvalidParameter,
		"The specified backend server "+server+" does not exist in the VServer group.")
}

// signatureMismatch carries the server's string to sign, as Alibaba does:
// the SDK compares it with its own and, when they match, tells the user the
// AccessKeySecret is wrong rather than the SDK.
func signatureMismatch(stringToSign string) *apiError {
	return newAPIError(http.StatusBadRequest, CodeSignatureDoesNotMatch,
		"Specified signature is not matched with our calculation. server string to sign is:"+stringToSign)
}

func malformed(why string) *apiError {
	return newAPIError(http.StatusBadRequest, CodeBackendsMalformed,
		"The specified parameter BackendServers is not valid: "+why)
}
