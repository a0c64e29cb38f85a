package main

import (
	"errors"
	"fmt"
	"os"
	"runtime"
	"runtime/pprof"
)

// startProfiles starts the CPU profile and turns on block and mutex
// recording; stopProfiles writes them all.
func startProfiles(cpu, block, mutex string) (stop func(mem, block, mutex string) error, err error) {
	stopCPU := func() {}
	if cpu != "" {
		if stopCPU, err = startCPUProfile(cpu); err != nil {
			return nil, err
		}
	}
	if block != "" {
		runtime.SetBlockProfileRate(1) // set again after each embedded server start (see newEnv)
	}
	if mutex != "" {
		runtime.SetMutexProfileFraction(1)
	}
	return func(mem, block, mutex string) error {
		stopCPU()
		var errs []error
		if mem != "" {
			runtime.GC() // the heap profile shows what is live after the last GC
			errs = append(errs, writeProfile("allocs", mem))
		}
		if block != "" {
			errs = append(errs, writeProfile("block", block))
		}
		if mutex != "" {
			errs = append(errs, writeProfile("mutex", mutex))
		}
		return errors.Join(errs...)
	}, nil
}

func writeProfile(name, path string) error {
	f, err := os.Create(path)
	if err != nil {
		return fmt.Errorf("%s profile: %w", name, err)
	}
	if err := pprof.Lookup(name).WriteTo(f, 0); err != nil {
		_ = f.Close()
		return fmt.Errorf("%s profile %s: %w", name, path, err)
	}
	return f.Close()
}

func startCPUProfile(path string) (stop func(), err error) {
	f, err := os.Create(path)
	if err != nil {
		return nil, fmt.Errorf("cpu profile: %w", err)
	}
	if err := pprof.StartCPUProfile(f); err != nil {
		_ = f.Close()
		return nil, fmt.Errorf("cpu profile %s: %w", path, err)
	}
	return func() {
		pprof.StopCPUProfile()
		_ = f.Close()
	}, nil
}
