// Command slbsim serves the SLB API emulator (internal/slbsim) for make run,
// compose files and benchmarks: the real Alibaba Cloud SDK, pointed at it
// with an http:// endpoint, cannot tell it from Alibaba.
//
//	slbsim --groups 10 --servers 50
//	slbsim --region cn-hangzhou,cn-beijing --load-balancers 3 --groups-per-lb 4 --servers 200
//	slbsim --quota RemoveVServerGroupBackendServers=15/10s --foreign-share 0.3
//	drainworker --slb-endpoint http://127.0.0.1:9100 ...
//
// It counts calls as a new Alibaba account does, per (region, action,
// account), with the published quotas (RemoveVServerGroupBackendServers:
// 90 per 60 s; slbsim.AlibabaQuotas) unless --quota-table none or --quota
// say otherwise.
//
// It logs one JSON line per call on stderr at info level (--log-level warn
// silences them) and never logs the AccessKeySecret.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"

	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"

	"github.com/slbdrain/slbdrain/internal/slbsim"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	err := run(ctx, os.Args[1:], os.Getenv, os.Stderr, func(url string) {
		fmt.Fprintf(os.Stderr, "slbsim listening on %s\n", url)
	})
	switch {
	case errors.Is(err, flag.ErrHelp):
	case err != nil:
		fmt.Fprintln(os.Stderr, "slbsim:", err)
		os.Exit(2)
	}
}

// options are the command line.
type options struct {
	listen        string
	accessKeyID   string
	secret        string
	securityToken string        // when set, the key pair is an STS credential
	tokenExpires  time.Duration // after start; 0: never
	groupsFile    string
	groups        int
	servers       int
	loadBalancers int
	groupsPerLB   int
	regions       []string
	quotas        slbsim.Quotas
	regionQuotas  map[string]slbsim.Quotas
	sticky        []sticky
	qps           float64
	burst         int
	latency       time.Duration
	latencyJitter time.Duration
	faults        slbsim.Faults
	seed          int64
	logLevel      zapcore.Level
}

const (
	defaultAccessKeyID = "slbsim-ak"
	defaultSecret      = "slbsim-secret"
	shutdownTimeout    = 5 * time.Second
)

// listFlag is a repeatable string flag.
type listFlag []string

func (l *listFlag) String() string     { return strings.Join(*l, " ") }
func (l *listFlag) Set(v string) error { *l = append(*l, v); return nil }

// sticky is one --sticky: a server that stays for its first calls.
type sticky struct {
	region, group, server string
	port, calls           int
}

// parseFlags reads args. The key flags default to the SDK's environment
// variables, read after parsing so that -help never prints a secret.
func parseFlags(args []string, getenv func(string) string, out io.Writer) (options, error) {
	var o options
	fs := flag.NewFlagSet("slbsim", flag.ContinueOnError)
	fs.SetOutput(out)
	fs.StringVar(&o.listen, "listen", "127.0.0.1:9100", "HTTP listen address")
	fs.StringVar(&o.accessKeyID, "access-key-id", "", "the accepted AccessKeyId (default: $ALIBABA_CLOUD_ACCESS_KEY_ID, else "+defaultAccessKeyID+")")
	fs.StringVar(&o.secret, "access-key-secret", "", "its secret (default: $ALIBABA_CLOUD_ACCESS_KEY_SECRET, else "+defaultSecret+")")
	fs.StringVar(&o.securityToken, "security-token", "", "accept the key pair as an STS credential with this SecurityToken (default: $ALIBABA_CLOUD_SECURITY_TOKEN)")
	fs.DurationVar(&o.tokenExpires, "security-token-expires", 0, "the STS credential expires this long after start (0: never)")
	fs.StringVar(&o.groupsFile, "groups-file", "", `JSON file of VServer groups: [{"region_id","vserver_group_id","load_balancer_id","backend_servers":[{"server_id","port","type","weight"}]}]`)
	fs.IntVar(&o.groups, "groups", 0, "generate N groups rsp-sim0001.. in each --region, each on its own load balancer")
	fs.IntVar(&o.servers, "servers", 10, "servers per generated group: i-sim0001-0001:80.. (with --load-balancers: i-lbsim0001.. in every group)")
	fs.IntVar(&o.loadBalancers, "load-balancers", 0, "generate N load balancers lb-sim01.. in each --region, of --groups-per-lb groups rsp-sim01g01.. that all hold the same --servers, group g on port 79+g")
	fs.IntVar(&o.groupsPerLB, "groups-per-lb", 1, "groups per generated load balancer")
	region := fs.String("region", "cn-hangzhou", "region(s) of the generated groups, comma separated")
	quotaTable := fs.String("quota-table", "alibaba", "base quotas: alibaba (a new account's published defaults, e.g. RemoveVServerGroupBackendServers=90/60s) or none")
	var quotaFlags, stickyFlags listFlag
	fs.Var(&quotaFlags, "quota", "[REGION:]ACTION=N/W[,sliding][,foreign=SHARE[±JITTER]], repeatable: the quota of an action (in one region), e.g. RemoveVServerGroupBackendServers=15/10s; ACTION=unlimited lifts it")
	foreignShare := fs.Float64("foreign-share", 0, "share (0-1) of every quota window that another tool of the account spends first, for quotas that set none")
	foreignJitter := fs.Float64("foreign-jitter", 0, "the foreign share varies by up to this much from window to window")
	sliding := fs.Bool("sliding", false, "count every quota over a sliding window instead of fixed ones")
	fs.Var(&stickyFlags, "sticky", "REGION/GROUP/SERVER:PORT=K, repeatable: the server stays in the group (and in the Remove answer) for its first K Remove calls (-1 or forever: always)")
	fs.Float64Var(&o.qps, "qps", 0, "an extra token-bucket quota per action, all regions and accounts together, in calls/s (0: none)")
	fs.IntVar(&o.burst, "burst", 0, "burst of --qps (0: max(1, qps))")
	fs.DurationVar(&o.latency, "latency", 0, "latency added to every call")
	fs.DurationVar(&o.latencyJitter, "latency-jitter", 0, "plus a uniform random [0, jitter)")
	fs.Float64Var(&o.faults.Throttling, "throttle-rate", 0, "probability of 400 Throttling per call")
	fs.Float64Var(&o.faults.ServiceUnavailable, "unavailable-rate", 0, "probability of 503 ServiceUnavailable per call")
	fs.Float64Var(&o.faults.SystemBusy, "busy-rate", 0, "probability of 400 SystemBusy per call")
	fs.Float64Var(&o.faults.Slow, "slow-rate", 0, "probability of an answer delayed by --slow-delay (the action is applied)")
	fs.DurationVar(&o.faults.SlowDelay, "slow-delay", 30*time.Second, "delay of a slow answer")
	fs.Float64Var(&o.faults.Drop, "drop-rate", 0, "probability of a connection closed without answer (the action is not applied)")
	fs.Int64Var(&o.seed, "seed", 0, "randomness seed (0: a fixed default)")
	level := zap.InfoLevel
	fs.TextVar(&level, "log-level", zap.InfoLevel, "log level: debug, info, warn, error")
	if err := fs.Parse(args); err != nil {
		return o, err
	}
	if fs.NArg() > 0 {
		return o, fmt.Errorf("unexpected arguments %q", fs.Args())
	}
	o.logLevel = level
	o.accessKeyID = firstNonEmpty(o.accessKeyID, getenv("ALIBABA_CLOUD_ACCESS_KEY_ID"), defaultAccessKeyID)
	o.secret = firstNonEmpty(o.secret, getenv("ALIBABA_CLOUD_ACCESS_KEY_SECRET"), defaultSecret)
	o.securityToken = firstNonEmpty(o.securityToken, getenv("ALIBABA_CLOUD_SECURITY_TOKEN"))
	for _, r := range strings.Split(*region, ",") {
		if r = strings.TrimSpace(r); r != "" {
			o.regions = append(o.regions, r)
		}
	}
	var err error
	if o.quotas, o.regionQuotas, err = quotasFrom(*quotaTable, quotaFlags, *foreignShare, *foreignJitter, *sliding); err != nil {
		return o, err
	}
	for _, v := range stickyFlags {
		st, err := parseSticky(v)
		if err != nil {
			return o, err
		}
		o.sticky = append(o.sticky, st)
	}
	f := o.faults
	for name, p := range map[string]float64{"throttle-rate": f.Throttling, "unavailable-rate": f.ServiceUnavailable,
		"busy-rate": f.SystemBusy, "slow-rate": f.Slow, "drop-rate": f.Drop} {
		if p < 0 || p > 1 {
			return o, fmt.Errorf("--%s %v: want a probability in [0, 1]", name, p)
		}
	}
	if f.Throttling+f.ServiceUnavailable+f.SystemBusy+f.Slow+f.Drop > 1 {
		return o, errors.New("the fault rates add up to more than 1")
	}
	if o.groups < 0 || o.servers < 0 || o.loadBalancers < 0 || o.groupsPerLB < 0 || o.qps < 0 || o.burst < 0 || o.tokenExpires < 0 {
		return o, errors.New("--groups, --servers, --load-balancers, --groups-per-lb, --qps, --burst and --security-token-expires cannot be negative")
	}
	if (o.groups > 0 || o.loadBalancers > 0) && len(o.regions) == 0 {
		return o, errors.New("--region: name at least one region for the generated groups")
	}
	return o, nil
}

// quotasFrom builds the quotas: the base table, then each --quota, then the
// foreign share and the sliding window for every quota.
func quotasFrom(table string, flags []string, share, jitter float64, sliding bool) (slbsim.Quotas, map[string]slbsim.Quotas, error) {
	var quotas slbsim.Quotas
	switch table {
	case "alibaba":
		quotas = slbsim.AlibabaQuotas()
	case "none":
		quotas = slbsim.Quotas{}
	default:
		return nil, nil, fmt.Errorf("--quota-table %q: want alibaba or none", table)
	}
	if share < 0 || share > 1 || jitter < 0 || jitter > 1 {
		return nil, nil, errors.New("--foreign-share and --foreign-jitter: want numbers from 0 to 1")
	}
	regional := map[string]slbsim.Quotas{}
	for _, v := range flags {
		region, rule := "", v
		if before, after, ok := strings.Cut(v, ":"); ok && !strings.Contains(before, "=") {
			region, rule = before, after
		}
		action, q, err := slbsim.ParseActionQuota(rule)
		if err != nil {
			return nil, nil, fmt.Errorf("--quota: %w", err)
		}
		if region == "" {
			quotas[action] = q
			continue
		}
		if regional[region] == nil {
			regional[region] = slbsim.Quotas{}
		}
		regional[region][action] = q
	}
	adjust := func(qs slbsim.Quotas) {
		for action, q := range qs {
			if !q.Limited() {
				continue
			}
			if q.ForeignShare == 0 && q.ForeignJitter == 0 {
				q.ForeignShare, q.ForeignJitter = share, jitter
			}
			q.Sliding = q.Sliding || sliding
			qs[action] = q
		}
	}
	adjust(quotas)
	for _, qs := range regional {
		adjust(qs)
	}
	return quotas, regional, nil
}

// parseSticky reads REGION/GROUP/SERVER:PORT=K.
func parseSticky(v string) (sticky, error) {
	bad := func(why string) (sticky, error) {
		return sticky{}, fmt.Errorf("--sticky %q: %s (want REGION/GROUP/SERVER:PORT=K, e.g. cn-hangzhou/rsp-sim0001/i-sim0001-0001:80=2)", v, why)
	}
	where, count, ok := strings.Cut(v, "=")
	if !ok {
		return bad("no =K")
	}
	parts := strings.Split(where, "/")
	if len(parts) != 3 || parts[0] == "" || parts[1] == "" {
		return bad("want three /-separated parts")
	}
	server, portText, ok := strings.Cut(parts[2], ":")
	port, err := strconv.Atoi(portText)
	if !ok || server == "" || err != nil || port < 1 || port > 65535 {
		return bad("want SERVER:PORT with a port in 1-65535")
	}
	calls := slbsim.Forever
	if count != "forever" {
		if calls, err = strconv.Atoi(count); err != nil || calls < -1 || calls == 0 {
			return bad("K: want a number of calls above 0, or -1 or forever")
		}
	}
	return sticky{region: parts[0], group: parts[1], server: server, port: port, calls: calls}, nil
}

// quotaSummary lists the quotas for the start-up log line, in a stable
// order.
func quotaSummary(qs slbsim.Quotas) []string {
	out := make([]string, 0, len(qs))
	for action, q := range qs {
		out = append(out, action+"="+q.String())
	}
	slices.Sort(out)
	return out
}

func firstNonEmpty(vs ...string) string {
	for _, v := range vs {
		if v != "" {
			return v
		}
	}
	return ""
}

// run serves until ctx is done, then shuts down gracefully. ready gets the
// base URL once the emulator accepts calls.
func run(ctx context.Context, args []string, getenv func(string) string, stderr io.Writer, ready func(url string)) error {
	o, err := parseFlags(args, getenv, stderr)
	if err != nil {
		return err
	}
	logger := zap.New(zapcore.NewCore(
		zapcore.NewJSONEncoder(zap.NewProductionEncoderConfig()),
		zapcore.Lock(zapcore.AddSync(stderr)),
		o.logLevel,
	)).Named("slbsim")
	defer logger.Sync() //nolint:errcheck // stderr

	var specs []slbsim.GroupSpec
	if o.groupsFile != "" {
		if specs, err = slbsim.LoadGroupsFile(o.groupsFile); err != nil {
			return err
		}
	}
	for _, region := range o.regions {
		specs = append(specs, slbsim.GenerateGroups(region, o.groups, o.servers)...)
		specs = append(specs, slbsim.GenerateLoadBalancers(region, o.loadBalancers, o.groupsPerLB, o.servers)...)
	}

	cfg := slbsim.Config{
		Quotas:         o.quotas,
		RegionQuotas:   o.regionQuotas,
		QPS:            o.qps,
		Burst:          o.burst,
		Latency:        o.latency,
		LatencyJitter:  o.latencyJitter,
		Faults:         o.faults,
		Seed:           o.seed,
		Logger:         logger,
		LogCallsAtInfo: true,
	}
	if o.securityToken != "" {
		sts := slbsim.STSCredential{AccessKeyID: o.accessKeyID, AccessKeySecret: o.secret, SecurityToken: o.securityToken}
		if o.tokenExpires > 0 {
			sts.Expiration = time.Now().Add(o.tokenExpires)
		}
		cfg.STSCredentials = []slbsim.STSCredential{sts}
	} else {
		cfg.AccessKeys = map[string]string{o.accessKeyID: o.secret}
	}
	sim, srv, err := slbsim.Listen(o.listen, cfg)
	if err != nil {
		return err
	}
	sim.Seed(specs)
	for _, st := range o.sticky {
		sim.StickServer(st.region, st.group, st.server, st.port, st.calls)
	}
	regional := make(map[string][]string, len(o.regionQuotas))
	for region, qs := range o.regionQuotas {
		regional[region] = quotaSummary(qs)
	}
	logger.Info("serving",
		zap.String("url", srv.URL),
		zap.String("access_key_id", o.accessKeyID),
		zap.Bool("sts", o.securityToken != ""),
		zap.Strings("regions", o.regions),
		zap.Int("groups", sim.Groups()),
		zap.Strings("quotas", quotaSummary(o.quotas)),
		zap.Any("region_quotas", regional),
		zap.Int("sticky_servers", len(o.sticky)),
		zap.Float64("qps", o.qps),
		zap.Duration("latency", o.latency),
		zap.Any("faults", o.faults))
	ready(srv.URL)

	<-ctx.Done()
	shutdownCtx, cancel := context.WithTimeout(context.Background(), shutdownTimeout)
	defer cancel()
	err = srv.Shutdown(shutdownCtx)
	st := sim.Stats()
	logger.Info("stopped", zap.Int64("calls", st.Calls), zap.Int64("succeeded", st.Succeeded),
		zap.Int64("throttled", st.Throttled), zap.Int64("faulted", st.Faulted), zap.Int64("overlaps", st.Overlaps),
		zap.Int64("servers_removed", st.ServersRemoved))
	return err
}
