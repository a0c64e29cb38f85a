// Package retry decides what to do about an error from the SLB API and how long
// to wait before trying again.
//
// Classify sorts an error into one of four classes (see classify.go for the
// table of Alibaba Cloud error codes): Throttled and Transient are retried with
// exponential backoff and jitter; Credentials means the worker's own identity is
// broken, whatever the request; Permanent fails the requests of the call.
//
// Code, RequestID, HTTPStatus and Message extract what an outcome event and a
// log line need from an error, through any wrapping, without secrets. An SDK
// call's raw error text holds the signed URL (Signature, SecurityToken): wrap it
// with Redact before anything can log it.
//
// Policy describes the backoff; Policy.NewBackOff gives a
// github.com/cenkalti/backoff/v4 BackOff bounded by a deadline, and Policy.Do
// runs the whole retry loop.
//
// The package holds no global state and imports, of the outside, only the
// SDK's error types and cenkalti/backoff/v4.
package retry
