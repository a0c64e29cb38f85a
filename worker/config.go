package worker

import (
	"errors"
	"fmt"
	"maps"
	"regexp"
	"time"

	"github.com/slbdrain/slbdrain/messages"

	"github.com/slbdrain/slbdrain/retry"
)

// Config is everything the worker needs to know; cmd/drainworker fills it from
// flags and the environment. Zero fields take the defaults of DefaultConfig.
type Config struct {
	Consumer      string        // durable consumer name
	FilterSubject string        // the requests this worker serves
	AckWait       time.Duration // JetStream AckWait of the consumer
	MaxAckPending int           // how many requests the worker may hold: memory bound and back-pressure
	PullExpiry    time.Duration // pull request expiry; short, so failover of the consumer leader is quick
	PullHeartbeat time.Duration // idle heartbeat of pull requests
	// PriorityGroup, when set, makes the consumer pin one client (PriorityPolicyPinned):
	// one active replica, the others hot standbys. PinnedTTL is the failover time.
	PriorityGroup string
	PinnedTTL     time.Duration

	StreamReplicas  int           // replicas of streams the worker creates
	UpdateStreams   bool          // bring existing streams to this configuration instead of leaving them alone
	EventMaxAge     time.Duration // retention of the events stream the worker creates
	OutcomeTTL      time.Duration // how long outcomes are remembered by request id
	DuplicateWindow time.Duration

	MaxBatch    int     // backend servers per API call
	Concurrency int     // API calls in flight over all groups
	SLBQPS      float64 // ceiling of the call rate over all regions
	// Quotas are the account's API quotas per region, by action
	// (--slb-quota); actions not named keep DefaultQuotas.
	Quotas            map[string]Quota
	Linger            time.Duration // how long an idle group waits for company
	MaxLinger         time.Duration // how long a group may keep waiting while company keeps arriving or the stream has a backlog
	MaxRetry          time.Duration // deadline of a request that sets none, from its arrival in the stream
	Retry             retry.Policy
	CredentialRetry   time.Duration // how often credentials are probed while they fail
	HeartbeatInterval time.Duration // InProgress for held messages; default AckWait/3
	ShutdownTimeout   time.Duration
	WedgeTimeout      time.Duration // held work without progress for this long makes the worker unhealthy
	// AllowGroups are regular expressions on vserver_group_id; a request
	// for a group none matches fails NotAllowed (empty: every group).
	AllowGroups []string
	// MinRemaining: a version-2 drain must leave its group at least this
	// many servers of weight > 0, unless it says force (0: no guard).
	// Not defaulted: 0 is a setting; DefaultConfig has 1.
	MinRemaining  int
	DrainTimeout  time.Duration // default wait at weight 0 of a graceful drain
	StatsInterval time.Duration // how often consumer backlog gauges are polled
}

// DefaultConfig returns the contract's defaults.
func DefaultConfig() Config {
	return Config{
		Consumer:      "drainworker",
		FilterSubject: "slb.drain.request.>",
		AckWait:       30 * time.Second,
		MaxAckPending: 20000,
		// Chosen together for a crash failover well inside 5s: the pin moves
		// after PinnedTTL without a pull from the pinned client, which pulls
		// at least every PullExpiry; a silent pull (a lost consumer leader)
		// is noticed after two missed heartbeats.
		PullExpiry:      1500 * time.Millisecond,
		PullHeartbeat:   500 * time.Millisecond,
		PriorityGroup:   "drainworker",
		PinnedTTL:       3 * time.Second,
		StreamReplicas:  1,
		EventMaxAge:     30 * 24 * time.Hour,
		OutcomeTTL:      7 * 24 * time.Hour,
		DuplicateWindow: 2 * time.Minute,
		MaxBatch:        20,
		Concurrency:     16,
		SLBQPS:          20,
		Quotas:          DefaultQuotas(),
		Linger:          5 * time.Millisecond,
		MaxLinger:       time.Second,
		MaxRetry:        15 * time.Minute,
		Retry:           retry.DefaultPolicy(),
		CredentialRetry: 10 * time.Second,
		ShutdownTimeout: 30 * time.Second,
		WedgeTimeout:    5 * time.Minute,
		MinRemaining:    1,
		DrainTimeout:    messages.DefaultDrainTimeout,
		StatsInterval:   5 * time.Second,
	}
}

// withDefaults fills zero fields from DefaultConfig.
func (c Config) withDefaults() Config {
	d := DefaultConfig()
	setDefault(&c.Consumer, d.Consumer)
	setDefault(&c.FilterSubject, d.FilterSubject)
	setDefault(&c.AckWait, d.AckWait)
	setDefault(&c.MaxAckPending, d.MaxAckPending)
	setDefault(&c.PullExpiry, d.PullExpiry)
	setDefault(&c.PullHeartbeat, d.PullHeartbeat)
	setDefault(&c.PinnedTTL, d.PinnedTTL)
	setDefault(&c.StreamReplicas, d.StreamReplicas)
	setDefault(&c.EventMaxAge, d.EventMaxAge)
	setDefault(&c.OutcomeTTL, d.OutcomeTTL)
	setDefault(&c.DuplicateWindow, d.DuplicateWindow)
	setDefault(&c.MaxBatch, d.MaxBatch)
	setDefault(&c.Concurrency, d.Concurrency)
	setDefault(&c.SLBQPS, d.SLBQPS)
	setDefault(&c.MaxLinger, d.MaxLinger)
	setDefault(&c.MaxRetry, d.MaxRetry)
	setDefault(&c.Retry, d.Retry)
	setDefault(&c.CredentialRetry, d.CredentialRetry)
	setDefault(&c.ShutdownTimeout, d.ShutdownTimeout)
	setDefault(&c.WedgeTimeout, d.WedgeTimeout)
	setDefault(&c.DrainTimeout, d.DrainTimeout)
	setDefault(&c.StatsInterval, d.StatsInterval)
	setDefault(&c.HeartbeatInterval, c.AckWait/3)
	quotas := DefaultQuotas()
	maps.Copy(quotas, c.Quotas)
	c.Quotas = quotas
	return c
}

func setDefault[T comparable](field *T, def T) {
	var zero T
	if *field == zero {
		*field = def
	}
}

// Validate reports every setting that cannot work.
func (c Config) Validate() error {
	var errs []error
	for name, d := range map[string]time.Duration{
		"ack wait": c.AckWait, "max linger": c.MaxLinger, "max retry": c.MaxRetry, "credential retry": c.CredentialRetry,
		"heartbeat interval": c.HeartbeatInterval, "shutdown timeout": c.ShutdownTimeout, "wedge timeout": c.WedgeTimeout, "stats interval": c.StatsInterval,
		"pinned ttl": c.PinnedTTL, "event max age": c.EventMaxAge, "outcome ttl": c.OutcomeTTL,
	} {
		if d < 0 {
			errs = append(errs, fmt.Errorf("%s %s: must not be negative", name, d))
		}
	}
	if c.MaxAckPending < 1 {
		errs = append(errs, fmt.Errorf("max ack pending %d: must be at least 1", c.MaxAckPending))
	}
	if c.StreamReplicas < 1 || c.StreamReplicas > 5 {
		errs = append(errs, fmt.Errorf("stream replicas %d: must be 1..5", c.StreamReplicas))
	}
	if c.MaxBatch < 1 || c.MaxBatch > 20 {
		errs = append(errs, fmt.Errorf("max batch %d: must be 1..20 (the API's limit per call)", c.MaxBatch))
	}
	if c.Concurrency < 1 {
		errs = append(errs, fmt.Errorf("concurrency %d: must be at least 1", c.Concurrency))
	}
	if c.SLBQPS <= 0 {
		errs = append(errs, fmt.Errorf("slb qps %g: must be positive", c.SLBQPS))
	}
	if c.Linger < 0 {
		errs = append(errs, fmt.Errorf("linger %s: must not be negative", c.Linger))
	}
	if c.HeartbeatInterval >= c.AckWait {
		errs = append(errs, fmt.Errorf("heartbeat interval %s: must be below ack wait %s", c.HeartbeatInterval, c.AckWait))
	}
	if c.PullHeartbeat < 500*time.Millisecond || c.PullHeartbeat >= c.PullExpiry/2 {
		errs = append(errs, fmt.Errorf("pull heartbeat %s: must be at least 500ms and below half the pull expiry %s", c.PullHeartbeat, c.PullExpiry))
	}
	if c.PriorityGroup != "" && c.PullExpiry >= c.PinnedTTL {
		errs = append(errs, fmt.Errorf("pull expiry %s: must be below pinned ttl %s, or the pin moves while the active worker waits", c.PullExpiry, c.PinnedTTL))
	}
	if c.DuplicateWindow < 2*time.Minute {
		errs = append(errs, fmt.Errorf("duplicate window %s: the contract requires at least 2m", c.DuplicateWindow))
	}
	if c.MinRemaining < 0 {
		errs = append(errs, fmt.Errorf("min remaining %d: must not be negative (0: no guard)", c.MinRemaining))
	}
	if c.DrainTimeout > messages.MaxDrainTimeout {
		errs = append(errs, fmt.Errorf("drain timeout %s: at most %s", c.DrainTimeout, messages.MaxDrainTimeout))
	}
	for _, p := range c.AllowGroups {
		if _, err := regexp.Compile(p); err != nil {
			errs = append(errs, fmt.Errorf("allow group %q: %w", p, err))
		}
	}
	if err := validateQuotas(c.Quotas); err != nil {
		errs = append(errs, err)
	}
	if err := c.Retry.Validate(); err != nil {
		errs = append(errs, fmt.Errorf("retry policy: %w", err))
	}
	return errors.Join(errs...)
}
