// Command drainworker takes backend servers out of Alibaba Cloud SLB VServer
// groups as drain requests on NATS JetStream ask, and reports each outcome.
// See the contract in the README. This file only wires.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"

	"github.com/slbdrain/slbdrain/internal/embedded"
	"github.com/slbdrain/slbdrain/worker"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, syscall.SIGINT)
	defer stop()
	os.Exit(run(ctx, os.Args[1:], os.Getenv, os.Stderr))
}

// run is main with its inputs passed in; it returns the exit code.
func run(ctx context.Context, args []string, getenv func(string) string, stderr io.Writer) int {
	o, err := parseFlags(args, getenv, stderr)
	if errors.Is(err, flag.ErrHelp) {
		return 0
	}
	if err != nil {
		fmt.Fprintln(stderr, "drainworker:", err)
		return 2
	}
	log, err := newLogger(o.logLevel, stderr)
	if err != nil {
		fmt.Fprintln(stderr, "drainworker:", err)
		return 2
	}
	if err := o.worker.Validate(); err != nil {
		fmt.Fprintln(stderr, "drainworker: bad settings:", err)
		return 2
	}
	defer func() { _ = log.Sync() }()
	if err := serve(ctx, o, log); err != nil {
		log.Error("drainworker failed", zap.Error(err))
		return 1
	}
	return 0
}

func newLogger(level string, out io.Writer) (*zap.Logger, error) {
	lvl, err := zapcore.ParseLevel(level)
	if err != nil {
		return nil, fmt.Errorf("log level %q: %w", level, err)
	}
	enc := zap.NewProductionEncoderConfig()
	enc.EncodeTime = zapcore.ISO8601TimeEncoder
	core := zapcore.NewCore(zapcore.NewJSONEncoder(enc), zapcore.Lock(zapcore.AddSync(out)), lvl)
	return zap.New(core), nil
}

func serve(ctx context.Context, o *options, log *zap.Logger) error {
	// All of shutdown fits --shutdown-timeout: the worker gets it less a
	// tail, and the tail (flush, HTTP server, embedded server) runs to the
	// deadline counted from the signal.
	budget := o.worker.ShutdownTimeout
	tail := min(budget/5, 3*time.Second)
	o.worker.ShutdownTimeout = budget - tail
	deadline := make(chan time.Time, 1)
	context.AfterFunc(ctx, func() { deadline <- time.Now().Add(budget) })
	var closers []func(until time.Time) // run in reverse order after the worker
	defer func() {
		until := time.Now().Add(tail)
		select {
		case until = <-deadline:
		default: // not a signal: a start-up failure
		}
		for i := len(closers) - 1; i >= 0; i-- {
			closers[i](until)
		}
	}()

	natsCfg := o.nats
	if natsCfg.URL == "" {
		srv, err := embedded.Start(ctx, embedded.Config{Listen: o.embeddedListen, DataDir: o.dataDir, ServerName: "drainworker-embedded", Logger: log.Named("nats")})
		if err != nil {
			return fmt.Errorf("start embedded nats: %w", err)
		}
		closers = append(closers, func(until time.Time) { // stops last, after the worker
			done := make(chan struct{})
			go func() { srv.Shutdown(); close(done) }()
			select {
			case <-done:
			case <-time.After(time.Until(until)):
				log.Warn("embedded nats server still stopping at the shutdown deadline")
			}
		})
		natsCfg.URL = srv.ClientURL()
		log.Info("embedded JetStream server started", zap.String("url", natsCfg.URL), zap.String("data_dir", o.dataDir))
	}
	nc, err := natsCfg.Connect("drainworker",
		nats.ReconnectWait(500*time.Millisecond),
		nats.DisconnectErrHandler(func(_ *nats.Conn, err error) {
			log.Warn("nats disconnected", zap.Error(err))
		}),
		nats.ReconnectHandler(func(nc *nats.Conn) {
			log.Info("nats reconnected", zap.String("url", nc.ConnectedUrlRedacted()))
		}),
	)
	if err != nil {
		return err
	}
	closers = append(closers, func(until time.Time) {
		// Flush what acks and events are still buffered before closing.
		if wait := time.Until(until) / 2; wait > 0 {
			if ferr := nc.FlushTimeout(wait); ferr != nil && !errors.Is(ferr, nats.ErrConnectionClosed) {
				log.Warn("flush nats", zap.Error(ferr))
			}
		}
		nc.Close()
	})

	newRemover, err := worker.NewSDKRemoverFactory(worker.SDKConfig{
		Endpoint: o.slbEndpoint, ReadTimeout: o.slbTimeout, ConnectTimeout: min(o.slbTimeout, 5*time.Second)})
	if err != nil {
		return err
	}
	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	w, err := worker.New(o.worker, nc, newRemover, worker.WithLogger(log), worker.WithRegisterer(reg))
	if err != nil {
		return err
	}
	stopHTTP, err := serveHTTP(o.metricsAddr, reg, w, log)
	if err != nil {
		return err
	}
	closers = append(closers, stopHTTP)
	return w.Run(ctx)
}

// serveHTTP serves /metrics, /healthz (the process is alive and not wedged) and /readyz
// (the worker takes work; the body says why not, and the replica's role).
func serveHTTP(addr string, reg *prometheus.Registry, w *worker.Worker, log *zap.Logger) (stop func(until time.Time), err error) {
	mux := http.NewServeMux()
	mux.Handle("GET /metrics", promhttp.HandlerFor(reg, promhttp.HandlerOpts{Registry: reg}))
	mux.HandleFunc("GET /healthz", func(rw http.ResponseWriter, _ *http.Request) {
		if err := w.Healthy(); err != nil {
			rw.WriteHeader(http.StatusServiceUnavailable)
			fmt.Fprintln(rw, "unhealthy:", err)
			return
		}
		fmt.Fprintln(rw, "ok")
	})
	mux.HandleFunc("GET /readyz", readyzHandler(w))
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("metrics listen %s: %w", addr, err)
	}
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 5 * time.Second}
	go func() {
		if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			log.Error("metrics server", zap.Error(err))
		}
	}()
	log.Info("serving metrics and health", zap.String("addr", ln.Addr().String()))
	return func(until time.Time) {
		ctx, cancel := context.WithDeadline(context.Background(), until)
		defer cancel()
		if err := srv.Shutdown(ctx); err != nil {
			_ = srv.Close() // out of time: drop the connections still open
		}
	}, nil
}

// readySource is what /readyz reports: *worker.Worker.
type readySource interface {
	Ready() error
	Role() worker.Role
}

// readyzHandler answers 200 "ready (<role>)" while the worker takes work, else 503
// "not ready: <reason>" and a second line with the role ("role: active").
// The role says whether this replica holds the consumer's pin (active: the
// one that drains), is a standby, or does not know yet (it learns its pin
// from a delivery): "role unknown: no request delivered yet".
func readyzHandler(src readySource) http.HandlerFunc {
	return func(rw http.ResponseWriter, _ *http.Request) {
		rw.Header().Set("Content-Type", "text/plain; charset=utf-8")
		role := src.Role()
		if err := src.Ready(); err != nil {
			rw.WriteHeader(http.StatusServiceUnavailable)
			fmt.Fprintln(rw, "not ready:", err)
			if role == worker.RoleActive || role == worker.RoleStandby {
				fmt.Fprintln(rw, "role:", role)
			} else {
				fmt.Fprintln(rw, roleUnknown)
			}
			return
		}
		if role == worker.RoleActive || role == worker.RoleStandby {
			fmt.Fprintf(rw, "ready (%s)\n", role)
		} else {
			fmt.Fprintf(rw, "ready (%s)\n", roleUnknown)
		}
	}
}

const roleUnknown = "role unknown: no request delivered yet"
