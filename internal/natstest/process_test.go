package natstest_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/slbdrain/slbdrain/internal/natstest"
)

// A nats-server process keeps its port and store across a graceful stop
// and a SIGKILL: what the worker's restart and crash tests rely on.
func TestProcessRestartKeepsPortAndStore(t *testing.T) {
	p := natstest.StartProcess(t, natstest.ProcessOptions{})
	_, js := natstest.Connect(t, p.URL())
	ctx, cancel := context.WithTimeout(t.Context(), 60*time.Second)
	defer cancel()

	if _, err := js.CreateStream(ctx, jetstream.StreamConfig{
		Name: "WORK", Subjects: []string{"work.>"}, Storage: jetstream.FileStorage,
	}); err != nil {
		t.Fatal(err)
	}
	publish := func(i int) {
		t.Helper()
		// The client reconnects on its own after a restart; until then a
		// publish fails, so each try has its own timeout and the message id
		// makes a retry of a stored message a duplicate.
		for ctx.Err() == nil {
			actx, acancel := context.WithTimeout(ctx, 2*time.Second)
			_, err := js.Publish(actx, fmt.Sprintf("work.%d", i), []byte("job"), jetstream.WithMsgID(fmt.Sprint(i)),
				jetstream.WithRetryAttempts(50), jetstream.WithRetryWait(50*time.Millisecond))
			acancel()
			if err == nil {
				return
			}
			t.Logf("publish %d: %v (retrying)", i, err)
		}
		t.Fatalf("publish %d: %v", i, ctx.Err())
	}
	stored := func() uint64 {
		t.Helper()
		st, err := js.Stream(ctx, "WORK")
		if err != nil {
			t.Fatal(err)
		}
		return st.CachedInfo().State.Msgs
	}
	publish(1)
	publish(2)

	pid := p.PID()
	p.Stop()
	if p.Running() || p.PID() != 0 {
		t.Fatal("still running after Stop")
	}
	p.Restart()
	if p.PID() == pid || p.PID() == 0 {
		t.Errorf("restarted as pid %d, was %d: not a new process", p.PID(), pid)
	}
	publish(3)
	if n := stored(); n != 3 {
		t.Errorf("after a graceful restart the stream holds %d messages, want 3", n)
	}

	p.Kill()
	p.Restart()
	publish(4)
	if n := stored(); n != 4 {
		t.Errorf("after SIGKILL and restart the stream holds %d messages, want 4", n)
	}
}

// A 3-node cluster of processes with an R3 stream survives a SIGKILL of the
// stream leader's node; the node restarts as the same member and catches up.
func TestProcessClusterSurvivesLeaderKill(t *testing.T) {
	c := natstest.StartProcessCluster(t, 3)
	_, js := natstest.Connect(t, c.URLs())
	ctx, cancel := context.WithTimeout(t.Context(), 90*time.Second)
	defer cancel()

	if _, err := js.CreateStream(ctx, jetstream.StreamConfig{
		Name: "REQ", Subjects: []string{"req.>"}, Replicas: 3, Storage: jetstream.FileStorage,
	}); err != nil {
		t.Fatal(err)
	}
	if _, err := js.Publish(ctx, "req.a", []byte("before")); err != nil {
		t.Fatal(err)
	}
	if _, err := js.CreateOrUpdateConsumer(ctx, "REQ", jetstream.ConsumerConfig{Durable: "w", AckPolicy: jetstream.AckExplicitPolicy}); err != nil {
		t.Fatal(err)
	}
	if l := c.ConsumerLeader(t, "REQ", "w"); l < 0 || l >= c.Size() {
		t.Fatalf("consumer leader %d", l)
	}
	old := c.StreamLeader(t, "REQ")
	c.Node(old).Kill()
	var ack *jetstream.PubAck
	var err error
	for ctx.Err() == nil {
		actx, acancel := context.WithTimeout(ctx, 2*time.Second)
		ack, err = js.Publish(actx, "req.b", []byte("after"), jetstream.WithMsgID("after"),
			jetstream.WithRetryAttempts(100), jetstream.WithRetryWait(50*time.Millisecond))
		acancel()
		if err == nil {
			break
		}
		t.Logf("publish with node %d killed: %v (retrying)", old, err)
	}
	if err != nil {
		t.Fatalf("publish with stream leader node %d killed: %v", old, err)
	}
	if ack.Sequence != 2 {
		t.Errorf("publish after failover acked as sequence %d, want 2", ack.Sequence)
	}
	if l := c.StreamLeader(t, "REQ"); l == old {
		t.Fatalf("killed node %d still leads", old)
	}

	c.Node(old).Restart()
	c.WaitStreamCurrent(t, "REQ")
	info, err := c.Node(old).Jsz()
	if err != nil {
		t.Fatal(err)
	}
	if info.Messages != 2 {
		t.Errorf("restarted node %d holds %d messages, want 2", old, info.Messages)
	}
}
