package retry

import "strconv"

// Class says what to do about an error.
type Class int

const (
	// Permanent: retrying cannot help; the requests of the call fail.
	Permanent Class = iota
	// Throttled: the account's API quota is exhausted; back off, lower the
	// call rate, retry.
	Throttled
	// Transient: the service or the network failed this time; back off, retry.
	Transient
	// Credentials: the worker's own identity (AccessKey, signature, STS token)
	// is broken, whatever the request; the worker stops taking work until fixed.
	Credentials
)

// String returns the class in lower case ("permanent", "throttled",
// "transient", "credentials"); it is used as a metric label.
func (c Class) String() string {
	switch c {
	case Permanent:
		return "permanent"
	case Throttled:
		return "throttled"
	case Transient:
		return "transient"
	case Credentials:
		return "credentials"
	}
	return "Class(" + strconv.Itoa(int(c)) + ")"
}

// Retryable reports whether an error of this class is worth another try
// (Throttled or Transient).
func (c Class) Retryable() bool {
	return c == Throttled || c == Transient
}

// WithClass returns err marked with class c: Classify returns c for it and for
// any error wrapping it, whatever err is. It is for callers that know better
// than the table, for example an adapter that got an answer it cannot trust.
// Code, RequestID, HTTPStatus and Message still describe err. Its text is
// err's, without secrets (see Redact). WithClass(nil, c) is nil.
func WithClass(err error, c Class) error {
	if err == nil {
		return nil
	}
	return &classified{err: err, class: c}
}

type classified struct {
	err   error
	class Class
}

func (e *classified) Error() string { return redactedText(e.err) }
func (e *classified) Unwrap() error { return e.err }
