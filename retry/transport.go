package retry

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"io"
	"net"
	"net/url"
	"os"
	"syscall"
)

// transportKind sorts errors that are not API answers: what went wrong on the
// way to the API or back.
type transportKind int

const (
	kindUnknown  transportKind = iota
	kindTLS                    // the server's certificate did not verify
	kindTimeout                // connect or read timeout, deadline
	kindConn                   // refused, reset, EOF, or any failed HTTP exchange
	kindCanceled               // a context was canceled
)

// connErrs are the errors of a connection that failed or broke mid-exchange.
var connErrs = []error{
	syscall.ECONNREFUSED,
	syscall.ECONNRESET,
	syscall.ECONNABORTED,
	syscall.EPIPE,
	syscall.ENETUNREACH,
	syscall.EHOSTUNREACH,
	io.EOF,
	io.ErrUnexpectedEOF,
	net.ErrClosed,
}

// transportKindOf looks through err's tree. With AutoRetry off the SDK returns
// the http.Client's error as is: a *url.Error around a *net.OpError around a
// syscall error, or around a timeout error.
func transportKindOf(err error) transportKind {
	if isCertificateError(err) {
		return kindTLS
	}
	if errors.Is(err, context.DeadlineExceeded) || errors.Is(err, os.ErrDeadlineExceeded) || errors.Is(err, syscall.ETIMEDOUT) {
		return kindTimeout
	}
	if ne, ok := errors.AsType[net.Error](err); ok && ne.Timeout() {
		return kindTimeout
	}
	if errors.Is(err, context.Canceled) {
		return kindCanceled
	}
	for _, target := range connErrs {
		if errors.Is(err, target) {
			return kindConn
		}
	}
	if _, ok := errors.AsType[*net.OpError](err); ok {
		return kindConn
	}
	if _, ok := errors.AsType[*net.DNSError](err); ok {
		return kindConn
	}
	// Any other failure of the HTTP exchange ("server closed idle connection",
	// "malformed HTTP response", ...): no answer came.
	if _, ok := errors.AsType[*url.Error](err); ok {
		return kindConn
	}
	return kindUnknown
}

func isCertificateError(err error) bool {
	if _, ok := errors.AsType[*tls.CertificateVerificationError](err); ok {
		return true
	}
	if _, ok := errors.AsType[x509.UnknownAuthorityError](err); ok {
		return true
	}
	if _, ok := errors.AsType[x509.CertificateInvalidError](err); ok {
		return true
	}
	if _, ok := errors.AsType[x509.HostnameError](err); ok {
		return true
	}
	return false
}
