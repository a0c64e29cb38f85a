package natstest_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/slbdrain/slbdrain/internal/natstest"
)

func TestRunServerRoundTrip(t *testing.T) {
	s := natstest.RunServer(t)
	_, js := natstest.Connect(t, s.ClientURL())
	ctx, cancel := context.WithTimeout(t.Context(), 20*time.Second)
	defer cancel()

	st, err := js.CreateStream(ctx, jetstream.StreamConfig{
		Name: "WORK", Subjects: []string{"work.>"}, Retention: jetstream.WorkQueuePolicy,
	})
	if err != nil {
		t.Fatal(err)
	}
	for i := range 3 {
		ack, err := js.Publish(ctx, fmt.Sprintf("work.%d", i), fmt.Appendf(nil, "job %d", i))
		if err != nil {
			t.Fatal(err)
		}
		if ack.Sequence != uint64(i+1) {
			t.Errorf("publish %d acked as sequence %d", i, ack.Sequence)
		}
	}
	cons, err := st.CreateOrUpdateConsumer(ctx, jetstream.ConsumerConfig{Durable: "w", AckPolicy: jetstream.AckExplicitPolicy})
	if err != nil {
		t.Fatal(err)
	}
	batch, err := cons.Fetch(3, jetstream.FetchMaxWait(10*time.Second))
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for m := range batch.Messages() {
		got = append(got, string(m.Data()))
		if err := m.DoubleAck(ctx); err != nil {
			t.Fatal(err)
		}
	}
	if batch.Error() != nil {
		t.Fatal(batch.Error())
	}
	if fmt.Sprint(got) != "[job 0 job 1 job 2]" {
		t.Fatalf("consumed %q, want jobs 0..2 in order", got)
	}
	info, err := st.Info(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if info.State.Msgs != 0 {
		t.Errorf("work queue holds %d messages after acks, want 0", info.State.Msgs)
	}
}

// A 3-node cluster with R3 streams survives losing any node, in particular
// the stream leader: what a deployment that must survive a node relies on.
func TestClusterSurvivesStreamLeaderLoss(t *testing.T) {
	c := natstest.RunCluster(t, 3)
	_, js := natstest.Connect(t, c.URLs())
	ctx, cancel := context.WithTimeout(t.Context(), 60*time.Second)
	defer cancel()

	if _, err := js.CreateStream(ctx, jetstream.StreamConfig{
		Name: "REQ", Subjects: []string{"req.>"}, Replicas: 3, Storage: jetstream.FileStorage,
	}); err != nil {
		t.Fatal(err)
	}
	if _, err := js.Publish(ctx, "req.a", []byte("before")); err != nil {
		t.Fatal(err)
	}

	old := c.StreamLeader(t, "REQ")
	c.Stop(old)
	if c.Node(old) != nil {
		t.Fatalf("node %d still listed after Stop", old)
	}
	// A publisher's failover: jetstream.Publish itself retries while the
	// survivors elect a new stream leader (no responders until then), but a
	// request in flight when the node went away can go unanswered, so each
	// attempt has its own timeout and the message id makes a retry of a
	// stored message a duplicate, not a second copy.
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
		t.Logf("publish with node %d stopped: %v (retrying)", old, err)
	}
	if err != nil {
		t.Fatalf("publish with stream leader node %d stopped: %v", old, err)
	}
	if ack.Sequence != 2 {
		t.Errorf("publish after failover acked as sequence %d, want 2", ack.Sequence)
	}
	if l := c.StreamLeader(t, "REQ"); l == old {
		t.Fatalf("stopped node %d still leads", old)
	}

	c.Restart(old)
	c.WaitStreamCurrent(t, "REQ")
	// The restarted node's replica caught up on what it missed.
	node := c.Node(old).NATS()
	info, err := node.Jsz(nil)
	if err != nil {
		t.Fatal(err)
	}
	if info.Messages != 2 {
		t.Errorf("restarted node %d holds %d messages, want 2", old, info.Messages)
	}
	st, err := js.Stream(ctx, "REQ")
	if err != nil {
		t.Fatal(err)
	}
	if n := len(st.CachedInfo().Cluster.Replicas); n != 2 {
		t.Errorf("stream has %d followers after restart, want 2", n)
	}
	for _, r := range st.CachedInfo().Cluster.Replicas {
		if r.Offline {
			t.Errorf("follower %s offline after restart", r.Name)
		}
	}
}
