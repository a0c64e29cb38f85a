package natstest

import (
	"fmt"
	"net"
	"strings"
	"sync"
	"testing"

	"github.com/nats-io/nats-server/v2/server"

	"github.com/slbdrain/slbdrain/internal/embedded"
)

// Cluster is a JetStream cluster of embedded nodes on loopback. Every node
// keeps its ports and store for the life of the cluster, so a stopped node
// can be restarted as the same cluster member.
type Cluster struct {
	t     testing.TB
	mu    sync.Mutex
	cfgs  []embedded.Config
	nodes []*embedded.Server // nil while stopped
}

// RunCluster starts n nodes, waits until they have elected a JetStream meta
// leader and all joined it, and shuts them down when the test ends.
func RunCluster(t testing.TB, n int) *Cluster {
	t.Helper()
	if n < 1 {
		t.Fatalf("natstest: cluster of %d nodes", n)
	}
	// Ports are fixed up front rather than left to the server (port -1),
	// because a restarted node must come back on the same addresses its
	// peers route to. All are held open together so they differ.
	ports := freePorts(t, 2*n)
	routes := make([]string, n)
	for i := range n {
		routes[i] = fmt.Sprintf("nats-route://127.0.0.1:%d", ports[n+i])
	}
	c := &Cluster{t: t, cfgs: make([]embedded.Config, n), nodes: make([]*embedded.Server, n)}
	t.Cleanup(c.shutdown)
	for i := range n {
		others := make([]string, 0, n-1)
		for j, r := range routes {
			if j != i {
				others = append(others, r)
			}
		}
		c.cfgs[i] = embedded.Config{
			Listen:     fmt.Sprintf("127.0.0.1:%d", ports[i]),
			DataDir:    t.TempDir(),
			ServerName: fmt.Sprintf("natstest-%d", i),
			Logger:     logger(t),
			Cluster: &embedded.ClusterConfig{
				Name:   "natstest",
				Listen: fmt.Sprintf("127.0.0.1:%d", ports[n+i]),
				Routes: others,
			},
		}
	}
	for i := range n {
		s := start(t, c.cfgs[i])
		c.mu.Lock()
		c.nodes[i] = s
		c.mu.Unlock()
	}
	c.WaitJetStreamReady(t)
	return c
}

// URLs is the client URLs of all nodes, comma separated, for nats.Connect.
func (c *Cluster) URLs() string {
	urls := make([]string, len(c.cfgs))
	for i, cfg := range c.cfgs {
		urls[i] = "nats://" + cfg.Listen
	}
	return strings.Join(urls, ",")
}

// Node is node i, nil while it is stopped.
func (c *Cluster) Node(i int) *embedded.Server {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.nodes[i]
}

// Stop shuts node i down gracefully, keeping its store. Stopping a stopped
// node does nothing.
func (c *Cluster) Stop(i int) {
	c.mu.Lock()
	s := c.nodes[i]
	c.nodes[i] = nil
	c.mu.Unlock()
	if s != nil {
		s.Shutdown()
	}
}

// Restart starts stopped node i again on its ports and store and waits until
// it has rejoined the cluster (knows the meta leader, is caught up with it,
// and the leader counts it as a peer). Stream replicas may still be catching
// up: see WaitStreamCurrent.
func (c *Cluster) Restart(i int) {
	c.t.Helper()
	if c.Node(i) != nil {
		c.t.Fatalf("natstest: restart node %d: it is running", i)
	}
	s := start(c.t, c.cfgs[i])
	c.mu.Lock()
	c.nodes[i] = s
	c.mu.Unlock()
	c.WaitJetStreamReady(c.t)
}

// WaitJetStreamReady waits until every running node knows the same meta
// leader and is current with it, and the leader sees every running node as
// a JetStream peer: then streams of any replica count up to the number of
// running nodes can be created.
func (c *Cluster) WaitJetStreamReady(t testing.TB) {
	t.Helper()
	waitFor(t, "JetStream meta leader and all running nodes joined", func() bool {
		running := c.running()
		leader := ""
		for _, s := range running {
			l := s.MetaLeader()
			if l == "" || (leader != "" && l != leader) || !s.NATS().JetStreamIsCurrent() {
				return false
			}
			leader = l
		}
		for _, s := range running {
			if s.NATS().Name() == leader {
				return s.NATS().JetStreamIsLeader() && len(s.NATS().JetStreamClusterPeers()) == len(running)
			}
		}
		return false // the leader is not one of ours (yet, or it just stopped)
	})
}

// StreamLeader waits until a running node leads stream (in Account) and
// returns its index.
func (c *Cluster) StreamLeader(t testing.TB, stream string) int {
	t.Helper()
	leader := -1
	waitFor(t, fmt.Sprintf("a leader of stream %s", stream), func() bool {
		c.mu.Lock()
		defer c.mu.Unlock()
		for i, s := range c.nodes {
			if s != nil && s.NATS().JetStreamIsStreamLeader(Account, stream) {
				leader = i
				return true
			}
		}
		return false
	})
	return leader
}

// WaitStreamCurrent waits until every running node that holds a replica of
// stream (in Account) has caught up with its leader: its raft group is
// current and it stores the same messages. (A node that just restarted says
// it is current before it has heard of what it missed, so the contents are
// compared too.)
func (c *Cluster) WaitStreamCurrent(t testing.TB, stream string) {
	t.Helper()
	waitFor(t, fmt.Sprintf("replicas of stream %s current", stream), func() bool {
		running := c.running()
		var want server.StreamState
		found := false
		for _, s := range running {
			if s.NATS().JetStreamIsStreamLeader(Account, stream) {
				want, found = streamState(s, stream)
			}
		}
		if !found {
			return false
		}
		for _, s := range running {
			ns := s.NATS()
			if !ns.JetStreamIsStreamAssigned(Account, stream) {
				continue
			}
			got, ok := streamState(s, stream)
			if !ok || !ns.JetStreamIsStreamCurrent(Account, stream) ||
				got.Msgs != want.Msgs || got.FirstSeq != want.FirstSeq || got.LastSeq != want.LastSeq {
				return false
			}
		}
		return true
	})
}

// streamState is s's local copy of stream's state.
func streamState(s *embedded.Server, stream string) (server.StreamState, bool) {
	d, err := s.NATS().JszAccount(&server.JSzOptions{Account: Account, Streams: true})
	if err != nil {
		return server.StreamState{}, false
	}
	for _, st := range d.Streams {
		if st.Name == stream {
			return st.State, true
		}
	}
	return server.StreamState{}, false
}

func (c *Cluster) running() []*embedded.Server {
	c.mu.Lock()
	defer c.mu.Unlock()
	var out []*embedded.Server
	for _, s := range c.nodes {
		if s != nil {
			out = append(out, s)
		}
	}
	return out
}

// shutdown stops all nodes at once: one by one, each stop would hand
// leadership to a node about to stop too.
func (c *Cluster) shutdown() {
	var wg sync.WaitGroup
	for i := range c.cfgs {
		wg.Go(func() { c.Stop(i) })
	}
	wg.Wait()
}

// freePorts asks the kernel for n distinct free loopback ports. They are
// released before use, so another process could take one meanwhile; on a
// test machine that is rare enough.
func freePorts(t testing.TB, n int) []int {
	t.Helper()
	ports := make([]int, n)
	for i := range n {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatalf("natstest: reserve a port: %v", err)
		}
		defer l.Close()
		ports[i] = l.Addr().(*net.TCPAddr).Port
	}
	return ports
}
