package natstest

import (
	"bufio"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"

	"github.com/slbdrain/slbdrain/internal/syncbuf"
)

// serverModule is the nats-server module of go.mod; its root package is the
// nats-server program.
const serverModule = "github.com/nats-io/nats-server/v2"

// ProcessOptions configure a nats-server process.
type ProcessOptions struct {
	// Name is the server name (default "natsproc").
	Name string
	// Config is appended verbatim to the generated configuration file
	// (nats-server's configuration syntax), for settings this package does
	// not set itself.
	Config string
}

// Process is nats-server running as a separate program, the way production
// runs it: restarts, pinning and failover are those of the real server, not
// of one embedded in the test process. It listens on loopback, with JetStream
// stored in a test temporary directory, and its monitoring port serves
// /healthz and /jsz. A stopped or killed process restarts on the same ports
// and store.
//
// Set NATSTEST_LOG=1 to see its log in the test output (a failed test shows
// the tail of it anyway).
type Process struct {
	t        testing.TB
	name     string
	port     int // client
	httpPort int // monitoring
	conf     string
	cluster  *ProcessCluster // nil for a single node
	logs     *syncbuf.Buffer // every incarnation's output

	mu   sync.Mutex
	cmd  *exec.Cmd     // nil while stopped
	done chan struct{} // closed when cmd has exited
	runs int
}

// StartProcess builds nats-server (once per test binary, cached under
// os.TempDir by module version) and starts a single JetStream node of it.
// It returns once the server takes clients and reports healthy; the process
// is killed when the test ends.
func StartProcess(t testing.TB, opts ProcessOptions) *Process {
	t.Helper()
	ports := freePorts(t, 2)
	p := newProcess(t, opts, ports[0], ports[1], "")
	p.start()
	p.waitHealthy(t)
	return p
}

func newProcess(t testing.TB, opts ProcessOptions, port, httpPort int, clusterConf string) *Process {
	t.Helper()
	name := opts.Name
	if name == "" {
		name = "natsproc"
	}
	dir := t.TempDir()
	conf := fmt.Sprintf("server_name: %q\nlisten: \"127.0.0.1:%d\"\nhttp: \"127.0.0.1:%d\"\njetstream {\n  store_dir: %q\n}\n%s\n%s\n",
		name, port, httpPort, filepath.Join(dir, "jetstream"), clusterConf, opts.Config)
	path := filepath.Join(dir, "nats-server.conf")
	if err := os.WriteFile(path, []byte(conf), 0o644); err != nil {
		t.Fatalf("natstest: write %s: %v", path, err)
	}
	p := &Process{t: t, name: name, port: port, httpPort: httpPort, conf: path, logs: &syncbuf.Buffer{}}
	t.Cleanup(func() {
		p.Kill()
		if t.Failed() || os.Getenv("NATSTEST_LOG") != "" {
			t.Logf("natstest: log of nats-server %s (last 32 KiB):\n%s", name, tail(p.logs.String(), 32<<10))
		}
	})
	return p
}

// URL is the client URL, the same across restarts.
func (p *Process) URL() string { return fmt.Sprintf("nats://127.0.0.1:%d", p.port) }

// Name is the server name (what JetStream calls leaders and peers by).
func (p *Process) Name() string { return p.name }

// PID is the process id of the running incarnation, 0 while stopped.
func (p *Process) PID() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.cmd == nil {
		return 0
	}
	return p.cmd.Process.Pid
}

// Running says whether the process runs (it has not exited).
func (p *Process) Running() bool {
	p.mu.Lock()
	done := p.done
	p.mu.Unlock()
	if done == nil {
		return false
	}
	select {
	case <-done:
		return false
	default:
		return true
	}
}

// Logs is everything the server printed, all incarnations.
func (p *Process) Logs() string { return p.logs.String() }

// Stop shuts the server down gracefully (SIGTERM) and waits for it to exit,
// keeping its store. Stopping a stopped server does nothing.
func (p *Process) Stop() { p.signal(syscall.SIGTERM) }

// Kill ends the server at once (SIGKILL), as a crash or a lost machine
// would, and waits for it to exit. Killing a stopped server does nothing.
func (p *Process) Kill() { p.signal(syscall.SIGKILL) }

// Restart starts a stopped server again on its ports and store and waits
// until it is healthy (a cluster node: until it has rejoined, see
// ProcessCluster.WaitJetStreamReady).
func (p *Process) Restart() {
	p.t.Helper()
	if p.Running() {
		p.t.Fatalf("natstest: restart nats-server %s: it is running", p.name)
	}
	p.start()
	if p.cluster != nil {
		p.waitUp(p.t)
		p.cluster.WaitJetStreamReady(p.t)
		return
	}
	p.waitHealthy(p.t)
}

func (p *Process) signal(sig syscall.Signal) {
	p.mu.Lock()
	cmd, done := p.cmd, p.done
	p.cmd = nil
	p.mu.Unlock()
	if cmd == nil {
		return
	}
	_ = cmd.Process.Signal(sig)
	select {
	case <-done:
		return
	case <-time.After(waitTimeout):
	}
	p.t.Errorf("natstest: nats-server %s did not exit within %s of %s; killing it", p.name, waitTimeout, sig)
	_ = cmd.Process.Kill()
	<-done
}

func (p *Process) start() {
	p.t.Helper()
	bin := ServerBinary(p.t)
	p.mu.Lock()
	defer p.mu.Unlock()
	p.runs++
	fmt.Fprintf(p.logs, "----- natstest: start %d of nats-server %s -----\n", p.runs, p.name)
	cmd := exec.Command(bin, "-c", p.conf)
	cmd.Stdout, cmd.Stderr = p.logs, p.logs
	cmd.SysProcAttr = sysProcAttr()
	if err := cmd.Start(); err != nil {
		p.t.Fatalf("natstest: start nats-server %s: %v", p.name, err)
	}
	done := make(chan struct{})
	go func() {
		err := cmd.Wait()
		fmt.Fprintf(p.logs, "----- natstest: nats-server %s exited: %v -----\n", p.name, err)
		close(done)
	}()
	p.cmd, p.done = cmd, done
}

// waitUp waits until the server takes client connections (sends its INFO).
func (p *Process) waitUp(t testing.TB) {
	t.Helper()
	p.waitRunning(t, "client port of nats-server "+p.name, p.up)
}

// waitHealthy waits until the server takes clients and /healthz says ok
// (JetStream enabled, current, its streams recovered).
func (p *Process) waitHealthy(t testing.TB) {
	t.Helper()
	p.waitRunning(t, "nats-server "+p.name+" healthy", func() bool { return p.up() && p.healthy() })
}

func (p *Process) waitRunning(t testing.TB, what string, cond func() bool) {
	t.Helper()
	waitFor(t, what, func() bool {
		if !p.Running() {
			t.Fatalf("natstest: nats-server %s exited while waiting for %s; log:\n%s", p.name, what, tail(p.logs.String(), 8<<10))
		}
		return cond()
	})
}

func (p *Process) up() bool {
	c, err := net.DialTimeout("tcp", fmt.Sprintf("127.0.0.1:%d", p.port), time.Second)
	if err != nil {
		return false
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(time.Second))
	line, err := bufio.NewReader(c).ReadString('\n')
	return err == nil && strings.HasPrefix(line, "INFO ")
}

func (p *Process) healthy() bool {
	resp, err := monitorClient.Get(fmt.Sprintf("http://127.0.0.1:%d/healthz", p.httpPort))
	if err != nil {
		return false
	}
	resp.Body.Close()
	return resp.StatusCode == http.StatusOK
}

// Jsz is the server's /jsz with account, stream and consumer details: its
// own view of the JetStream cluster and its local copy of every stream and
// consumer it holds.
func (p *Process) Jsz() (*server.JSInfo, error) {
	resp, err := monitorClient.Get(fmt.Sprintf("http://127.0.0.1:%d/jsz?accounts=true&streams=true&consumers=true", p.httpPort))
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("/jsz of %s: %s", p.name, resp.Status)
	}
	var info server.JSInfo
	if err := json.NewDecoder(resp.Body).Decode(&info); err != nil {
		return nil, fmt.Errorf("/jsz of %s: %w", p.name, err)
	}
	return &info, nil
}

// stream is p's local detail of stream (in Account), if it holds one.
func (p *Process) stream(name string) (server.StreamDetail, bool) {
	info, err := p.Jsz()
	if err != nil {
		return server.StreamDetail{}, false
	}
	for _, a := range info.AccountDetails {
		if a.Name != Account && a.Id != Account {
			continue
		}
		for _, s := range a.Streams {
			if s.Name == name {
				return s, true
			}
		}
	}
	return server.StreamDetail{}, false
}

var monitorClient = &http.Client{Timeout: 2 * time.Second}

// ProcessCluster is a JetStream cluster of nats-server processes on
// loopback. Each node keeps its ports and store for the life of the
// cluster: a stopped or killed node restarts as the same member.
type ProcessCluster struct {
	t     testing.TB
	nodes []*Process
}

// StartProcessCluster starts n nodes and waits until they have elected a
// JetStream meta leader and all joined it. They are killed when the test ends.
func StartProcessCluster(t testing.TB, n int) *ProcessCluster {
	t.Helper()
	if n < 1 {
		t.Fatalf("natstest: cluster of %d nodes", n)
	}
	// Fixed up front: a restarted node comes back on the addresses its peers
	// route to.
	ports := freePorts(t, 3*n)
	c := &ProcessCluster{t: t, nodes: make([]*Process, n)}
	for i := range n {
		var routes []string
		for j := range n {
			if j != i {
				routes = append(routes, fmt.Sprintf("    \"nats-route://127.0.0.1:%d\"", ports[2*n+j]))
			}
		}
		clusterConf := fmt.Sprintf("cluster {\n  name: \"natsproc\"\n  listen: \"127.0.0.1:%d\"\n  routes: [\n%s\n  ]\n}\n",
			ports[2*n+i], strings.Join(routes, "\n"))
		p := newProcess(t, ProcessOptions{Name: fmt.Sprintf("natsproc-%d", i)}, ports[i], ports[n+i], clusterConf)
		p.cluster = c
		c.nodes[i] = p
	}
	for _, p := range c.nodes {
		p.start()
	}
	for _, p := range c.nodes {
		p.waitUp(t)
	}
	c.WaitJetStreamReady(t)
	return c
}

// URLs is the client URLs of all nodes, comma separated, for nats.Connect
// (and drainworker's --nats-url).
func (c *ProcessCluster) URLs() string {
	urls := make([]string, len(c.nodes))
	for i, p := range c.nodes {
		urls[i] = p.URL()
	}
	return strings.Join(urls, ",")
}

// Node is node i: Stop, Kill and Restart it.
func (c *ProcessCluster) Node(i int) *Process { return c.nodes[i] }

// Size is the number of nodes.
func (c *ProcessCluster) Size() int { return len(c.nodes) }

// index is the node named name, -1 if none.
func (c *ProcessCluster) index(name string) int {
	for i, p := range c.nodes {
		if p.name == name {
			return i
		}
	}
	return -1
}

func (c *ProcessCluster) running() []*Process {
	var out []*Process
	for _, p := range c.nodes {
		if p.Running() {
			out = append(out, p)
		}
	}
	return out
}

// WaitJetStreamReady waits until every running node is healthy and knows
// the same meta leader, a running node, which counts every running node as
// a current peer: then streams of any replica count up to the number of
// running nodes can be created, and a restarted node has caught up with
// the streams it holds (its /healthz checks them).
func (c *ProcessCluster) WaitJetStreamReady(t testing.TB) {
	t.Helper()
	waitFor(t, "JetStream meta leader and all running nodes joined", func() bool {
		running := c.running()
		if len(running) == 0 {
			return false
		}
		leader := ""
		var leaderInfo *server.MetaClusterInfo
		for _, p := range running {
			if !p.healthy() {
				return false
			}
			info, err := p.Jsz()
			if err != nil || info.Meta == nil || info.Meta.Leader == "" || (leader != "" && info.Meta.Leader != leader) {
				return false
			}
			leader = info.Meta.Leader
			if p.name == leader {
				leaderInfo = info.Meta
			}
		}
		if leaderInfo == nil {
			return false // the leader is not running (yet, or it just stopped)
		}
		current := 1 // the leader itself
		for _, r := range leaderInfo.Replicas {
			if i := c.index(r.Name); i >= 0 && c.nodes[i].Running() && r.Current && !r.Offline {
				current++
			}
		}
		return current == len(running)
	})
}

// StreamLeader waits until a running node leads stream (in Account) and
// returns its index.
func (c *ProcessCluster) StreamLeader(t testing.TB, stream string) int {
	t.Helper()
	leader := -1
	waitFor(t, fmt.Sprintf("a leader of stream %s", stream), func() bool {
		for i, p := range c.nodes {
			if !p.Running() {
				continue
			}
			if d, ok := p.stream(stream); ok && d.Cluster != nil && d.Cluster.Leader == p.name {
				leader = i
				return true
			}
		}
		return false
	})
	return leader
}

// ConsumerLeader waits until a running node leads consumer of stream (in
// Account) and returns its index.
func (c *ProcessCluster) ConsumerLeader(t testing.TB, stream, consumer string) int {
	t.Helper()
	leader := -1
	waitFor(t, fmt.Sprintf("a leader of consumer %s of stream %s", consumer, stream), func() bool {
		for i, p := range c.nodes {
			if !p.Running() {
				continue
			}
			d, ok := p.stream(stream)
			if !ok {
				continue
			}
			for _, ci := range d.Consumer {
				if ci != nil && ci.Name == consumer && ci.Cluster != nil && ci.Cluster.Leader == p.name {
					leader = i
					return true
				}
			}
		}
		return false
	})
	return leader
}

// WaitStreamCurrent waits until every running node that holds a replica of
// stream (in Account) stores the same messages as its leader, and the
// leader sees every running replica current.
func (c *ProcessCluster) WaitStreamCurrent(t testing.TB, stream string) {
	t.Helper()
	waitFor(t, fmt.Sprintf("replicas of stream %s current", stream), func() bool {
		var want server.StreamDetail
		found := false
		var replicas []server.StreamDetail
		for _, p := range c.running() {
			d, ok := p.stream(stream)
			if !ok {
				continue
			}
			replicas = append(replicas, d)
			if d.Cluster != nil && d.Cluster.Leader == p.name {
				want, found = d, true
			}
		}
		if !found {
			return false
		}
		for _, r := range want.Cluster.Replicas {
			if i := c.index(r.Name); i >= 0 && c.nodes[i].Running() && (!r.Current || r.Offline || r.Lag > 0) {
				return false
			}
		}
		for _, d := range replicas {
			if d.State.Msgs != want.State.Msgs || d.State.FirstSeq != want.State.FirstSeq || d.State.LastSeq != want.State.LastSeq {
				return false
			}
		}
		return true
	})
}

var serverBin struct {
	once sync.Once
	path string
	err  error
}

// ServerBinary is the path of a nats-server program built from the
// nats-server module version of go.mod. It is built once per test binary,
// and cached across runs under os.TempDir by module version and sum, Go
// version and platform; the build needs only the module cache (go mod
// download), nothing else is fetched.
func ServerBinary(t testing.TB) string {
	t.Helper()
	serverBin.once.Do(func() { serverBin.path, serverBin.err = buildServer() })
	if serverBin.err != nil {
		t.Fatalf("natstest: %v", serverBin.err)
	}
	return serverBin.path
}

func buildServer() (string, error) {
	version, key, cacheable, err := serverBuildKey()
	if err != nil {
		return "", err
	}
	var dir string
	if cacheable {
		dir = filepath.Join(os.TempDir(), "natstest-nats-server", version+"-"+key)
		bin := filepath.Join(dir, "nats-server")
		if fi, err := os.Stat(bin); err == nil && fi.Mode().IsRegular() && fi.Mode()&0o111 != 0 {
			return bin, nil
		}
		if err := os.MkdirAll(dir, 0o755); err != nil {
			return "", fmt.Errorf("nats-server cache: %w", err)
		}
		unlock, err := lockDir(dir)
		if err != nil {
			return "", fmt.Errorf("nats-server cache: %w", err)
		}
		defer unlock()
		if fi, err := os.Stat(bin); err == nil && fi.Mode().IsRegular() && fi.Mode()&0o111 != 0 {
			return bin, nil // another test binary built it meanwhile
		}
	} else if dir, err = os.MkdirTemp("", "natstest-nats-server-"); err != nil {
		return "", fmt.Errorf("nats-server build dir: %w", err)
	}
	bin := filepath.Join(dir, "nats-server")
	// Built under a unique name and renamed into place, so that test
	// binaries of several packages building at once never see half a file.
	f, err := os.CreateTemp(dir, "nats-server-*.tmp")
	if err != nil {
		return "", fmt.Errorf("nats-server build: %w", err)
	}
	tmp := f.Name()
	f.Close()
	defer os.Remove(tmp)
	start := time.Now()
	out, err := exec.Command("go", "build", "-o", tmp, serverModule).CombinedOutput()
	if err != nil {
		return "", fmt.Errorf("go build %s@%s: %v\n%s", serverModule, version, err, out)
	}
	if err := os.Rename(tmp, bin); err != nil {
		return "", fmt.Errorf("nats-server build: %w", err)
	}
	fmt.Fprintf(os.Stderr, "natstest: built nats-server %s in %s: %s\n", version, time.Since(start).Round(time.Millisecond), bin)
	return bin, nil
}

// serverBuildKey names a build of nats-server by what goes into it: the
// version and sum of every module its packages come from (as go.mod
// resolves them), the Go version and the platform. A module replaced by a
// local directory has no sum: such a build is not cacheable.
func serverBuildKey() (version, key string, cacheable bool, err error) {
	out, err := exec.Command("go", "list", "-deps", "-f",
		"{{with .Module}}{{.Path}} {{.Version}} {{.Sum}}{{with .Replace}} => {{.Path}} {{.Version}} {{.Sum}}{{end}}{{end}}",
		serverModule).Output()
	if err != nil {
		var ee *exec.ExitError
		if errors.As(err, &ee) {
			err = fmt.Errorf("%v\n%s", err, ee.Stderr)
		}
		return "", "", false, fmt.Errorf("go list %s: %w", serverModule, err)
	}
	seen := map[string]bool{}
	var mods []string
	cacheable = true
	for line := range strings.Lines(string(out)) {
		line = strings.TrimSpace(line)
		if line == "" || seen[line] {
			continue
		}
		seen[line] = true
		mods = append(mods, line)
		f := strings.Fields(line)
		if f[0] == serverModule && len(f) > 1 {
			version = f[1]
		}
		if last := f[len(f)-1]; !strings.HasPrefix(last, "h1:") {
			cacheable = false // no sum: a local directory
		}
	}
	if version == "" {
		version = "devel"
	}
	slices.Sort(mods)
	h := sha256.New()
	for _, s := range append(mods, runtime.Version(), runtime.GOOS, runtime.GOARCH) {
		h.Write([]byte(s + "\n"))
	}
	return version, hex.EncodeToString(h.Sum(nil)[:8]), cacheable, nil
}

func tail(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return "..." + s[len(s)-n:]
}
