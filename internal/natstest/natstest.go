// Package natstest gives tests a real NATS JetStream broker: one embedded
// node, or a cluster of nodes that can be stopped and restarted.
//
// Set NATSTEST_LOG=1 to see the servers' logs in the test output.
package natstest

import (
	"context"
	"os"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"go.uber.org/zap"
	"go.uber.org/zap/zaptest"

	"github.com/slbdrain/slbdrain/internal/embedded"
)

// Account is the account every natstest server serves clients in (no auth
// is configured), needed to ask the server about its streams.
const Account = "$G"

// waitTimeout bounds every wait in this package; generous because the
// machine running tests is shared and slow, and only reached on failure.
const waitTimeout = 30 * time.Second

// RunServer starts a single-node JetStream server on a random loopback port
// with its store in a test temporary directory, and shuts it down when the
// test ends.
func RunServer(t testing.TB) *embedded.Server {
	t.Helper()
	s := start(t, embedded.Config{
		Listen:     "127.0.0.1:0",
		DataDir:    t.TempDir(),
		ServerName: "natstest",
		Logger:     logger(t),
	})
	t.Cleanup(s.Shutdown)
	return s
}

// Connect connects to url (comma separated for a cluster) and closes the
// connection when the test ends. Reconnects are quick and unlimited, so a
// client of a cluster moves on at once when its node stops; opts override.
func Connect(t testing.TB, url string, opts ...nats.Option) (*nats.Conn, jetstream.JetStream) {
	t.Helper()
	all := append([]nats.Option{
		nats.Name(t.Name()),
		nats.ReconnectWait(50 * time.Millisecond),
		nats.MaxReconnects(-1),
	}, opts...)
	nc, err := nats.Connect(url, all...)
	if err != nil {
		t.Fatalf("natstest: connect to %s: %v", url, err)
	}
	t.Cleanup(nc.Close)
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatalf("natstest: JetStream context on %s: %v", url, err)
	}
	return nc, js
}

func start(t testing.TB, cfg embedded.Config) *embedded.Server {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), waitTimeout)
	defer cancel()
	s, err := embedded.Start(ctx, cfg)
	if err != nil {
		t.Fatalf("natstest: %v", err)
	}
	return s
}

// logger is nil (no server logs) unless NATSTEST_LOG is set: the servers
// log a lot, and only a failing test is worth reading them for.
func logger(t testing.TB) *zap.Logger {
	if os.Getenv("NATSTEST_LOG") == "" {
		return nil
	}
	return zaptest.NewLogger(t, zaptest.Level(zap.DebugLevel))
}

// waitFor polls cond every 20ms until it holds, failing the test after
// waitTimeout. Only for state that has no event to wait on (raft
// leadership and replication are only visible as server state).
func waitFor(t testing.TB, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(waitTimeout)
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("natstest: timed out after %s waiting for %s", waitTimeout, what)
		}
		<-tick.C
	}
}
