package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync"
	"text/tabwriter"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/spf13/cobra"

	"github.com/slbdrain/slbdrain/messages"
)

type statusOptions struct {
	consumer    string
	metricsURLs []string
	timeout     time.Duration
}

func (a *app) statusCommand() *cobra.Command {
	var o statusOptions
	cmd := &cobra.Command{
		Use:   "status",
		Short: "Show the streams, the worker's consumer (pending, in flight, redelivered) and worker readiness",
		Long: "status shows the requests and events streams, the worker's durable consumer and, with\n" +
			"--metrics-url (one per replica), each worker replica's readiness and role: active (it holds\n" +
			"the consumer's pin and drains), standby, or not known yet. It exits 0 also when something\n" +
			"does not exist yet or a worker is not ready.",
		Example: "  drainctl status --metrics-url http://127.0.0.1:9090\n" +
			"  drainctl status --metrics-url http://10.0.0.11:9090,http://10.0.0.12:9090",
		Args: noArgs(""),
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := checkPositive(cmd, "timeout", o.timeout); err != nil {
				return err
			}
			if o.consumer == "" {
				return usageErrorf("--consumer is empty")
			}
			urls := o.metricsURLs[:0]
			for _, u := range o.metricsURLs {
				if u = strings.TrimSpace(u); u != "" {
					urls = append(urls, u)
				}
			}
			o.metricsURLs = urls
			return a.status(cmd.Context(), o)
		},
	}
	f := cmd.Flags()
	f.StringVar(&o.consumer, "consumer", envOr(a.getenv, "DRAIN_CONSUMER", "drainworker"), "the worker's durable consumer name (env DRAIN_CONSUMER)")
	f.StringSliceVar(&o.metricsURLs, "metrics-url", nil, "base URL of a worker replica's metrics server, e.g. http://127.0.0.1:9090, to ask its /readyz; "+
		"repeatable or comma separated, one per replica")
	addTimeoutFlag(cmd, &o.timeout, 10*time.Second, "how long to wait for the broker and the worker")
	return cmd
}

// statusReport is what status shows, and its --json form.
type statusReport struct {
	NATSURL  string          `json:"nats_url"`
	Server   string          `json:"server,omitempty"`
	Streams  []streamStatus  `json:"streams"`
	Consumer *consumerStatus `json:"consumer"`
	// Workers are the replicas asked (--metrics-url), in the order given.
	Workers []*workerStatus `json:"workers,omitempty"`
	// Worker is the one replica asked, as before several could be.
	Worker *workerStatus `json:"worker,omitempty"`
}

type streamStatus struct {
	Name      string     `json:"name"`
	Exists    bool       `json:"exists"`
	Error     string     `json:"error,omitempty"`
	Messages  uint64     `json:"messages"`
	Bytes     uint64     `json:"bytes"`
	FirstTime *time.Time `json:"first_time,omitempty"`
	LastTime  *time.Time `json:"last_time,omitempty"`
	Consumers int        `json:"consumers"`
	Replicas  int        `json:"replicas"`
}

type consumerStatus struct {
	Name           string          `json:"name"`
	Stream         string          `json:"stream"`
	Exists         bool            `json:"exists"`
	Error          string          `json:"error,omitempty"`
	FilterSubject  string          `json:"filter_subject,omitempty"`
	NumPending     uint64          `json:"num_pending"`
	NumAckPending  int             `json:"num_ack_pending"`
	NumRedelivered int             `json:"num_redelivered"`
	NumWaiting     int             `json:"num_waiting"`
	LastDelivered  *time.Time      `json:"last_delivered,omitempty"`
	PriorityGroups []priorityGroup `json:"priority_groups,omitempty"`
}

type priorityGroup struct {
	Group          string     `json:"group"`
	Policy         string     `json:"policy"`
	PinnedClientID string     `json:"pinned_client_id,omitempty"`
	PinnedAt       *time.Time `json:"pinned_at,omitempty"`
}

type workerStatus struct {
	URL    string `json:"url"`
	Ready  bool   `json:"ready"`
	Status int    `json:"http_status,omitempty"`
	// Role is what the replica says of itself: active (it holds the
	// consumer's pin: it drains), standby, or unknown (no request delivered
	// to it yet); empty when it does not say (a worker before roles).
	Role   string `json:"role,omitempty"`
	Detail string `json:"detail"`
}

// The roles /readyz reports (worker.Role).
const (
	roleActive  = "active"
	roleStandby = "standby"
	roleUnknown = "unknown"
)

func (a *app) status(ctx context.Context, o statusOptions) error {
	ctx, cancel := context.WithTimeout(ctx, o.timeout)
	defer cancel()
	nc, js, err := a.connect(o.timeout)
	if err != nil {
		return err
	}
	defer nc.Close()
	rep := statusReport{NATSURL: nc.ConnectedUrlRedacted(), Server: serverName(nc)}
	for _, name := range []string{messages.RequestStream, messages.EventStream} {
		st, err := a.streamStatus(ctx, js, name)
		if err != nil {
			return err
		}
		rep.Streams = append(rep.Streams, st)
	}
	rep.Consumer, err = a.consumerStatus(ctx, js, o.consumer)
	if err != nil {
		return err
	}
	rep.Workers = readinessAll(ctx, o.metricsURLs)
	if len(rep.Workers) == 1 {
		rep.Worker = rep.Workers[0]
	}
	if a.json {
		return a.printJSON(rep)
	}
	writeStatus(a.stdout, rep)
	return nil
}

func serverName(nc *nats.Conn) string {
	name := nc.ConnectedServerName()
	if v := nc.ConnectedServerVersion(); v != "" {
		name += " (nats-server " + v + ")"
	}
	return name
}

func (a *app) streamStatus(ctx context.Context, js jetstream.JetStream, name string) (streamStatus, error) {
	st := streamStatus{Name: name}
	s, err := a.stream(ctx, js, name)
	if errors.Is(err, errStreamMissing) {
		st.Error = "does not exist yet: drainworker creates it when it starts"
		return st, nil
	}
	if err != nil {
		return st, err
	}
	info := s.CachedInfo()
	st.Exists = true
	st.Messages, st.Bytes, st.Consumers = info.State.Msgs, info.State.Bytes, info.State.Consumers
	st.Replicas = info.Config.Replicas
	if info.State.Msgs > 0 {
		first, last := info.State.FirstTime, info.State.LastTime
		st.FirstTime, st.LastTime = &first, &last
	}
	return st, nil
}

func (a *app) consumerStatus(ctx context.Context, js jetstream.JetStream, name string) (*consumerStatus, error) {
	cs := &consumerStatus{Name: name, Stream: messages.RequestStream}
	cons, err := js.Consumer(ctx, messages.RequestStream, name)
	switch {
	case errors.Is(err, jetstream.ErrConsumerNotFound):
		cs.Error = "does not exist yet: drainworker creates it when it starts (or check --consumer)"
		return cs, nil
	case errors.Is(err, jetstream.ErrStreamNotFound):
		cs.Error = "its stream " + messages.RequestStream + " does not exist yet"
		return cs, nil
	case err != nil && ctx.Err() != nil:
		return nil, a.ctxError(ctx, "asking for consumer "+name)
	case err != nil:
		return nil, failedErrorf("consumer %s on %s: %w", name, messages.RequestStream, err)
	}
	info := cons.CachedInfo()
	cs.Exists = true
	cs.FilterSubject = info.Config.FilterSubject
	if len(info.Config.FilterSubjects) > 0 {
		cs.FilterSubject = strings.Join(info.Config.FilterSubjects, " ")
	}
	cs.NumPending, cs.NumAckPending = info.NumPending, info.NumAckPending
	cs.NumRedelivered, cs.NumWaiting = info.NumRedelivered, info.NumWaiting
	cs.LastDelivered = info.Delivered.Last
	policy := priorityPolicyName(info.Config.PriorityPolicy)
	states := make(map[string]jetstream.PriorityGroupState, len(info.PriorityGroups))
	for _, g := range info.PriorityGroups {
		states[g.Group] = g
	}
	for _, g := range info.Config.PriorityGroups {
		pg := priorityGroup{Group: g, Policy: policy}
		if s, ok := states[g]; ok && s.PinnedClientID != "" {
			pg.PinnedClientID = s.PinnedClientID
			if !s.PinnedTS.IsZero() {
				ts := s.PinnedTS
				pg.PinnedAt = &ts
			}
		}
		cs.PriorityGroups = append(cs.PriorityGroups, pg)
	}
	return cs, nil
}

func priorityPolicyName(p jetstream.PriorityPolicy) string {
	b, err := p.MarshalJSON()
	if err != nil || len(b) <= 2 {
		return "none"
	}
	return strings.Trim(string(b), `"`)
}

// readinessAll asks every replica's /readyz at once, so that one that does
// not answer does not hold up the others; the answers keep the order of
// urls.
func readinessAll(ctx context.Context, urls []string) []*workerStatus {
	if len(urls) == 0 {
		return nil
	}
	out := make([]*workerStatus, len(urls))
	var wg sync.WaitGroup
	for i, u := range urls {
		wg.Go(func() { out[i] = readiness(ctx, u) })
	}
	wg.Wait()
	return out
}

// readiness asks a worker's /readyz; the body says why it is not ready and
// the replica's role.
func readiness(ctx context.Context, base string) *workerStatus {
	u := strings.TrimRight(base, "/")
	if !strings.HasSuffix(u, "/readyz") {
		u += "/readyz"
	}
	ws := &workerStatus{URL: u}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		ws.Detail = "bad --metrics-url: " + err.Error()
		return ws
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		ws.Detail = "unreachable: " + err.Error() + " (is drainworker running with --metrics-addr there?)"
		return ws
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(io.LimitReader(resp.Body, 4096))
	ws.Status = resp.StatusCode
	ws.Ready = resp.StatusCode == http.StatusOK
	ws.Detail, ws.Role = parseReadyz(string(body))
	return ws
}

// parseReadyz splits a /readyz body into its detail and the role it states:
// "ready (active)", or "not ready: <reason>" and a line "role: standby" or
// "role unknown: ...". A body without a role (an older worker) has role "".
func parseReadyz(body string) (detail, role string) {
	var lines []string
	for line := range strings.Lines(body) {
		line = strings.TrimSpace(line)
		switch {
		case line == "":
		case strings.HasPrefix(line, "role: "):
			role = roleOf(strings.TrimPrefix(line, "role: "))
		case strings.HasPrefix(line, "role unknown"):
			role = roleUnknown
		default:
			if inner, ok := strings.CutPrefix(line, "ready ("); ok && strings.HasSuffix(inner, ")") {
				role = roleOf(strings.TrimSuffix(inner, ")"))
			}
			lines = append(lines, line)
		}
	}
	return strings.Join(lines, "; "), role
}

func roleOf(s string) string {
	switch s = strings.TrimSpace(s); {
	case s == roleActive, s == roleStandby:
		return s
	case strings.HasPrefix(s, "role unknown"), s == roleUnknown:
		return roleUnknown
	}
	return ""
}

// roleText is how status prints a role.
func roleText(role string) string {
	if role == roleUnknown {
		return "role unknown: no request delivered yet"
	}
	return role
}

func writeStatus(w io.Writer, rep statusReport) {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintf(tw, "nats\t%s\t%s\n", rep.NATSURL, rep.Server)
	for _, s := range rep.Streams {
		if !s.Exists {
			fmt.Fprintf(tw, "stream %s\t%s\n", s.Name, s.Error)
			continue
		}
		fmt.Fprintf(tw, "stream %s\t%d messages, %s, %d consumers, %d replicas\n", s.Name, s.Messages, byteSize(s.Bytes), s.Consumers, s.Replicas)
		if s.FirstTime != nil {
			fmt.Fprintf(tw, "  first, last\t%s, %s\n", formatTime(*s.FirstTime), formatTime(*s.LastTime))
		}
	}
	c := rep.Consumer
	if !c.Exists {
		fmt.Fprintf(tw, "consumer %s\t%s\n", c.Name, c.Error)
	} else {
		fmt.Fprintf(tw, "consumer %s\ton %s, filter %s\n", c.Name, c.Stream, c.FilterSubject)
		fmt.Fprintf(tw, "  pending\t%d requests not yet delivered\n", c.NumPending)
		fmt.Fprintf(tw, "  ack pending\t%d requests in flight (delivered, not yet answered)\n", c.NumAckPending)
		fmt.Fprintf(tw, "  redelivered\t%d\n", c.NumRedelivered)
		fmt.Fprintf(tw, "  waiting pulls\t%d\n", c.NumWaiting)
		if c.LastDelivered != nil {
			fmt.Fprintf(tw, "  last delivery\t%s\n", formatTime(*c.LastDelivered))
		}
		for _, g := range c.PriorityGroups {
			pin := "no client pinned (no worker pulling?)"
			if g.PinnedClientID != "" {
				pin = "pinned to client " + g.PinnedClientID
				if g.PinnedAt != nil {
					pin += " since " + formatTime(*g.PinnedAt)
				}
			}
			fmt.Fprintf(tw, "  priority group %s\t%s, %s\n", g.Group, g.Policy, pin)
		}
	}
	for _, ws := range rep.Workers {
		switch {
		case ws.Ready && ws.Role != "":
			fmt.Fprintf(tw, "worker\t%s: ready (%s)\n", ws.URL, roleText(ws.Role))
		case ws.Ready:
			fmt.Fprintf(tw, "worker\t%s: ready\n", ws.URL)
		case ws.Status == 0:
			fmt.Fprintf(tw, "worker\t%s: %s\n", ws.URL, ws.Detail)
		case ws.Role == roleUnknown:
			fmt.Fprintf(tw, "worker\t%s: NOT READY (HTTP %d) %s; %s\n", ws.URL, ws.Status, ws.Detail, roleText(ws.Role))
		case ws.Role != "":
			fmt.Fprintf(tw, "worker\t%s: NOT READY (HTTP %d) %s; role: %s\n", ws.URL, ws.Status, ws.Detail, ws.Role)
		default:
			fmt.Fprintf(tw, "worker\t%s: NOT READY (HTTP %d) %s\n", ws.URL, ws.Status, ws.Detail)
		}
	}
	_ = tw.Flush()
}

func byteSize(n uint64) string {
	const unit = 1024
	if n < unit {
		return fmt.Sprintf("%d B", n)
	}
	div, exp := uint64(unit), 0
	for m := n / unit; m >= unit; m /= unit {
		div *= unit
		exp++
	}
	return fmt.Sprintf("%.1f %ciB", float64(n)/float64(div), "KMGTPE"[exp])
}
