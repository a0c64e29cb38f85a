package main

import (
	"flag"
	"fmt"
	"io"
	"regexp"
	"strings"
	"time"

	"github.com/slbdrain/slbdrain/internal/natsconn"
	"github.com/slbdrain/slbdrain/worker"
)

// options are drainworker's settings: flags, each also read from its DRAIN_*
// environment variable (flag wins over variable, variable over default).
type options struct {
	nats           natsconn.Config // an empty URL: start an embedded server
	embeddedListen string
	dataDir        string
	slbEndpoint    string
	slbTimeout     time.Duration
	metricsAddr    string
	logLevel       string
	worker         worker.Config
}

// newOptions returns the options at their defaults.
func newOptions() *options { return &options{worker: worker.DefaultConfig()} }

// newFlagSet defines every flag on o and returns the flags with the
// environment variable of each.
func newFlagSet(o *options, stderr io.Writer) (*flag.FlagSet, map[string]string) {
	w := &o.worker
	fs := flag.NewFlagSet("drainworker", flag.ContinueOnError)
	fs.SetOutput(stderr)
	env := map[string]string{}
	str := func(p *string, name, envName, def, usage string) {
		fs.StringVar(p, name, def, usage+" (env "+envName+")")
		env[name] = envName
	}
	dur := func(p *time.Duration, name, envName string, def time.Duration, usage string) {
		fs.DurationVar(p, name, def, usage+" (env "+envName+")")
		env[name] = envName
	}
	num := func(p *int, name, envName string, def int, usage string) {
		fs.IntVar(p, name, def, usage+" (env "+envName+")")
		env[name] = envName
	}
	str(&o.nats.URL, "nats-url", "DRAIN_NATS_URL", "", "NATS server URL(s), comma separated; empty: start an embedded JetStream server")
	str(&o.embeddedListen, "embedded-listen", "DRAIN_EMBEDDED_LISTEN", "127.0.0.1:4222", "client listen address of the embedded server")
	str(&o.dataDir, "data-dir", "DRAIN_DATA_DIR", "./data", "JetStream store of the embedded server")
	for _, f := range o.nats.AuthFlags() {
		str(f.Value, f.Name, f.Env, "", f.Usage)
	}
	str(&o.slbEndpoint, "slb-endpoint", "DRAIN_SLB_ENDPOINT", "", "SLB API endpoint override with scheme, e.g. http://127.0.0.1:9100; empty: the SDK's endpoint of each region, over HTTPS")
	dur(&o.slbTimeout, "slb-timeout", "DRAIN_SLB_TIMEOUT", 10*time.Second, "read timeout of one SLB API call")
	num(&w.MaxBatch, "max-batch", "DRAIN_MAX_BATCH", w.MaxBatch, "backend servers per API call (the API's limit is 20)")
	num(&w.Concurrency, "concurrency", "DRAIN_CONCURRENCY", w.Concurrency, "API calls in flight at once, over all groups")
	fs.Float64Var(&w.SLBQPS, "slb-qps", w.SLBQPS, "ceiling of the API call rate over all regions, on top of each region's quota (env DRAIN_SLB_QPS)")
	env["slb-qps"] = "DRAIN_SLB_QPS"
	fs.Var(quotaFlag(w.Quotas), "slb-quota", "the account's API quota per region as ACTION=N/W, repeatable or comma separated; unnamed actions keep the published defaults (env DRAIN_SLB_QUOTA)")
	env["slb-quota"] = "DRAIN_SLB_QUOTA"
	dur(&w.Linger, "linger", "DRAIN_LINGER", w.Linger, "how long an idle group waits for company before its call goes out")
	dur(&w.MaxLinger, "max-linger", "DRAIN_MAX_LINGER", w.MaxLinger, "how long a group may keep waiting while requests keep arriving or the stream has a backlog")
	dur(&w.MaxRetry, "max-retry", "DRAIN_MAX_RETRY", w.MaxRetry, "deadline of a request that sets none, from its arrival")
	str(&w.Consumer, "consumer", "DRAIN_CONSUMER", w.Consumer, "durable consumer name")
	str(&w.FilterSubject, "filter-subject", "DRAIN_FILTER_SUBJECT", w.FilterSubject, "the requests this worker serves (a shard)")
	dur(&w.ShutdownTimeout, "shutdown-timeout", "DRAIN_SHUTDOWN_TIMEOUT", w.ShutdownTimeout, "time to finish in-flight work on SIGTERM")
	dur(&w.DrainTimeout, "drain-timeout", "DRAIN_DRAIN_TIMEOUT", w.DrainTimeout, "default wait at weight 0 of a graceful drain")
	num(&w.MinRemaining, "min-remaining", "DRAIN_MIN_REMAINING", w.MinRemaining, "never leave a group with fewer servers of weight > 0 than this, unless a version-2 request says force (0: off)")
	fs.Var((*patternsFlag)(&w.AllowGroups), "allow-group", "regular expression on vserver_group_id, repeatable or comma separated; a request for another group fails NotAllowed (empty: all) (env DRAIN_ALLOW_GROUP)")
	env["allow-group"] = "DRAIN_ALLOW_GROUP"
	dur(&w.WedgeTimeout, "wedge-timeout", "DRAIN_WEDGE_TIMEOUT", w.WedgeTimeout, "/healthz fails when held requests make no progress for this long")
	str(&o.metricsAddr, "metrics-addr", "DRAIN_METRICS_ADDR", "127.0.0.1:9090", "HTTP address for /metrics, /healthz, /readyz")
	str(&o.logLevel, "log-level", "DRAIN_LOG_LEVEL", "info", "log level: debug, info, warn, error")
	dur(&w.AckWait, "ack-wait", "DRAIN_ACK_WAIT", w.AckWait, "JetStream AckWait of the consumer")
	num(&w.MaxAckPending, "max-ack-pending", "DRAIN_MAX_ACK_PENDING", w.MaxAckPending, "requests the worker may hold unacked (memory bound)")
	str(&w.PriorityGroup, "priority-group", "DRAIN_PRIORITY_GROUP", w.PriorityGroup, "consumer priority group pinning one active replica; empty: no pinning")
	dur(&w.PinnedTTL, "pinned-ttl", "DRAIN_PINNED_TTL", w.PinnedTTL, "failover time of the pinned replica")
	num(&w.StreamReplicas, "stream-replicas", "DRAIN_STREAM_REPLICAS", w.StreamReplicas, "replicas of the streams the worker creates")
	fs.BoolVar(&w.UpdateStreams, "update-streams", false, "bring existing streams to the worker's configuration instead of leaving them alone (env DRAIN_UPDATE_STREAMS)")
	env["update-streams"] = "DRAIN_UPDATE_STREAMS"
	dur(&w.EventMaxAge, "event-max-age", "DRAIN_EVENT_MAX_AGE", w.EventMaxAge, "retention of the events stream the worker creates")
	dur(&w.OutcomeTTL, "outcome-ttl", "DRAIN_OUTCOME_TTL", w.OutcomeTTL, "how long outcomes are remembered by request id (the outcomes bucket the worker creates)")
	dur(&w.CredentialRetry, "credential-retry", "DRAIN_CREDENTIAL_RETRY", w.CredentialRetry, "how often failing SLB credentials are probed")
	return fs, env
}

func parseFlags(args []string, getenv func(string) string, stderr io.Writer) (*options, error) {
	o := newOptions()
	fs, env := newFlagSet(o, stderr)
	if err := fs.Parse(args); err != nil {
		return nil, err
	}
	if fs.NArg() > 0 {
		return nil, fmt.Errorf("unexpected arguments: %s", strings.Join(fs.Args(), " "))
	}
	set := map[string]bool{}
	fs.Visit(func(f *flag.Flag) { set[f.Name] = true })
	for name, envName := range env {
		v := getenv(envName)
		if set[name] || v == "" {
			continue
		}
		if err := fs.Set(name, v); err != nil {
			return nil, fmt.Errorf("%s=%q: %w", envName, v, err)
		}
	}
	return o, nil
}

// quotaFlag is --slb-quota: ACTION=N/W entries, repeatable or comma
// separated, each replacing the default of its action.
type quotaFlag map[string]worker.Quota

func (q quotaFlag) String() string { return strings.Join(worker.FormatQuotas(q), ",") }

func (q quotaFlag) Set(v string) error {
	for _, entry := range strings.Split(v, ",") {
		action, quota, err := worker.ParseQuota(strings.TrimSpace(entry))
		if err != nil {
			return err
		}
		q[action] = quota
	}
	return nil
}

// patternsFlag is --allow-group: regular expressions, repeatable or comma
// separated.
type patternsFlag []string

func (p *patternsFlag) String() string { return strings.Join(*p, ",") }

func (p *patternsFlag) Set(v string) error {
	for _, pat := range strings.Split(v, ",") {
		if pat = strings.TrimSpace(pat); pat == "" {
			continue
		}
		if _, err := regexp.Compile(pat); err != nil {
			return fmt.Errorf("allow group %q: %w", pat, err)
		}
		*p = append(*p, pat)
	}
	return nil
}
