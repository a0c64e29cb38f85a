// Command drainbench measures, in one run on one machine, how far ahead
// slbdrain is of a naive worker (one API call per request) and how close it
// comes to the two hard limits: the account's API quota and the broker
// itself (a raw consume → event → ack pipeline with no API call).
//
// Everything runs in this process on loopback: an embedded JetStream server,
// the SLB emulator, the real worker, and the baselines. Each trial gets a
// fresh store and emulator. The scenarios (burst, quota, throughput, idle,
// backlog, throttle; windowed and windowed-foreign, two-regions: Alibaba's
// windowed quotas, scaled; instances: a storm of version-2 instance-scope
// hooks, resolved and drained from every group; restart and failover: a
// graceful restart and a crash of the active replica) are rows of one
// table (scenarios.go), run by one runner (runner.go). Output: a table, or
// with -json one JSON object per scenario and line, each with its figures,
// ratios and goals.
//
// Exit status: 0 when every scenario ran and every request completed (goals
// met or not: they are tracked, not enforced), 1 otherwise, 2 on bad usage.
//
// This file only wires.
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
	"strings"
	"syscall"
)

func main() {
	ctx, stop := signalContext()
	code := run(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}

// signalContext is done on SIGTERM or SIGINT: a child stops its system on
// it, the parent stops after the trial in progress.
func signalContext() (context.Context, context.CancelFunc) {
	return signal.NotifyContext(context.Background(), syscall.SIGTERM, syscall.SIGINT)
}

// options are what every scenario is told.
type options struct {
	runs          int
	full          bool
	requests      int             // every scenario scaled to this many requests; 0: their own sizes
	naiveSample   float64         // fraction of the requests the naive baseline drains; 0: each scenario's own
	childProfiles childProfiles   // of child processes, if profiling
	blockRate     int             // block profile rate, if profiling blocking
	systems       map[string]bool // the systems to run; nil: all
	progress      io.Writer
}

func run(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	if len(args) == 2 && args[0] == "-child" { // hidden: a system in its own process
		return runChild(ctx, args[1], stdout, stderr)
	}
	all := allScenarios()
	var names []string
	for _, s := range all {
		names = append(names, s.name)
	}
	fs := flag.NewFlagSet("drainbench", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var (
		o           options
		list        = fs.String("scenarios", strings.Join(names, ","), "comma-separated scenarios to run: "+strings.Join(names, ", "))
		asJSON      = fs.Bool("json", false, "print one JSON object per scenario (one per line) instead of tables")
		cpuProfile  = fs.String("cpuprofile", "", "write a CPU profile of this process to `file` (child processes write file.<system>.<pid>)")
		memProfile  = fs.String("memprofile", "", "write a heap profile to `file` at the end (child processes write file.<system>.<pid>, taken at their largest live heap)")
		blockProf   = fs.String("blockprofile", "", "write a goroutine blocking profile to `file` (records every event: slows the run)")
		mutexProf   = fs.String("mutexprofile", "", "write a mutex contention profile to `file` (records every event: slows the run)")
		showMachine = fs.Bool("machine", false, "print the machine description and exit")
		systemList  = fs.String("systems", "", "comma-separated systems to run (slbdrain, naive, raw; default all): to profile one alone")
		tableOut    = fs.String("table-out", "", "also write the tables and the goals, as printed without -json, to `file`: one run, both forms")
	)
	fs.IntVar(&o.runs, "runs", 3, "runs of each system per scenario (medians are reported)")
	fs.BoolVar(&o.full, "full", false, "full set: backlog as a 10k/50k/100k scale curve")
	fs.IntVar(&o.requests, "requests", 0, "scale every scenario to this many requests (0: their own sizes; smoke tests)")
	fs.Float64Var(&o.naiveSample, "naive-sample", 0, "fraction of the requests the naive baseline drains in burst, quota and throttle, its time and calls scaled up (0: 20%, 2.5%, 2.5%; with -full 100%, 10%, 10%)")
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		return 2
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(stderr, "drainbench: unexpected arguments %q\n", fs.Args())
		return 2
	}
	if *showMachine {
		fmt.Fprintf(stdout, "%+v\n", currentMachine())
		return 0
	}
	if o.runs < 1 || o.naiveSample < 0 || o.naiveSample > 1 || o.requests < 0 {
		fmt.Fprintln(stderr, "drainbench: -runs must be >= 1, -naive-sample in [0, 1], -requests >= 0")
		return 2
	}
	var selected []scenario
	for _, name := range strings.Split(*list, ",") {
		name = strings.TrimSpace(name)
		i := slices.IndexFunc(all, func(s scenario) bool { return s.name == name })
		if i < 0 {
			fmt.Fprintf(stderr, "drainbench: unknown scenario %q (have %s)\n", name, strings.Join(names, ", "))
			return 2
		}
		selected = append(selected, all[i])
	}
	if *systemList != "" {
		o.systems = map[string]bool{}
		for _, name := range strings.Split(*systemList, ",") {
			name = strings.TrimSpace(name)
			if !knownSystem(name) {
				fmt.Fprintf(stderr, "drainbench: unknown system %q (have slbdrain, naive, raw)\n", name)
				return 2
			}
			o.systems[name] = true
		}
	}
	o.progress = stderr
	o.childProfiles = childProfiles{CPU: *cpuProfile, Heap: *memProfile}
	if *blockProf != "" {
		o.blockRate = 1
	}

	tables := io.Discard
	if *tableOut != "" {
		f, err := os.Create(*tableOut)
		if err != nil {
			fmt.Fprintln(stderr, "drainbench:", err)
			return 1
		}
		defer f.Close()
		tables = f
	}
	stopProfiles, err := startProfiles(*cpuProfile, *blockProf, *mutexProf)
	if err != nil {
		fmt.Fprintln(stderr, "drainbench:", err)
		return 1
	}
	code := 0
	var results []*result
	for _, s := range selected {
		fmt.Fprintf(stderr, "drainbench: %s\n", s.name)
		rs, err := runScenario(ctx, o, s)
		if err != nil {
			fmt.Fprintf(stderr, "drainbench: %s: %v\n", s.name, err)
			code = 1
			if ctx.Err() != nil {
				break
			}
			continue
		}
		for _, r := range rs {
			if !r.Complete {
				code = 1
			}
			if *asJSON {
				if err := writeJSON(stdout, r); err != nil {
					fmt.Fprintln(stderr, "drainbench:", err)
					code = 1
				}
			} else {
				writeTable(stdout, r)
			}
			writeTable(tables, r)
		}
		results = append(results, rs...)
	}
	if len(results) > 0 {
		if !*asJSON {
			writeSummary(stdout, results)
		}
		writeSummary(tables, results)
	}
	if err := stopProfiles(*memProfile, *blockProf, *mutexProf); err != nil {
		fmt.Fprintln(stderr, "drainbench:", err)
		code = 1
	}
	return code
}
