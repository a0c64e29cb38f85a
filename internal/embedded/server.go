// Package embedded runs a NATS JetStream server inside the current process:
// drainworker uses it when no --nats-url is given, and tests use it (through
// internal/natstest) as their broker, as a single node or a cluster.
package embedded

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"go.uber.org/zap"
)

// DefaultStartTimeout bounds Start and WaitJetStreamReady when their context
// has no deadline.
const DefaultStartTimeout = 10 * time.Second

// pollInterval paces the waits that have no event to wait on: the server
// exposes readiness and leadership only as state to look at.
const pollInterval = 20 * time.Millisecond

// Server is a running embedded NATS server with JetStream enabled.
type Server struct {
	ns  *server.Server
	cfg Config
}

// Start starts a server and returns once it accepts client (and route)
// connections. A cluster node returns without waiting for a JetStream meta
// leader; see WaitJetStreamReady. Without a deadline on ctx, Start gives up
// after DefaultStartTimeout (a long JetStream store recovery can overrun
// it). On error, nothing is left running.
func Start(ctx context.Context, cfg Config) (*Server, error) {
	opts, err := cfg.options()
	if err != nil {
		return nil, err
	}
	where := fmt.Sprintf("listen %s, data dir %s", cfg.listen(), cfg.DataDir)
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("embedded: start NATS server (%s): %w", where, err)
	}
	ctx, cancel := withDefaultTimeout(ctx)
	defer cancel()

	ns, err := server.NewServer(opts)
	if err != nil {
		return nil, fmt.Errorf("embedded: configure NATS server (%s): %w", where, err)
	}
	fatal := make(chan string, 1)
	// Debug logs only when the logger would keep them; trace logs every
	// protocol message and stays off.
	debug := cfg.Logger != nil && cfg.Logger.Core().Enabled(zap.DebugLevel)
	ns.SetLoggerV2(newLogAdapter(cfg.Logger, fatal), debug, false, false)

	fail := func(err error) (*Server, error) {
		ns.Shutdown()
		ns.WaitForShutdown()
		return nil, fmt.Errorf("embedded: start NATS server (%s): %w", where, err)
	}

	// ns.Start recovers the JetStream store and opens the client listener
	// before returning. It cannot be interrupted, and shutting a server down
	// half way through its Start is not safe, so a long store recovery may
	// overrun ctx; the server is shut down (its store released) afterwards.
	ns.Start()

	// The route listener opens asynchronously; readiness covers both.
	for !ns.ReadyForConnections(5 * pollInterval) {
		select {
		case msg := <-fatal:
			return fail(errors.New(msg))
		case <-ctx.Done():
			return fail(ctx.Err())
		default:
		}
	}
	// A fatal error before readiness (JetStream could not start) leaves the
	// listeners closed, so it is caught above; check once more for a fatal
	// that raced with the last readiness check.
	select {
	case msg := <-fatal:
		return fail(errors.New(msg))
	default:
	}
	return &Server{ns: ns, cfg: cfg}, nil
}

// ClientURL is the URL clients of this process connect to, e.g.
// nats://127.0.0.1:4222 (a wildcard listen address is given as loopback).
func (s *Server) ClientURL() string { return clientURL(s.ns.ClientURL()) }

// Shutdown stops the server gracefully (leadership of clustered streams is
// handed over first) and returns once it is down. Calling it again is a no-op.
func (s *Server) Shutdown() {
	s.ns.Shutdown()
	s.ns.WaitForShutdown()
}

// NATS exposes the nats-server instance, for tests that inspect cluster state.
func (s *Server) NATS() *server.Server { return s.ns }

// Config returns the configuration the server was started with.
func (s *Server) Config() Config { return s.cfg }

// WaitJetStreamReady returns once JetStream can serve API requests on this
// server: immediately for a single node; for a cluster node, once it knows
// the meta leader and is caught up with it. Without a deadline on ctx it gives
// up after DefaultStartTimeout.
func (s *Server) WaitJetStreamReady(ctx context.Context) error {
	ctx, cancel := withDefaultTimeout(ctx)
	defer cancel()
	tick := time.NewTicker(pollInterval)
	defer tick.Stop()
	for {
		if s.jetStreamReady() {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("embedded: wait for JetStream on %s (%s): %w", s.cfg.ServerName, s.cfg.listen(), ctx.Err())
		case <-tick.C:
		}
	}
}

func (s *Server) jetStreamReady() bool {
	if !s.ns.JetStreamEnabled() {
		return false
	}
	if s.cfg.Cluster == nil {
		return true
	}
	return s.MetaLeader() != "" && s.ns.JetStreamIsCurrent()
}

// MetaLeader is the server name of the JetStream meta leader as this server
// knows it, "" when it knows none (or is not clustered).
func (s *Server) MetaLeader() string {
	info, err := s.ns.Jsz(nil)
	if err != nil || info.Meta == nil {
		return ""
	}
	return info.Meta.Leader
}

func withDefaultTimeout(ctx context.Context) (context.Context, context.CancelFunc) {
	if _, ok := ctx.Deadline(); ok {
		return context.WithCancel(ctx)
	}
	return context.WithTimeout(ctx, DefaultStartTimeout)
}
