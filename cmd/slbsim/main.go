// Command slbsim serves the SLB API emulator (internal/slbsim) for make run,
// compose files and benchmarks: the real Alibaba Cloud SDK, pointed at it
// with an http:// endpoint, cannot tell it from Alibaba.
//
//	slbsim --groups 10 --servers 50 --qps 20
//	drainworker --slb-endpoint http://127.0.0.1:9100 ...
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
	groupsFile    string
	groups        int
	servers       int
	region        string
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

// parseFlags reads args. The key flags default to the SDK's environment
// variables, read after parsing so that -help never prints a secret.
func parseFlags(args []string, getenv func(string) string, out io.Writer) (options, error) {
	var o options
	fs := flag.NewFlagSet("slbsim", flag.ContinueOnError)
	fs.SetOutput(out)
	fs.StringVar(&o.listen, "listen", "127.0.0.1:9100", "HTTP listen address")
	fs.StringVar(&o.accessKeyID, "access-key-id", "", "the accepted AccessKeyId (default: $ALIBABA_CLOUD_ACCESS_KEY_ID, else "+defaultAccessKeyID+")")
	fs.StringVar(&o.secret, "access-key-secret", "", "its secret (default: $ALIBABA_CLOUD_ACCESS_KEY_SECRET, else "+defaultSecret+")")
	fs.StringVar(&o.groupsFile, "groups-file", "", `JSON file of VServer groups: [{"region_id","vserver_group_id","backend_servers":[{"server_id","port","type"}]}]`)
	fs.IntVar(&o.groups, "groups", 0, "generate N groups rsp-sim0001.. in --region")
	fs.IntVar(&o.servers, "servers", 10, "servers per generated group: i-sim0001-0001:80..")
	fs.StringVar(&o.region, "region", "cn-hangzhou", "region of the generated groups")
	fs.Float64Var(&o.qps, "qps", 0, "per-API quota in calls/s, over it 400 Throttling.User (0: unlimited)")
	fs.IntVar(&o.burst, "burst", 0, "quota burst (0: max(1, qps))")
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
	if o.groups < 0 || o.servers < 0 || o.qps < 0 || o.burst < 0 {
		return o, errors.New("--groups, --servers, --qps and --burst cannot be negative")
	}
	return o, nil
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
	specs = append(specs, slbsim.GenerateGroups(o.region, o.groups, o.servers)...)

	sim, srv, err := slbsim.Listen(o.listen, slbsim.Config{
		AccessKeys:     map[string]string{o.accessKeyID: o.secret},
		QPS:            o.qps,
		Burst:          o.burst,
		Latency:        o.latency,
		LatencyJitter:  o.latencyJitter,
		Faults:         o.faults,
		Seed:           o.seed,
		Logger:         logger,
		LogCallsAtInfo: true,
	})
	if err != nil {
		return err
	}
	sim.Seed(specs)
	logger.Info("serving",
		zap.String("url", srv.URL),
		zap.String("access_key_id", o.accessKeyID),
		zap.Int("groups", sim.Groups()),
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
