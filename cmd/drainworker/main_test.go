package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/slbdrain/slbdrain/internal/natstest"
	"github.com/slbdrain/slbdrain/internal/slbsim"
	"github.com/slbdrain/slbdrain/internal/syncbuf"
	"github.com/slbdrain/slbdrain/messages"
)

const (
	testAK     = "LTAI-bin-test"
	testSecret = "bin-secret-never-logged-91c2"
	region     = "cn-hangzhou"
)

func TestFlagsEnvironmentAndDefaults(t *testing.T) {
	env := map[string]string{"DRAIN_MAX_BATCH": "10", "DRAIN_LINGER": "7ms", "DRAIN_CONSUMER": "from-env"}
	o, err := parseFlags([]string{"--consumer", "from-flag"}, func(k string) string { return env[k] }, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	if o.worker.Consumer != "from-flag" {
		t.Errorf("consumer %q: the flag must win over the environment", o.worker.Consumer)
	}
	if o.worker.MaxBatch != 10 || o.worker.Linger != 7*time.Millisecond {
		t.Errorf("max batch %d, linger %s: the environment must win over defaults", o.worker.MaxBatch, o.worker.Linger)
	}
	if o.worker.Concurrency != 16 || o.worker.SLBQPS != 20 || o.worker.MaxRetry != 15*time.Minute ||
		o.embeddedListen != "127.0.0.1:4222" || o.dataDir != "./data" || o.metricsAddr != "127.0.0.1:9090" ||
		o.worker.FilterSubject != "slb.drain.request.>" || o.worker.ShutdownTimeout != 30*time.Second || o.logLevel != "info" {
		t.Errorf("defaults differ from the contract: %+v", o)
	}
	if _, err := parseFlags(nil, func(k string) string {
		if k == "DRAIN_MAX_BATCH" {
			return "many"
		}
		return ""
	}, io.Discard); err == nil || !strings.Contains(err.Error(), "DRAIN_MAX_BATCH") {
		t.Errorf("a bad environment value must name its variable, got %v", err)
	}
}

// Every flag of the contract's table exists with its environment variable.
func TestContractFlags(t *testing.T) {
	_, env := newFlagSet(newOptions(), io.Discard)
	for flag, envName := range map[string]string{
		"nats-url": "DRAIN_NATS_URL", "embedded-listen": "DRAIN_EMBEDDED_LISTEN", "data-dir": "DRAIN_DATA_DIR",
		"nats-creds": "DRAIN_NATS_CREDS", "slb-endpoint": "DRAIN_SLB_ENDPOINT", "max-batch": "DRAIN_MAX_BATCH",
		"concurrency": "DRAIN_CONCURRENCY", "slb-qps": "DRAIN_SLB_QPS", "linger": "DRAIN_LINGER",
		"max-retry": "DRAIN_MAX_RETRY", "consumer": "DRAIN_CONSUMER", "filter-subject": "DRAIN_FILTER_SUBJECT",
		"shutdown-timeout": "DRAIN_SHUTDOWN_TIMEOUT", "metrics-addr": "DRAIN_METRICS_ADDR", "log-level": "DRAIN_LOG_LEVEL",
	} {
		if env[flag] != envName {
			t.Errorf("flag --%s: env %q, want %q", flag, env[flag], envName)
		}
	}
}

func TestBadUsageExits2(t *testing.T) {
	var stderr bytes.Buffer
	if code := run(context.Background(), []string{"--no-such-flag"}, func(string) string { return "" }, &stderr); code != 2 {
		t.Errorf("exit %d, want 2", code)
	}
	stderr.Reset()
	if code := run(context.Background(), []string{"--max-batch", "21"}, func(string) string { return "" }, &stderr); code != 2 || !strings.Contains(stderr.String(), "max batch 21") {
		t.Errorf("exit %d (%s), want 2 naming the setting", code, stderr.String())
	}
	stderr.Reset()
	if code := run(context.Background(), []string{"--log-level", "loud"}, func(string) string { return "" }, &stderr); code != 2 || !strings.Contains(stderr.String(), "loud") {
		t.Errorf("exit %d (%s), want 2 naming the level", code, stderr.String())
	}
}

var (
	buildOnce sync.Once
	binPath   string
	buildErr  error
)

// buildBinary builds drainworker once for the tests that run it as users do.
func buildBinary(t *testing.T) string {
	t.Helper()
	buildOnce.Do(func() {
		dir, err := os.MkdirTemp("", "drainworker-bin")
		if err != nil {
			buildErr = err
			return
		}
		binPath = filepath.Join(dir, "drainworker")
		out, err := exec.Command("go", "build", "-o", binPath, ".").CombinedOutput()
		if err != nil {
			buildErr = fmt.Errorf("go build: %v\n%s", err, out)
		}
	})
	if buildErr != nil {
		t.Fatal(buildErr)
	}
	return binPath
}

func TestMain(m *testing.M) {
	code := m.Run()
	if binPath != "" {
		_ = os.RemoveAll(filepath.Dir(binPath))
	}
	os.Exit(code)
}

func freeAddr(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

type process struct {
	cmd    *exec.Cmd
	stderr *syncbuf.Buffer
	done   chan error
}

func startBinary(t *testing.T, env []string, args ...string) *process {
	t.Helper()
	p := &process{cmd: exec.Command(buildBinary(t), args...), stderr: &syncbuf.Buffer{}, done: make(chan error, 1)}
	p.cmd.Env = append(os.Environ(), env...)
	p.cmd.Stderr = p.stderr
	if err := p.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { p.done <- p.cmd.Wait() }()
	t.Cleanup(func() {
		_ = p.cmd.Process.Kill()
		<-p.done
		if strings.Contains(p.stderr.String(), testSecret) {
			t.Error("the AccessKey secret appears in drainworker's logs")
		}
	})
	return p
}

func waitReady(t *testing.T, p *process, metricsAddr string) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for time.Now().Before(deadline) {
		select {
		case err := <-p.done:
			p.done <- err
			t.Fatalf("drainworker exited early: %v\n%s", err, p.stderr.String())
		default:
		}
		resp, err := http.Get("http://" + metricsAddr + "/readyz")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return
			}
		}
		time.Sleep(20 * time.Millisecond) // polling readiness: no event to wait on
	}
	t.Fatalf("drainworker not ready within 30s\n%s", p.stderr.String())
}

func simWithGroups(t *testing.T, latency time.Duration, groups, servers int) (*slbsim.Sim, string) {
	t.Helper()
	sim, srv, err := slbsim.Start(slbsim.Config{AccessKeys: map[string]string{testAK: testSecret}, Latency: latency})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = srv.Close() })
	for g := range groups {
		var b []slbsim.Backend
		for i := range servers {
			b = append(b, slbsim.Backend{ServerID: fmt.Sprintf("i-g%d-%03d", g, i), Port: 80})
		}
		sim.CreateGroup(region, fmt.Sprintf("rsp-g%d", g), b)
	}
	return sim, srv.URL
}

func publishSingles(t *testing.T, js jetstream.JetStream, groups, servers int) []string {
	t.Helper()
	var ids []string
	for i := range servers {
		for g := range groups {
			id := fmt.Sprintf("bin-g%d-%03d", g, i)
			_, err := messages.Publish(context.Background(), js, messages.DrainRequest{Version: 1, RequestID: id, RegionID: region,
				VServerGroupID: fmt.Sprintf("rsp-g%d", g), BackendServers: []messages.BackendServer{{ServerID: fmt.Sprintf("i-g%d-%03d", g, i), Port: 80}}})
			if err != nil {
				t.Fatal(err)
			}
			ids = append(ids, id)
		}
	}
	return ids
}

// eventCounter counts events per request id from the events stream.
type eventCounter struct {
	mu      sync.Mutex
	count   map[string]int
	changed chan struct{}
}

func countEvents(t *testing.T, js jetstream.JetStream) *eventCounter {
	t.Helper()
	ec := &eventCounter{count: map[string]int{}, changed: make(chan struct{})}
	var cons jetstream.Consumer
	var err error
	deadline := time.Now().Add(10 * time.Second)
	for {
		cons, err = js.OrderedConsumer(context.Background(), messages.EventStream, jetstream.OrderedConsumerConfig{})
		if err == nil || time.Now().After(deadline) {
			break
		}
		time.Sleep(20 * time.Millisecond) // the worker creates the stream; no event tells when
	}
	if err != nil {
		t.Fatal(err)
	}
	cc, err := cons.Consume(func(msg jetstream.Msg) {
		var o messages.Outcome
		if err := json.Unmarshal(msg.Data(), &o); err != nil {
			t.Errorf("bad event: %v", err)
			return
		}
		ec.mu.Lock()
		ec.count[o.RequestID]++
		close(ec.changed)
		ec.changed = make(chan struct{})
		ec.mu.Unlock()
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(cc.Stop)
	return ec
}

func (ec *eventCounter) waitFor(t *testing.T, timeout time.Duration, what string, cond func(map[string]int) bool) {
	t.Helper()
	deadline := time.After(timeout)
	for {
		ec.mu.Lock()
		ok, ch := cond(ec.count), ec.changed
		ec.mu.Unlock()
		if ok {
			return
		}
		select {
		case <-ch:
		case <-deadline:
			t.Fatalf("timed out after %s waiting for %s", timeout, what)
		}
	}
}

// SIGTERM mid-flight: the worker finishes what it holds (or hands it back),
// exits 0, and after a restart every request has exactly one event.
func TestSIGTERMMidFlightThenRestart(t *testing.T) {
	srv := natstest.RunServer(t)
	_, js := natstest.Connect(t, srv.ClientURL())
	_, simURL := simWithGroups(t, 30*time.Millisecond, 4, 25)
	metrics := freeAddr(t)
	env := []string{"ALIBABA_CLOUD_ACCESS_KEY_ID=" + testAK, "ALIBABA_CLOUD_ACCESS_KEY_SECRET=" + testSecret}
	args := []string{"--nats-url", srv.ClientURL(), "--slb-endpoint", simURL, "--metrics-addr", metrics,
		"--slb-qps", "5", "--log-level", "debug", "--shutdown-timeout", "500ms"}

	first := startBinary(t, env, args...)
	waitReady(t, first, metrics)
	events := countEvents(t, js)
	ids := publishSingles(t, js, 4, 25)
	events.waitFor(t, 30*time.Second, "a first event", func(c map[string]int) bool { return len(c) > 0 })
	if err := first.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-first.done:
		first.done <- err
		if err != nil {
			t.Fatalf("drainworker exited with %v after SIGTERM, want 0\n%s", err, first.stderr.String())
		}
	case <-time.After(20 * time.Second):
		t.Fatalf("drainworker did not exit within 20s of SIGTERM")
	}
	// At 5 calls/s and 500ms to finish, some work must have been handed back.
	if !regexp.MustCompile(`"msg":"stopped","handed_back":[1-9]`).MatchString(first.stderr.String()) {
		t.Errorf("no shutdown log line handing work back:\n%s", first.stderr.String())
	}

	second := startBinary(t, env, args...)
	waitReady(t, second, metrics)
	events.waitFor(t, 60*time.Second, "an event for every request", func(c map[string]int) bool {
		for _, id := range ids {
			if c[id] == 0 {
				return false
			}
		}
		return true
	})
	events.mu.Lock()
	defer events.mu.Unlock()
	for id, n := range events.count {
		if n != 1 {
			t.Errorf("%s: %d events, want exactly one", id, n)
		}
	}
}

// Without --nats-url the worker starts its own JetStream server.
func TestEmbeddedServer(t *testing.T) {
	sim, simURL := simWithGroups(t, 0, 1, 2)
	metrics, listen := freeAddr(t), freeAddr(t)
	p := startBinary(t, []string{"ALIBABA_CLOUD_ACCESS_KEY_ID=" + testAK, "ALIBABA_CLOUD_ACCESS_KEY_SECRET=" + testSecret},
		"--embedded-listen", listen, "--data-dir", t.TempDir(), "--slb-endpoint", simURL, "--metrics-addr", metrics)
	waitReady(t, p, metrics)
	nc, err := nats.Connect("nats://" + listen)
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	events := countEvents(t, js)
	if _, err := messages.Publish(context.Background(), js, messages.DrainRequest{Version: 1, RequestID: "embedded-1",
		RegionID: region, VServerGroupID: "rsp-g0", BackendServers: []messages.BackendServer{{ServerID: "i-g0-000", Port: 80}}}); err != nil {
		t.Fatal(err)
	}
	events.waitFor(t, 20*time.Second, "the event of embedded-1", func(c map[string]int) bool { return c["embedded-1"] == 1 })
	if left, _ := sim.Backends(region, "rsp-g0"); len(left) != 1 {
		t.Errorf("%d servers left, want 1", len(left))
	}
	// The event is stored before the worker counts it (it counts on the
	// publish ack): poll /metrics until the count shows, with a deadline.
	var body []byte
	want := []string{`slbdrain_outcomes_total{status="completed"} 1`, "slbdrain_api_calls_total", "go_goroutines", "process_resident_memory_bytes"}
	deadline := time.Now().Add(10 * time.Second)
	for {
		resp, err := http.Get("http://" + metrics + "/metrics")
		if err != nil {
			t.Fatal(err)
		}
		body, _ = io.ReadAll(resp.Body)
		resp.Body.Close()
		if bytes.Contains(body, []byte(want[0])) || time.Now().After(deadline) {
			break
		}
		time.Sleep(20 * time.Millisecond) // polling a scrape: no event to wait on
	}
	for _, w := range want {
		if !bytes.Contains(body, []byte(w)) {
			t.Errorf("/metrics lacks %q", w)
		}
	}
	nc.Close()
	if err := p.cmd.Process.Signal(syscall.SIGINT); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-p.done:
		p.done <- err
		if err != nil {
			t.Fatalf("exit %v after SIGINT\n%s", err, p.stderr.String())
		}
	case <-time.After(20 * time.Second):
		t.Fatal("no exit within 20s of SIGINT")
	}
}
