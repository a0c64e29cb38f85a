package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"runtime/metrics"
	"runtime/pprof"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/slbdrain/slbdrain/worker"
)

// A system whose memory is measured runs in a child process: this program
// again, started with the hidden flag -child <system>, told where the broker
// and the emulator are through the environment. The parent reads the child's
// peak RSS (VmHWM) from /proc, so what is measured is the system alone, not
// the broker, emulator and publisher sharing the parent.

// childEnv carries the childSpec, as JSON, to the child.
const childEnv = "DRAINBENCH_CHILD_SPEC"

// readyLine is what the child prints on stdout once it takes work.
const readyLine = "drainbench-child-ready"

type childSpec struct {
	System   string        `json:"system"`
	NatsURL  string        `json:"nats_url"`
	SLBURL   string        `json:"slb_url"`
	Config   worker.Config `json:"config"`
	Profiles childProfiles `json:"profiles"`
}

// childProfiles are the profiles a child writes, each to
// <path>.<system>.<pid>: CPU, and the heap profile taken at its largest
// live heap.
type childProfiles struct {
	CPU  string `json:"cpu,omitempty"`
	Heap string `json:"heap,omitempty"`
}

// peakHeapPrefix starts the line on which the child reports, as it exits,
// its largest live Go heap (bytes, as of the GC cycles it went through).
const peakHeapPrefix = "drainbench-child-peak-heap "

// child is a running child process, seen from the parent.
type child struct {
	cmd    *exec.Cmd
	exited chan struct{} // closed when the process was waited for
	err    error         // Wait's error, once exited is closed
	stderr *bytes.Buffer
	// peakHeap is the largest live heap the child reported, once exited is closed.
	peakHeap int64
}

func startChild(ctx context.Context, spec childSpec) (*running, error) {
	exe, err := os.Executable()
	if err != nil {
		return nil, fmt.Errorf("child %s: find own executable: %w", spec.System, err)
	}
	data, err := json.Marshal(spec)
	if err != nil {
		return nil, fmt.Errorf("child %s: encode spec: %w", spec.System, err)
	}
	cmd := exec.Command(exe, "-child", spec.System)
	cmd.Env = append(os.Environ(), childEnv+"="+string(data))
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		return nil, fmt.Errorf("child %s: %w", spec.System, err)
	}
	c := &child{cmd: cmd, exited: make(chan struct{}), stderr: &bytes.Buffer{}}
	cmd.Stderr = &limitedWriter{w: c.stderr, n: 64 << 10}
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("child %s: start %s: %w", spec.System, exe, err)
	}
	ready := make(chan bool, 1)
	go func() {
		sc := bufio.NewScanner(stdout)
		found := false
		for sc.Scan() {
			line := sc.Text()
			if !found && line == readyLine {
				found = true
				ready <- true
			}
			if v, ok := strings.CutPrefix(line, peakHeapPrefix); ok {
				c.peakHeap, _ = strconv.ParseInt(v, 10, 64)
			}
		}
		if !found {
			ready <- false
		}
		c.err = cmd.Wait() // after stdout is read to its end, as Wait requires
		close(c.exited)
	}()
	select {
	case ok := <-ready:
		if ok {
			return &running{stop: c.stop, ready: c.alive, child: c, kill: c.kill}, nil
		}
		<-c.exited
		return nil, fmt.Errorf("child %s exited before it was ready: %v: %s", spec.System, c.err, c.stderr)
	case <-time.After(30 * time.Second):
	case <-ctx.Done():
	}
	_ = c.stop()
	return nil, fmt.Errorf("child %s not ready within 30s: %s", spec.System, c.stderr)
}

func (c *child) pid() int { return c.cmd.Process.Pid }

func (c *child) alive() error {
	select {
	case <-c.exited:
		return fmt.Errorf("child exited: %v: %s", c.err, c.stderr)
	default:
		return nil
	}
}

// peakRSS is the child's peak resident set size (VmHWM), in bytes. Read it
// while the child runs: an exited process has no memory to report.
func (c *child) peakRSS() (int64, error) {
	data, err := os.ReadFile("/proc/" + strconv.Itoa(c.pid()) + "/status")
	if err != nil {
		return 0, fmt.Errorf("read status of child %d: %w", c.pid(), err)
	}
	for line := range strings.Lines(string(data)) {
		if v, ok := strings.CutPrefix(line, "VmHWM:"); ok {
			kb, err := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(v), " kB"), 10, 64)
			if err != nil {
				return 0, fmt.Errorf("child %d VmHWM %q: %w", c.pid(), v, err)
			}
			return kb << 10, nil
		}
	}
	return 0, fmt.Errorf("child %d: no VmHWM in /proc status", c.pid())
}

// cpu is the CPU time the child used; valid once it exited.
func (c *child) cpu() time.Duration {
	st := c.cmd.ProcessState
	if st == nil {
		return 0
	}
	return st.UserTime() + st.SystemTime()
}

// stop asks the child to shut down (SIGTERM, as a deployment would) and
// waits; a child that does not stop in time is killed.
func (c *child) stop() error {
	select {
	case <-c.exited:
		return c.exitErr()
	default:
	}
	_ = c.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-c.exited:
		return c.exitErr()
	case <-time.After(20 * time.Second):
		_ = c.cmd.Process.Kill()
		<-c.exited
		return fmt.Errorf("child %d did not stop within 20s of SIGTERM; killed", c.pid())
	}
}

// kill ends the child at once (SIGKILL: no shutdown of any kind, its
// connections dropped by the kernel), as a crash does, and waits for it.
func (c *child) kill() error {
	select {
	case <-c.exited:
		return fmt.Errorf("child %d exited before it was killed: %v: %s", c.pid(), c.err, c.stderr)
	default:
	}
	if err := c.cmd.Process.Kill(); err != nil {
		return fmt.Errorf("kill child %d: %w", c.pid(), err)
	}
	select {
	case <-c.exited:
		return nil
	case <-time.After(10 * time.Second):
		return fmt.Errorf("child %d still running 10s after SIGKILL", c.pid())
	}
}

func (c *child) exitErr() error {
	if c.err != nil {
		return fmt.Errorf("child %d: %w: %s", c.pid(), c.err, c.stderr)
	}
	return nil
}

// runChild is the child's main: start the system, say ready, serve until
// SIGTERM (ctx), stop.
func runChild(ctx context.Context, system string, stdout, stderr io.Writer) int {
	var spec childSpec
	if err := json.Unmarshal([]byte(os.Getenv(childEnv)), &spec); err != nil {
		fmt.Fprintf(stderr, "drainbench child: %s: %v\n", childEnv, err)
		return 2
	}
	if spec.System != system {
		fmt.Fprintf(stderr, "drainbench child: -child %s but the spec is for %s\n", system, spec.System)
		return 2
	}
	if spec.Profiles.CPU != "" {
		stopProfile, err := startCPUProfile(fmt.Sprintf("%s.%s.%d", spec.Profiles.CPU, system, os.Getpid()))
		if err != nil {
			fmt.Fprintln(stderr, "drainbench child:", err)
			return 1
		}
		defer stopProfile()
	}
	heap := newHeapWatch(spec.Profiles.Heap != "")
	stopWatch := sync.OnceFunc(heap.watch(50 * time.Millisecond))
	defer stopWatch()
	r, err := startHere(ctx, system, spec.NatsURL, spec.SLBURL, spec.Config)
	if err == nil {
		if err = waitReady(ctx, r, 30*time.Second); err != nil {
			err = errors.Join(err, r.stop())
		}
	}
	if err != nil {
		fmt.Fprintln(stderr, "drainbench child:", err)
		return 1
	}
	fmt.Fprintln(stdout, readyLine)
	<-ctx.Done()
	code := 0
	if err := r.stop(); err != nil {
		fmt.Fprintln(stderr, "drainbench child:", err)
		code = 1
	}
	stopWatch()
	fmt.Fprintf(stdout, "%s%d\n", peakHeapPrefix, heap.peak)
	if spec.Profiles.Heap != "" {
		path := fmt.Sprintf("%s.%s.%d", spec.Profiles.Heap, system, os.Getpid())
		if err := os.WriteFile(path, heap.profile, 0o644); err != nil {
			fmt.Fprintln(stderr, "drainbench child: heap profile:", err)
			code = 1
		}
	}
	return code
}

// heapWatch follows the live Go heap and, when asked, keeps the heap
// profile of its largest: the memory a drain holds at its peak, rather than
// what is left when it is over.
type heapWatch struct {
	profiling bool
	peak      int64
	profiled  int64 // the live heap when profile was taken
	profile   []byte
	sample    []metrics.Sample
}

func newHeapWatch(profiling bool) *heapWatch {
	return &heapWatch{profiling: profiling, sample: []metrics.Sample{{Name: "/gc/heap/live:bytes"}}}
}

// watch samples every interval until the returned stop is called.
func (h *heapWatch) watch(every time.Duration) (stop func()) {
	done := make(chan struct{})
	finished := make(chan struct{})
	go func() {
		defer close(finished)
		t := time.NewTicker(every)
		defer t.Stop()
		for {
			h.check()
			select {
			case <-done:
				h.check()
				return
			case <-t.C:
			}
		}
	}()
	return func() {
		close(done)
		<-finished
	}
}

func (h *heapWatch) check() {
	metrics.Read(h.sample)
	if h.sample[0].Value.Kind() != metrics.KindUint64 {
		return
	}
	live := int64(h.sample[0].Value.Uint64())
	if live <= h.peak {
		return
	}
	// A new profile only for a markedly larger heap: writing one costs.
	if h.profiling && live > h.profiled+h.profiled/10 {
		var buf bytes.Buffer
		if err := pprof.Lookup("heap").WriteTo(&buf, 0); err == nil {
			h.profile, h.profiled = buf.Bytes(), live
		}
	}
	h.peak = live
}

// limitedWriter keeps the first n bytes written to it.
type limitedWriter struct {
	w io.Writer
	n int
}

func (l *limitedWriter) Write(p []byte) (int, error) {
	if l.n > 0 {
		k := min(len(p), l.n)
		_, _ = l.w.Write(p[:k])
		l.n -= k
	}
	return len(p), nil
}
