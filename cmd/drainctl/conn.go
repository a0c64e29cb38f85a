package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/spf13/cobra"

	"github.com/slbdrain/slbdrain/internal/natsconn"
	"github.com/slbdrain/slbdrain/messages"
)

const defaultNATSURL = "nats://127.0.0.1:4222"

// app is one drainctl invocation: its streams, environment, clock and the
// flags every command takes.
type app struct {
	stdin          io.Reader
	stdout, stderr io.Writer
	getenv         func(string) string
	now            func() time.Time

	nats natsconn.Config
	json bool
}

// globalFlags defines the flags of every command. The connection settings
// default to the DRAIN_* variables drainworker reads, so that one environment
// serves both.
func (a *app) globalFlags(root *cobra.Command) {
	f := root.PersistentFlags()
	f.StringVar(&a.nats.URL, "nats-url", envOr(a.getenv, "DRAIN_NATS_URL", defaultNATSURL), "NATS server URL(s), comma separated (env DRAIN_NATS_URL)")
	for _, nf := range a.nats.AuthFlags() {
		f.StringVar(nf.Value, nf.Name, a.getenv(nf.Env), nf.Usage+" (env "+nf.Env+")")
	}
	f.BoolVar(&a.json, "json", false, "print JSON lines on stdout instead of text")
	// The default may come from DRAIN_NATS_URL with a password in it: --help shows it redacted.
	f.Lookup("nats-url").DefValue = natsconn.Redact(f.Lookup("nats-url").DefValue)
}

func envOr(getenv func(string) string, name, def string) string {
	if v := getenv(name); v != "" {
		return v
	}
	return def
}

// connect dials NATS. A broker that cannot be reached is exit code 1 with a
// message naming the URL and what to check. Once connected, the client
// reconnects without limit: callers bound their work with contexts, and a
// node failover must not end a wait.
func (a *app) connect(timeout time.Duration) (*nats.Conn, jetstream.JetStream, error) {
	if strings.TrimSpace(a.nats.URL) == "" {
		return nil, nil, usageErrorf("--nats-url is empty")
	}
	if err := a.nats.Validate(); err != nil {
		return nil, nil, usageErrorf("%w", err)
	}
	nc, err := a.nats.Connect("drainctl",
		nats.Timeout(min(timeout, 5*time.Second)),
		nats.ReconnectWait(250*time.Millisecond),
		nats.DisconnectErrHandler(func(nc *nats.Conn, err error) {
			if err != nil {
				fmt.Fprintf(a.stderr, "drainctl: disconnected from NATS (%v), reconnecting\n", err)
			}
		}),
		nats.ReconnectHandler(func(nc *nats.Conn) {
			fmt.Fprintf(a.stderr, "drainctl: reconnected to NATS at %s\n", nc.ConnectedUrlRedacted())
		}),
	)
	if err != nil {
		return nil, nil, failedErrorf("%w\n"+
			"  is drainworker (embedded server) or nats-server running? check --nats-url (or DRAIN_NATS_URL)", err)
	}
	js, err := jetstream.New(nc)
	if err != nil {
		nc.Close()
		return nil, nil, failedErrorf("JetStream on %s: %w", natsconn.Redact(a.nats.URL), err)
	}
	return nc, js, nil
}

// errStreamMissing marks a stream that does not exist (yet); status reports
// it instead of failing.
var errStreamMissing = errors.New("stream does not exist")

// stream looks up one of the contract's streams, explaining the usual
// reasons it is not there.
func (a *app) stream(ctx context.Context, js jetstream.JetStream, name string) (jetstream.Stream, error) {
	s, err := js.Stream(ctx, name)
	switch {
	case err == nil:
		return s, nil
	case errors.Is(err, jetstream.ErrStreamNotFound):
		return nil, &exitError{code: exitFailed, err: fmt.Errorf("stream %s on %s: %w: drainworker creates it when it starts; "+
			"has a worker run against this NATS?", name, natsconn.Redact(a.nats.URL), errStreamMissing)}
	case errors.Is(err, jetstream.ErrJetStreamNotEnabled), errors.Is(err, jetstream.ErrJetStreamNotEnabledForAccount):
		return nil, failedErrorf("stream %s on %s: %w: start nats-server with JetStream (-js) or use drainworker's embedded server",
			name, natsconn.Redact(a.nats.URL), err)
	case ctx.Err() != nil:
		return nil, a.ctxError(ctx, fmt.Sprintf("looking up stream %s", name))
	default:
		return nil, failedErrorf("look up stream %s on %s: %w", name, natsconn.Redact(a.nats.URL), err)
	}
}

// ctxError turns the end of ctx into an exit error: a deadline is a
// timeout (exit 3), an interrupt is exit 1.
func (a *app) ctxError(ctx context.Context, doing string) error {
	if errors.Is(ctx.Err(), context.DeadlineExceeded) {
		return timeoutErrorf("timed out %s", doing)
	}
	return failedErrorf("interrupted %s", doing)
}

// eventConsumer creates an ordered consumer of the events stream over
// filters, delivering from start (nil: new events only). Ordered consumers
// are ephemeral, flow controlled and re-created by the client after a
// failover, without losing or repeating a message.
func (a *app) eventConsumer(ctx context.Context, js jetstream.JetStream, filters []string, start *time.Time) (jetstream.Consumer, error) {
	if _, err := a.stream(ctx, js, messages.EventStream); err != nil {
		return nil, err
	}
	cfg := jetstream.OrderedConsumerConfig{
		FilterSubjects:    filters,
		DeliverPolicy:     jetstream.DeliverNewPolicy,
		InactiveThreshold: time.Minute,
	}
	if start != nil {
		cfg.DeliverPolicy = jetstream.DeliverByStartTimePolicy
		cfg.OptStartTime = start
	}
	cons, err := js.OrderedConsumer(ctx, messages.EventStream, cfg)
	if err != nil {
		if ctx.Err() != nil {
			return nil, a.ctxError(ctx, "subscribing to outcome events")
		}
		return nil, failedErrorf("subscribe to outcome events %s: %w", strings.Join(filters, " "), err)
	}
	return cons, nil
}

// dropConsumer deletes an ordered consumer when done with it rather than
// leaving it to the server's inactivity clean-up, so that status shows the
// consumers that are really in use. Best effort: it may be gone already.
func dropConsumer(js jetstream.JetStream, cons jetstream.Consumer) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	_ = js.DeleteConsumer(ctx, messages.EventStream, cons.CachedInfo().Name)
}

// replayEvents calls fn with every outcome event on filters from start to
// the end of the stream as it was when the replay began (events arriving
// meanwhile are included), oldest first.
func (a *app) replayEvents(ctx context.Context, js jetstream.JetStream, filters []string, start time.Time, fn func(messages.Outcome)) error {
	cons, err := a.eventConsumer(ctx, js, filters, &start)
	if err != nil {
		return err
	}
	defer dropConsumer(js, cons)
	if cons.CachedInfo().NumPending == 0 {
		return nil
	}
	it, err := cons.Messages()
	if err != nil {
		return failedErrorf("read outcome events: %w", err)
	}
	defer it.Stop()
	for {
		msg, err := it.Next(jetstream.NextContext(ctx))
		if err != nil {
			if ctx.Err() != nil {
				return a.ctxError(ctx, "reading outcome events")
			}
			return failedErrorf("read outcome events: %w", err)
		}
		if o, ok := a.decodeEvent(msg); ok {
			fn(o)
		}
		meta, err := msg.Metadata()
		if err != nil || meta.NumPending == 0 {
			return nil
		}
	}
}

// decodeEvent decodes an outcome event; one that cannot be read is reported
// on stderr and skipped, so that one bad message does not stop a listing.
func (a *app) decodeEvent(msg jetstream.Msg) (messages.Outcome, bool) {
	o, err := messages.DecodeOutcome(msg.Data())
	if err != nil {
		seq := uint64(0)
		if meta, merr := msg.Metadata(); merr == nil {
			seq = meta.Sequence.Stream
		}
		fmt.Fprintf(a.stderr, "drainctl: skipping event %d on %s: %v\n", seq, msg.Subject(), err)
		return messages.Outcome{}, false
	}
	return o, true
}

// addTimeoutFlag defines a command's --timeout with its meaning for that
// command.
func addTimeoutFlag(cmd *cobra.Command, p *time.Duration, def time.Duration, usage string) {
	cmd.Flags().DurationVar(p, "timeout", def, usage)
}

// checkPositive is the usage check of a duration flag that was given.
func checkPositive(cmd *cobra.Command, name string, d time.Duration) error {
	if cmd.Flags().Changed(name) && d <= 0 {
		return usageErrorf("--%s %s: must be positive", name, d)
	}
	return nil
}
