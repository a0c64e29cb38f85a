package embedded_test

import (
	"context"
	"errors"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
	"go.uber.org/zap/zaptest/observer"

	"github.com/slbdrain/slbdrain/internal/embedded"
)

func start(t *testing.T, cfg embedded.Config) *embedded.Server {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	defer cancel()
	s, err := embedded.Start(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(s.Shutdown)
	return s
}

func connect(t *testing.T, s *embedded.Server) jetstream.JetStream {
	t.Helper()
	nc, err := nats.Connect(s.ClientURL())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(nc.Close)
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	return js
}

// drainworker relies on the embedded server keeping accepted requests
// across a restart on the same data dir.
func TestRestartKeepsStreamContents(t *testing.T) {
	dir := t.TempDir()
	cfg := embedded.Config{Listen: "127.0.0.1:0", DataDir: dir, ServerName: "keep"}
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	defer cancel()

	s := start(t, cfg)
	if err := s.WaitJetStreamReady(ctx); err != nil {
		t.Fatal(err)
	}
	js := connect(t, s)
	if _, err := js.CreateStream(ctx, jetstream.StreamConfig{
		Name: "REQ", Subjects: []string{"req.>"}, Storage: jetstream.FileStorage,
	}); err != nil {
		t.Fatal(err)
	}
	for _, body := range []string{"one", "two"} {
		if _, err := js.Publish(ctx, "req."+body, []byte(body)); err != nil {
			t.Fatal(err)
		}
	}
	s.Shutdown()
	s.Shutdown() // idempotent

	s2 := start(t, cfg)
	if err := s2.WaitJetStreamReady(ctx); err != nil {
		t.Fatal(err)
	}
	js2 := connect(t, s2)
	st, err := js2.Stream(ctx, "REQ")
	if err != nil {
		t.Fatalf("stream after restart: %v", err)
	}
	if n := st.CachedInfo().State.Msgs; n != 2 {
		t.Fatalf("stream has %d messages after restart, want 2", n)
	}
	m, err := st.GetMsg(ctx, 2)
	if err != nil {
		t.Fatal(err)
	}
	if string(m.Data) != "two" || m.Subject != "req.two" {
		t.Errorf("message 2 = %s %q, want req.two \"two\"", m.Subject, m.Data)
	}
}

func TestStartFailsWhenPortTaken(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	addr := l.Addr().String()

	s, err := embedded.Start(t.Context(), embedded.Config{Listen: addr, DataDir: t.TempDir()})
	if err == nil {
		s.Shutdown()
		t.Fatalf("Start on taken address %s succeeded", addr)
	}
	t.Logf("error: %v", err)
	if !strings.Contains(err.Error(), addr) {
		t.Errorf("error %q does not name the listen address %s", err, addr)
	}
}

func TestStartFailsWhenDataDirUnusable(t *testing.T) {
	file := filepath.Join(t.TempDir(), "not-a-dir")
	if err := os.WriteFile(file, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	s, err := embedded.Start(t.Context(), embedded.Config{Listen: "127.0.0.1:0", DataDir: file})
	if err == nil {
		s.Shutdown()
		t.Fatal("Start with a file as data dir succeeded")
	}
	t.Logf("error: %v", err)
	if !strings.Contains(err.Error(), file) || !strings.Contains(err.Error(), "JetStream") {
		t.Errorf("error %q does not say JetStream failed in data dir %s", err, file)
	}
}

func TestStartCancelled(t *testing.T) {
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	s, err := embedded.Start(ctx, embedded.Config{Listen: "127.0.0.1:0", DataDir: t.TempDir()})
	if err == nil {
		s.Shutdown()
		t.Fatal("Start with a cancelled context succeeded")
	}
	if !errors.Is(err, context.Canceled) {
		t.Errorf("error %v does not wrap context.Canceled", err)
	}
}

func TestServerLogsGoToZap(t *testing.T) {
	core, logs := observer.New(zapcore.InfoLevel)
	start(t, embedded.Config{Listen: "127.0.0.1:0", DataDir: t.TempDir(), Logger: zap.New(core)})
	if logs.FilterMessage("Server is ready").FilterLoggerName("nats-server").Len() != 1 {
		t.Errorf("no \"Server is ready\" info from logger nats-server; got %d entries", logs.Len())
	}
	if n := logs.FilterLevelExact(zapcore.DebugLevel).Len(); n != 0 {
		t.Errorf("%d debug entries reached an info logger", n)
	}
}

func TestWaitJetStreamReadySingleNode(t *testing.T) {
	s := start(t, embedded.Config{Listen: "127.0.0.1:0", DataDir: t.TempDir()})
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	// A single node is ready as soon as Start returns, even with no time left.
	if err := s.WaitJetStreamReady(ctx); err != nil {
		t.Fatal(err)
	}
	if l := s.MetaLeader(); l != "" {
		t.Errorf("single node reports meta leader %q", l)
	}
}
