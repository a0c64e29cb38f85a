package messages

import (
	"context"
	"errors"
	"fmt"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// startJetStream runs an embedded one-node JetStream server on loopback for
// the test and returns a JetStream client of it.
func startJetStream(t *testing.T) jetstream.JetStream {
	t.Helper()
	srv, err := server.NewServer(&server.Options{
		Host:      "127.0.0.1",
		Port:      -1,
		JetStream: true,
		StoreDir:  t.TempDir(),
		NoLog:     true,
		NoSigs:    true,
	})
	if err != nil {
		t.Fatal(err)
	}
	go srv.Start()
	t.Cleanup(func() {
		srv.Shutdown()
		srv.WaitForShutdown()
	})
	if !srv.ReadyForConnections(10 * time.Second) {
		t.Fatal("embedded NATS server not ready")
	}
	nc, err := nats.Connect(srv.ClientURL())
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

func TestPublish(t *testing.T) {
	js := startJetStream(t)
	ctx, cancel := context.WithTimeout(t.Context(), 20*time.Second)
	defer cancel()
	stream, err := js.CreateStream(ctx, jetstream.StreamConfig{
		Name:       RequestStream,
		Subjects:   []string{RequestSubjects},
		Retention:  jetstream.WorkQueuePolicy,
		Duplicates: 2 * time.Minute,
	})
	if err != nil {
		t.Fatal(err)
	}

	req := validRequest()
	req.BackendServers = []BackendServer{
		{ServerID: "i-1", Port: 80}, // type defaulted on the wire
		{ServerID: "i-1", Port: 80, Type: TypeECS},
	}
	callerServers := append([]BackendServer(nil), req.BackendServers...)
	ack, err := Publish(ctx, js, req)
	if err != nil {
		t.Fatal(err)
	}
	if ack.Stream != RequestStream || ack.Sequence != 1 || ack.Duplicate {
		t.Errorf("ack = %+v", ack)
	}
	if !reflect.DeepEqual(req.BackendServers, callerServers) {
		t.Errorf("Publish changed the caller's servers: %v", req.BackendServers)
	}

	msg, err := stream.GetMsg(ctx, 1)
	if err != nil {
		t.Fatal(err)
	}
	if msg.Subject != "slb.drain.request.cn-hangzhou.rsp-cige6j5e7p" {
		t.Errorf("subject %s", msg.Subject)
	}
	if got := msg.Header.Get(MsgIDHeader); got != req.RequestID {
		t.Errorf("%s = %q", MsgIDHeader, got)
	}
	got, err := Decode(msg.Subject, msg.Data)
	if err != nil {
		t.Fatalf("published body refused: %v\n%s", err, msg.Data)
	}
	want := req
	want.BackendServers = []BackendServer{{ServerID: "i-1", Port: 80, Type: TypeECS}}
	if !sameRequest(got, want) {
		t.Errorf("published %+v\nwant %+v", got, want)
	}

	// The same request_id again is the same request: JetStream drops it.
	again, err := Publish(ctx, js, req)
	if err != nil {
		t.Fatal(err)
	}
	if !again.Duplicate || again.Sequence != 1 {
		t.Errorf("re-publish ack = %+v, want a duplicate of 1", again)
	}

	// An invalid request is refused before anything is sent.
	bad := req
	bad.RequestID = "other-id"
	bad.BackendServers = []BackendServer{{ServerID: "i-1", Port: 0}}
	_, err = Publish(ctx, js, bad)
	var ve *ValidationError
	if !errors.As(err, &ve) || !strings.Contains(err.Error(), "backend_servers[0].port: must be 1..65535, got 0") {
		t.Fatalf("Publish(invalid) = %v", err)
	}
	info, err := stream.Info(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if info.State.Msgs != 1 || info.State.LastSeq != 1 {
		t.Errorf("stream state %+v, want just the one message", info.State)
	}
}

// recordingPublisher is a Publisher that keeps what it is given.
type recordingPublisher struct{ msgs []*nats.Msg }

func (p *recordingPublisher) PublishMsg(_ context.Context, msg *nats.Msg, _ ...jetstream.PublishOpt) (*jetstream.PubAck, error) {
	p.msgs = append(p.msgs, msg)
	return &jetstream.PubAck{Stream: RequestStream, Sequence: uint64(len(p.msgs))}, nil
}

func TestPublishRefusesOversizedBody(t *testing.T) {
	req := validRequest()
	req.BackendServers = nil
	for i := range MaxServers {
		req.BackendServers = append(req.BackendServers, BackendServer{ServerID: fmt.Sprintf("%060d", i), Port: 65535, Type: TypeECS})
	}
	var p recordingPublisher
	_, err := Publish(t.Context(), &p, req)
	var ve *ValidationError
	if !errors.As(err, &ve) || !strings.Contains(err.Error(), "body: larger than 65536 bytes") {
		t.Fatalf("Publish = %v", err)
	}
	if len(p.msgs) != 0 {
		t.Errorf("%d messages sent", len(p.msgs))
	}
}

func TestPublishWrapsPublishError(t *testing.T) {
	_, err := Publish(t.Context(), failingPublisher{}, validRequest())
	if !errors.Is(err, jetstream.ErrNoStreamResponse) || !strings.Contains(err.Error(), "asg-42-scalein-0001") {
		t.Errorf("Publish = %v", err)
	}
}

type failingPublisher struct{}

func (failingPublisher) PublishMsg(context.Context, *nats.Msg, ...jetstream.PublishOpt) (*jetstream.PubAck, error) {
	return nil, jetstream.ErrNoStreamResponse
}

// TestPublishV2: a version-2 request goes to the subject of its scope, and
// what the stream holds decodes to the request, defaults filled in.
func TestPublishV2(t *testing.T) {
	js := startJetStream(t)
	ctx, cancel := context.WithTimeout(t.Context(), 20*time.Second)
	defer cancel()
	stream, err := js.CreateStream(ctx, jetstream.StreamConfig{
		Name:       RequestStream,
		Subjects:   []string{RequestSubjects},
		Retention:  jetstream.WorkQueuePolicy,
		Duplicates: 2 * time.Minute,
	})
	if err != nil {
		t.Fatal(err)
	}
	group := validRequestV2()
	inst := DrainRequest{
		Version: 2, RequestID: "incident-7-i-bp1", RegionID: testRegion, DryRun: true,
		BackendServers: []BackendServer{{ServerID: "i-bp1a2b3c4d5e6f7g8h9"}, {ServerID: "i-bp1zzz", Port: 443}},
	}
	restore := DrainRequest{
		Version: 2, RequestID: "asg-42-undo-0002", RegionID: testRegion, VServerGroupID: testGroup,
		Action: ActionRestore, RestoreOf: group.RequestID,
		BackendServers: []BackendServer{{ServerID: "i-bp1a2b3c4d5e6f7g8h9", Port: 80, Weight: WeightOf(100)}},
	}
	for i, tc := range []struct {
		req     DrainRequest
		subject string
	}{
		{group, "slb.drain.request.cn-hangzhou.rsp-cige6j5e7p"},
		{inst, "slb.drain.request.cn-hangzhou.instances"},
		{restore, "slb.drain.request.cn-hangzhou.rsp-cige6j5e7p"},
		{validRequest(), "slb.drain.request.cn-hangzhou.rsp-cige6j5e7p"}, // version 1 beside them
	} {
		ack, err := Publish(ctx, js, tc.req)
		if err != nil {
			t.Fatal(err)
		}
		msg, err := stream.GetMsg(ctx, ack.Sequence)
		if err != nil {
			t.Fatal(err)
		}
		if msg.Subject != tc.subject || msg.Header.Get(MsgIDHeader) != tc.req.RequestID || ack.Sequence != uint64(i+1) {
			t.Errorf("%s: subject %s, %s %q, sequence %d", tc.req.RequestID, msg.Subject, MsgIDHeader, msg.Header.Get(MsgIDHeader), ack.Sequence)
		}
		got, err := Decode(msg.Subject, msg.Data)
		if err != nil {
			t.Fatalf("published body refused: %v\n%s", err, msg.Data)
		}
		want := tc.req
		want.BackendServers = slices.Clone(want.BackendServers)
		if err := want.Validate(); err != nil {
			t.Fatal(err)
		}
		if !sameRequest(got, want) {
			t.Errorf("published %+v\nwant %+v", got, want)
		}
	}

	// Refused before sending: a weight in a drain, a graceful timeout over
	// an hour.
	bad := inst
	bad.RequestID = "other"
	bad.BackendServers = []BackendServer{{ServerID: "i-1", Weight: WeightOf(3)}}
	if _, err := Publish(ctx, js, bad); err == nil || !strings.Contains(err.Error(), "backend_servers[0].weight: only with action restore") {
		t.Errorf("Publish(weight in a drain) = %v", err)
	}
	info, err := stream.Info(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if info.State.Msgs != 4 {
		t.Errorf("stream holds %d messages, want 4", info.State.Msgs)
	}
}

func TestNewRequestMsg(t *testing.T) {
	req := validRequestV2()
	msg, err := NewRequestMsg(req)
	if err != nil {
		t.Fatal(err)
	}
	msg.Header.Set(TraceParentHeader, "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01")
	var p recordingPublisher
	if _, err := p.PublishMsg(t.Context(), msg); err != nil || msg.Subject != req.Subject() || msg.Header.Get(MsgIDHeader) != req.RequestID {
		t.Errorf("msg %+v, %v", msg, err)
	}
	if _, err := NewRequestMsg(DrainRequest{Version: 2}); err == nil {
		t.Error("invalid request made into a message")
	}
}
