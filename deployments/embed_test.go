package deployments

import (
	"context"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/slbdrain/slbdrain/internal/natstest"
	"github.com/slbdrain/slbdrain/messages"
	"github.com/slbdrain/slbdrain/worker"
)

func TestStreamDefinitionsFollowTheContract(t *testing.T) {
	req, err := RequestStream()
	if err != nil {
		t.Fatal(err)
	}
	ev, err := EventStream()
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		sc        jetstream.StreamConfig
		name      string
		subjects  []string
		retention jetstream.RetentionPolicy
	}{
		{req, messages.RequestStream, []string{messages.RequestSubjects}, jetstream.WorkQueuePolicy},
		{ev, messages.EventStream, []string{messages.EventSubjects}, jetstream.LimitsPolicy},
	} {
		sc := c.sc
		if sc.Name != c.name || !slices.Equal(sc.Subjects, c.subjects) || sc.Retention != c.retention {
			t.Errorf("stream %s on %v with %s retention, want %s on %v with %s", sc.Name, sc.Subjects, sc.Retention, c.name, c.subjects, c.retention)
		}
		if sc.Storage != jetstream.FileStorage {
			t.Errorf("%s: storage %s, want file", sc.Name, sc.Storage)
		}
		if sc.Duplicates < 2*time.Minute {
			t.Errorf("%s: duplicate window %s, the contract wants at least 2m", sc.Name, sc.Duplicates)
		}
		if sc.Replicas != 3 {
			t.Errorf("%s: %d replicas, want 3 (a 3-node cluster that survives a node)", sc.Name, sc.Replicas)
		}
	}
	if ev.MaxAge != 30*24*time.Hour {
		t.Errorf("events max age %s, want 30 days", ev.MaxAge)
	}
	if req.MaxAge != 0 {
		t.Errorf("requests max age %s: a request must stay until it has its outcome", req.MaxAge)
	}
	// JetStream counts headers in max_msg_size: a valid request of the
	// largest size, with its Nats-Msg-Id, must fit.
	if min := messages.MaxRequestBytes + len(msgIDHeaderBlock(messages.MaxRequestIDLen)); int(req.MaxMsgSize) < min {
		t.Errorf("requests max_msg_size %d is below %d, a largest valid request and its Nats-Msg-Id header", req.MaxMsgSize, min)
	}
}

// msgIDHeaderBlock is the wire form of a header block holding only a
// Nats-Msg-Id of n characters.
func msgIDHeaderBlock(n int) string {
	return "NATS/1.0\r\n" + messages.MsgIDHeader + ": " + strings.Repeat("x", n) + "\r\n\r\n"
}

func TestConsumerDefinition(t *testing.T) {
	cc, err := Consumer()
	if err != nil {
		t.Fatal(err)
	}
	if cc.Durable != "drainworker" || cc.FilterSubject != messages.RequestSubjects {
		t.Errorf("consumer %q on %q, want drainworker on %s", cc.Durable, cc.FilterSubject, messages.RequestSubjects)
	}
	if cc.AckPolicy != jetstream.AckExplicitPolicy || cc.AckWait != 30*time.Second {
		t.Errorf("ack %s, wait %s: want explicit, 30s", cc.AckPolicy, cc.AckWait)
	}
	if cc.MaxDeliver != -1 {
		t.Errorf("max_deliver %d: a request must be delivered until it has its outcome (-1)", cc.MaxDeliver)
	}
	if cc.MaxAckPending != 20000 {
		t.Errorf("max_ack_pending %d, want 20000", cc.MaxAckPending)
	}
	if !slices.Equal(cc.PriorityGroups, []string{"drainworker"}) || cc.PriorityPolicy != jetstream.PriorityPolicyPinned {
		t.Errorf("priority groups %v with policy %v, want [drainworker] pinned", cc.PriorityGroups, cc.PriorityPolicy)
	}
	// The pin moves when the pinned worker has not pulled for this long; the
	// worker's pulls expire after 5s, so the TTL must be well above that.
	if pull := worker.DefaultConfig().PullExpiry; cc.PinnedTTL < 2*pull {
		t.Errorf("priority_timeout %s: want at least two of the worker's %s pull expiries", cc.PinnedTTL, pull)
	}
}

func TestDecodeStrict(t *testing.T) {
	for _, tt := range []struct {
		json, err string
	}{
		{`{"name": "S", "duplicate_window": 120000000000}`, ""},
		{`{"name": "S", "duplicate_windows": 120000000000}`, `unknown field "duplicate_windows"`},
		{`{"name": "S", "retention": "work_queue"}`, "work_queue"},
		{`{"name": "S"} {"name": "T"}`, "trailing data"},
		{`{"name": "S"`, "unexpected EOF"},
	} {
		sc, err := decodeStrict[jetstream.StreamConfig]("test.json", []byte(tt.json))
		switch {
		case tt.err == "" && (err != nil || sc.Name != "S" || sc.Duplicates != 2*time.Minute):
			t.Errorf("%s: got %+v, %v", tt.json, sc, err)
		case tt.err != "" && (err == nil || !strings.Contains(err.Error(), tt.err) || !strings.Contains(err.Error(), "test.json")):
			t.Errorf("%s: error %v, want one naming test.json and %q", tt.json, err, tt.err)
		case tt.err != "" && sc.Name != "":
			t.Errorf("%s: failed decode returned %+v, want the zero config", tt.json, sc)
		}
	}
}

// TestDefinitionsOnJetStream applies the definitions to a real server, as
// the worker and `nats stream add --config` would (one node: replicas 1),
// and publishes the largest valid request.
func TestDefinitionsOnJetStream(t *testing.T) {
	srv := natstest.RunServer(t)
	_, js := natstest.Connect(t, srv.ClientURL())
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()

	for _, get := range []func() (jetstream.StreamConfig, error){RequestStream, EventStream} {
		sc, err := get()
		if err != nil {
			t.Fatal(err)
		}
		sc.Replicas = 1
		if _, err := js.CreateStream(ctx, sc); err != nil {
			t.Fatalf("create stream %s: %v", sc.Name, err)
		}
	}
	cc, err := Consumer()
	if err != nil {
		t.Fatal(err)
	}
	cons, err := js.CreateConsumer(ctx, messages.RequestStream, cc)
	if err != nil {
		t.Fatalf("create consumer: %v", err)
	}
	info, err := cons.Info(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if info.Config.PriorityPolicy != jetstream.PriorityPolicyPinned || info.Config.PinnedTTL != cc.PinnedTTL {
		t.Errorf("server's consumer: policy %v, pinned TTL %s; want pinned, %s", info.Config.PriorityPolicy, info.Config.PinnedTTL, cc.PinnedTTL)
	}

	msg := nats.NewMsg(messages.RequestSubject("cn-hangzhou", "rsp-x"))
	msg.Data = make([]byte, messages.MaxRequestBytes)
	msg.Header.Set(messages.MsgIDHeader, strings.Repeat("r", messages.MaxRequestIDLen))
	if _, err := js.PublishMsg(ctx, msg); err != nil {
		t.Errorf("publish a %d-byte request with a %d-character Nats-Msg-Id: %v", len(msg.Data), messages.MaxRequestIDLen, err)
	}
	// Beyond the limit the stream refuses: the limit is real.
	msg.Data = make([]byte, int(mustStream(t, RequestStream).MaxMsgSize)+1)
	msg.Header.Set(messages.MsgIDHeader, "too-big")
	if _, err := js.PublishMsg(ctx, msg); err == nil {
		t.Error("the stream accepted a message over its max_msg_size")
	}
}

func mustStream(t *testing.T, get func() (jetstream.StreamConfig, error)) jetstream.StreamConfig {
	t.Helper()
	sc, err := get()
	if err != nil {
		t.Fatal(err)
	}
	return sc
}
