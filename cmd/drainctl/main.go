// Command drainctl is slbdrain's operator and incident CLI: it publishes
// drain requests and waits for their outcome, restores what a version-2
// drain took out, follows outcome events, shows the streams and the
// worker's consumer, and lists and retries failed requests (docs:
// contract.md, "Binaries" and "Version 2").
//
// Exit codes: 0 success, 1 failure (a failed or rejected drain, a request not
// found, an unreachable broker), 2 bad usage, 3 timed out.
package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/spf13/cobra"
)

// Exit codes of the contract.
const (
	exitOK      = 0
	exitFailed  = 1
	exitUsage   = 2
	exitTimeout = 3
)

// exitError carries the exit code a command ends with.
type exitError struct {
	code int
	err  error
}

func (e *exitError) Error() string { return e.err.Error() }
func (e *exitError) Unwrap() error { return e.err }

func usageErrorf(format string, args ...any) error {
	return &exitError{code: exitUsage, err: fmt.Errorf(format, args...)}
}

func failedErrorf(format string, args ...any) error {
	return &exitError{code: exitFailed, err: fmt.Errorf(format, args...)}
}

func timeoutErrorf(format string, args ...any) error {
	return &exitError{code: exitTimeout, err: fmt.Errorf(format, args...)}
}

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := run(ctx, os.Args[1:], os.Stdin, os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}

// run executes drainctl with args and returns its exit code. Everything it
// reads and writes goes through its arguments, so tests run it in-process.
func run(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	a := &app{stdin: stdin, stdout: stdout, stderr: stderr, getenv: os.Getenv, now: time.Now}
	root := a.rootCommand()
	root.SetArgs(args)
	root.SetIn(stdin)
	root.SetOut(stdout)
	root.SetErr(stderr)
	cmd, err := root.ExecuteContextC(ctx)
	if err == nil {
		return exitOK
	}
	code := exitFailed
	var ee *exitError
	if errors.As(err, &ee) {
		code = ee.code
	}
	fmt.Fprintf(stderr, "drainctl: %v\n", err)
	if code == exitUsage {
		fmt.Fprintf(stderr, "Run '%s --help' for usage.\n", cmd.CommandPath())
	}
	return code
}

func (a *app) rootCommand() *cobra.Command {
	root := &cobra.Command{
		Use:   "drainctl",
		Short: "Publish SLB drain requests and follow their outcome",
		Long: "drainctl is the operator and incident CLI of slbdrain: it publishes drain requests to\n" +
			"NATS JetStream for drainworker, waits for and shows their outcome, restores what a version-2\n" +
			"drain took out, follows outcome events, shows the streams and the worker's consumer, and lists\n" +
			"and retries failed requests.\n\n" +
			"Exit codes: 0 success, 1 failure, 2 bad usage, 3 timed out.",
		Args: cobra.ArbitraryArgs,
		// Without a subcommand: an unknown command is bad usage, not help.
		RunE: func(_ *cobra.Command, args []string) error {
			if len(args) == 0 {
				return usageErrorf("missing command: one of drain, restore, watch, status, failed, retry")
			}
			return usageErrorf("unknown command %q: one of drain, restore, watch, status, failed, retry", args[0])
		},
		SilenceErrors: true,
		SilenceUsage:  true,
	}
	root.CompletionOptions.DisableDefaultCmd = true
	root.SetFlagErrorFunc(func(_ *cobra.Command, err error) error {
		return &exitError{code: exitUsage, err: err}
	})
	a.globalFlags(root)
	root.AddCommand(a.drainCommand(), a.watchCommand(), a.statusCommand(), a.failedCommand(), a.retryCommand(), a.restoreCommand())
	return root
}
