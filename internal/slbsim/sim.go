package slbsim

import (
	"context"
	"math/rand/v2"
	"sync"
	"time"
)

// Sim is the emulated SLB API of one Alibaba Cloud account. It is an
// http.Handler; Start serves it on a loopback port. All methods are safe for
// concurrent use.
type Sim struct {
	cfg    Config // hooks, logger, clock; the mutable knobs live below
	keys   *keyStore
	nonces *nonceSet
	state  *state
	flow   *flowControl
	qps    *qpsLimit
	log    *callLog

	knobsMu sync.RWMutex
	faults  Faults
	latency time.Duration
	jitter  time.Duration

	rngMu sync.Mutex
	rng   *rand.Rand

	closing   chan struct{}
	closeOnce sync.Once
}

// New returns an emulator configured by cfg, with no VServer groups.
func New(cfg Config) *Sim {
	seed := uint64(cfg.Seed)
	if seed == 0 {
		seed = defaultSeed
	}
	maxLog := cfg.MaxCallLog
	if maxLog <= 0 {
		maxLog = defaultMaxCallLog
	}
	return &Sim{
		cfg:     cfg,
		keys:    newKeyStore(cfg.AccessKeys, cfg.KeyAccounts, cfg.STSCredentials),
		nonces:  newNonceSet(),
		state:   newState(),
		flow:    newFlowControl(cfg.Quotas, cfg.RegionQuotas, seed),
		qps:     newQPSLimit(cfg.QPS, cfg.Burst),
		log:     newCallLog(maxLog),
		faults:  cfg.Faults,
		latency: cfg.Latency,
		jitter:  cfg.LatencyJitter,
		rng:     rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15)),
		closing: make(chan struct{}),
	}
}

func (s *Sim) now() time.Time {
	if s.cfg.Clock != nil {
		return s.cfg.Clock()
	}
	return time.Now()
}

// SetFaults replaces the fault probabilities for the calls that follow.
func (s *Sim) SetFaults(f Faults) {
	s.knobsMu.Lock()
	defer s.knobsMu.Unlock()
	s.faults = f
}

// SetLatency replaces the latency added to every answer.
func (s *Sim) SetLatency(d, jitter time.Duration) {
	s.knobsMu.Lock()
	defer s.knobsMu.Unlock()
	s.latency, s.jitter = d, jitter
}

// SetQPS replaces the token-bucket quota of Config.QPS (0: unlimited;
// burst 0: max(1, int(qps))).
func (s *Sim) SetQPS(qps float64, burst int) {
	s.qps.set(qps, burst, s.now())
}

// SetQuota replaces the quota of action in every region that has none of
// its own (Quota{}: unlimited). Windows counted under the old quota start
// afresh.
func (s *Sim) SetQuota(action string, q Quota) { s.flow.set("", action, q) }

// SetRegionQuota replaces the quota of action in one region only.
func (s *Sim) SetRegionQuota(region, action string, q Quota) { s.flow.set(region, action, q) }

// QuotaUsage reports the window of (region, action, account) now: the
// calls admitted in it and those the foreign consumer spent.
func (s *Sim) QuotaUsage(region, action, account string) QuotaUsage {
	return s.flow.usage(quotaKey{region, action, account}, s.now())
}

// SetAccessKey adds an AccessKey, or replaces its secret and re-enables it
// (a known key keeps its account; a new one is DefaultAccount's).
func (s *Sim) SetAccessKey(id, secret string) { s.keys.set(id, secret) }

// SetSTSCredential adds a temporary credential, or replaces the one with
// its AccessKeyId (a new token, a new expiry: what a refresh does).
func (s *Sim) SetSTSCredential(c STSCredential) { s.keys.setSTS(c) }

// DisableAccessKey keeps the key known but inactive: its calls are answered
// 400 InvalidAccessKeyId.Inactive until SetAccessKey enables it again.
func (s *Sim) DisableAccessKey(id string) { s.keys.disable(id) }

// RemoveAccessKey deletes the key: its calls are answered 404
// InvalidAccessKeyId.NotFound.
func (s *Sim) RemoveAccessKey(id string) { s.keys.remove(id) }

// Close releases the calls waiting out a latency or a Slow fault, so that a
// server shutting down does not wait for them. The Sim keeps answering
// afterwards, without waits.
func (s *Sim) Close() {
	s.closeOnce.Do(func() { close(s.closing) })
}

// sleep waits d, or less if the client goes away or the Sim is closed; it
// reports whether the full wait elapsed.
func (s *Sim) sleep(ctx context.Context, d time.Duration) bool {
	if d <= 0 {
		return true
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-ctx.Done():
		return false
	case <-s.closing:
		return false
	}
}

func (s *Sim) float64() float64 {
	s.rngMu.Lock()
	defer s.rngMu.Unlock()
	return s.rng.Float64()
}

func (s *Sim) latencyFor() time.Duration {
	s.knobsMu.RLock()
	d, jitter := s.latency, s.jitter
	s.knobsMu.RUnlock()
	if jitter > 0 {
		s.rngMu.Lock()
		d += time.Duration(s.rng.Int64N(int64(jitter)))
		s.rngMu.Unlock()
	}
	return d
}

const idAlphabet = "abcdefghijklmnopqrstuvwxyz0123456789"

// randomID returns prefix and n random lower-case letters and digits, like
// Alibaba's resource ids (rsp-cige6j5e7p).
func (s *Sim) randomID(prefix string, n int) string {
	b := make([]byte, len(prefix)+n)
	copy(b, prefix)
	s.rngMu.Lock()
	for i := len(prefix); i < len(b); i++ {
		b[i] = idAlphabet[s.rng.IntN(len(idAlphabet))]
	}
	s.rngMu.Unlock()
	return string(b)
}
