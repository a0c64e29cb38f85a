package slbsim

import (
	"time"

	"go.uber.org/zap"
)

// Config configures a Sim. The zero value is a usable emulator with no known
// AccessKeys (every call then fails with InvalidAccessKeyId.NotFound).
type Config struct {
	// AccessKeys maps AccessKeyId to secret; calls signed with anything else
	// fail as they do on Alibaba.
	AccessKeys map[string]string
	// KeyAccounts names the Alibaba Cloud account that owns a key of
	// AccessKeys (AccessKeyId -> account id); a key not listed belongs to
	// DefaultAccount. Quotas are counted per account.
	KeyAccounts map[string]string
	// STSCredentials are temporary credentials: each key pair is accepted
	// only with its SecurityToken signed into the call, until it expires.
	STSCredentials []STSCredential

	// Quotas are Alibaba's API flow control: per action, N calls per W,
	// counted per (region, action, account), over them 400 Throttling.User.
	// nil (the zero Config): no quota. AlibabaQuotas() is the table of a
	// new account, to opt into; ParseQuota reads "90/60s".
	Quotas Quotas
	// RegionQuotas override Quotas in one region (region -> action ->
	// quota; a zero Quota there lifts the limit in that region).
	RegionQuotas map[string]Quotas
	// QPS is an older, simpler quota: a token bucket of QPS calls per
	// second per action, shared by every region and account (0: none).
	// Calls over it are answered 400 Throttling.User. It applies on top of
	// Quotas.
	QPS float64
	// Burst is the QPS bucket's burst (0: max(1, int(QPS))).
	Burst int
	// Latency is added to every answer, LatencyJitter a uniform random
	// [0, LatencyJitter) on top.
	Latency       time.Duration
	LatencyJitter time.Duration
	Faults        Faults
	// Seed seeds fault, jitter, foreign-share and generated-id randomness
	// (0: a fixed default) so that sequential runs are reproducible. RequestIds are not
	// seeded: they must stay unique across runs.
	Seed int64
	// Logger, when set, gets one line per call, at debug level (info with
	// LogCallsAtInfo). The AccessKeySecret and the Signature are never logged.
	Logger         *zap.Logger
	LogCallsAtInfo bool
	// Clock drives timestamp checks, nonce expiry, the quota and the call
	// log (nil: time.Now). Waits (latency, slow answers) use real timers.
	// Real SDK clients sign with the real time, and a Timestamp more than 15
	// minutes off the Clock is refused: a test clock should start at
	// time.Now() and move by less than that.
	Clock func() time.Time
	// MaxCallLog bounds the call log kept for Calls (0: 200,000, some 50 MB);
	// past it the oldest entries are overwritten. Stats count every call
	// regardless.
	MaxCallLog int
	// OnCallStart, when set, runs on the handler goroutine once a call's
	// parameters are read (RequestId, Action, RegionID, GroupID, Servers and
	// Start are set) and, for a write on a group (Remove, Add, Set), after
	// it entered the group's in-progress set. A test may block in it to hold the call open, which
	// is how overlap detection is tested without sleeps.
	OnCallStart func(Call)
	// OnCallEnd, when set, runs after a call was answered (or dropped) and
	// logged, with the complete record. Tests use it to wait for calls.
	OnCallEnd func(Call)
}

// Faults are probabilities from 0 to 1, per call, of injected failures. They
// are applied after the signature check and the quota, before the action.
// One random draw decides, so the probabilities add up (their sum should not
// exceed 1) and at most one fault hits a call.
type Faults struct {
	// Throttling answers 400 Throttling "Request was denied due to request
	// throttling." (Alibaba's account-wide flow control).
	Throttling float64
	// ServiceUnavailable answers 503 ServiceUnavailable.
	ServiceUnavailable float64
	// SystemBusy answers 400 SystemBusy "The system is busy.", the status
	// Alibaba documents for it.
	SystemBusy float64
	// Slow applies the action but answers only after SlowDelay, which should
	// be past the client's read timeout. The wait ends early when the client
	// goes away or the emulator is closed.
	Slow      float64
	SlowDelay time.Duration
	// Drop hijacks the connection and closes it without answering; the
	// action is not applied.
	Drop float64
}

const (
	defaultSeed       = 0x5eed_51b
	defaultMaxCallLog = 200_000
	defaultSlowDelay  = 30 * time.Second
)

func burstFor(qps float64, burst int) int {
	if burst > 0 {
		return burst
	}
	return max(1, int(qps))
}
