package waymakertest

import (
	"context"
	"fmt"
	"net"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"git.awesomike.com/pub/waymaker-client/go/server"
)

// Cluster is a running test cluster of waymaker nodes on loopback: real
// raft over TCP between them, each node with its own data dir, client
// port and fault injector. It is how a test checks that its own code rides
// through a leader kill or a partition.
type Cluster struct {
	t      testing.TB
	opts   options
	nodes  []*Server
	faults []*server.Faults
	ids    []string
}

// clusterTimeouts are raft's heartbeat and election timeouts in a test
// cluster: short, so failover takes a fraction of a second, but not so
// short that a busy 2-core machine starts spurious elections.
const clusterTimeouts = 150 * time.Millisecond

// clusterStabilization is how long a staged node must stay healthy before
// a test cluster's leader promotes it to voter: shorter than the server's
// default, so a Join takes a fraction of a second more than its catch-up.
const clusterStabilization = 300 * time.Millisecond

// StartCluster starts n nodes (n >= 1) bootstrapped together, waits until
// one leads and every node has caught up, and stops them all when the test
// ends. Each node keeps its data in its own t.TempDir() (WithDataDir and
// WithTempDataDir are ignored), written without fsync unless WithFsync is
// given: Kill and Restart happen in process, so the OS keeps every write.
// Options apply to every node; WithConfig may adjust each node's
// server.Config.
func StartCluster(t testing.TB, n int, opts ...Option) *Cluster {
	t.Helper()
	if n < 1 {
		t.Fatalf("waymakertest: StartCluster: n = %d, want at least 1", n)
	}
	var o options
	for _, opt := range opts {
		opt(&o)
	}
	if o.auth != nil {
		o.configure = append([]func(*server.Config){o.auth.configure(t, true)}, o.configure...)
	}
	c := &Cluster{t: t, opts: o}
	var boot []server.Peer
	clientLis := make([]net.Listener, n)
	raftLis := make([]net.Listener, n)
	for i := range n {
		var err error
		if clientLis[i], err = net.Listen("tcp", "127.0.0.1:0"); err != nil {
			t.Fatalf("waymakertest: listen: %v", err)
		}
		if raftLis[i], err = net.Listen("tcp", "127.0.0.1:0"); err != nil {
			t.Fatalf("waymakertest: listen: %v", err)
		}
		id := fmt.Sprintf("node%d", i+1)
		c.ids = append(c.ids, id)
		boot = append(boot, server.Peer{ID: id, Addr: raftLis[i].Addr().String()})
	}
	for i := range n {
		c.add(c.ids[i], clientLis[i].Addr().String(), boot[i].Addr, func(cfg *server.Config) { cfg.Bootstrap = boot })
	}
	// Every node must be starting before any can elect a leader.
	var wg sync.WaitGroup
	errs := make([]error, n)
	for i, s := range c.nodes {
		wg.Go(func() { errs[i] = s.startCluster(clientLis[i], raftLis[i]) })
	}
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			t.Fatalf("waymakertest: start node %d: %v", i, err)
		}
	}
	return c
}

// add makes the Server of a cluster node, not started yet: its own data
// dir and fault injector, its client address advertised, the cluster's
// timeouts, then boot and the options' configuration.
func (c *Cluster) add(id, addr, raftAddr string, boot func(*server.Config)) *Server {
	f := server.NewFaults()
	cfg := server.Config{
		// Advertised up front, so that the client address is recorded
		// with the cluster before Start returns.
		DataDir: c.t.TempDir(), NodeID: id, RaftListen: raftAddr, Advertise: addr,
		HeartbeatTimeout: clusterTimeouts, ElectionTimeout: clusterTimeouts, Faults: f,
		PromotionStabilization: clusterStabilization,
		// Kill and Restart are in process, so the OS keeps every write:
		// the fsync would only slow the test.
		UnsafeNoFsync: !c.opts.fsync,
	}
	boot(&cfg)
	c.opts.applyTLS(&cfg, true)
	for _, fn := range c.opts.configure {
		fn(&cfg)
	}
	s := &Server{t: c.t, cfg: cfg, addr: addr, raftAddr: raftAddr}
	c.t.Cleanup(s.Stop)
	c.nodes, c.faults = append(c.nodes, s), append(c.faults, f)
	return s
}

// Join starts a fresh node, "node<N>" for the N-th node of the cluster,
// with its own data dir and ports, which joins the running cluster as a
// voter through the leader's client address (server.Config.Join), as
// `waymakerd --join` does. It returns the new node's index once the node
// has caught up with the leader (by snapshot install when the log it
// needs was compacted away) and the leader has promoted it from staging
// to voter (server.Config.PromotionStabilization; 300ms in a test
// cluster); Kill, Restart, Partition and Leader include it from then on.
// It fails the test if the node cannot join, or is not a voter within
// 30 s.
func (c *Cluster) Join() int {
	c.t.Helper()
	i := c.JoinStaged()
	id := c.ids[i]
	deadline := time.Now().Add(30 * time.Second)
	for {
		l := c.nodes[c.Leader()].server()
		if l != nil && l.Suffrage(id) == "voter" {
			return i
		}
		if time.Now().After(deadline) {
			suffrage := ""
			if l != nil {
				suffrage = l.Suffrage(id)
			}
			c.t.Fatalf("waymakertest: joined node %d (%s) is %q, not a voter, 30s after it caught up", i, id, suffrage)
		}
		<-time.After(20 * time.Millisecond) // a poll interval, not a synchronisation
	}
}

// JoinStaged is Join without waiting for the promotion: it returns once
// the new node has caught up, when it is usually still staging (a
// non-voter the leader promotes once it has stayed healthy).
func (c *Cluster) JoinStaged() int {
	c.t.Helper()
	lead := c.nodes[c.Leader()].Addr()
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		c.t.Fatalf("waymakertest: listen: %v", err)
	}
	raftLis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		lis.Close()
		c.t.Fatalf("waymakertest: listen: %v", err)
	}
	i := len(c.nodes)
	id := fmt.Sprintf("node%d", i+1)
	c.ids = append(c.ids, id)
	s := c.add(id, lis.Addr().String(), raftLis.Addr().String(), func(cfg *server.Config) { cfg.Join = lead })
	if err := s.startCluster(lis, raftLis); err != nil {
		c.t.Fatalf("waymakertest: join node %d (%s) through %s: %v", i, id, lead, err)
	}
	return i
}

// startCluster opens the node, serves it and starts it, on the given
// listeners.
func (s *Server) startCluster(lis, raftLis net.Listener) error {
	cfg := s.cfg
	cfg.RaftListener = raftLis
	srv, err := server.Open(cfg)
	if err != nil {
		lis.Close()
		raftLis.Close()
		return err
	}
	served := make(chan error, 1)
	go func() { served <- srv.Serve(lis) }()
	s.mu.Lock()
	s.srv, s.served = srv, served
	s.mu.Unlock()
	return srv.Start(context.Background())
}

// Addrs returns every node's client address, in node order; pass them to
// waymaker.ConnectMulti.
func (c *Cluster) Addrs() []string {
	addrs := make([]string, len(c.nodes))
	for i, s := range c.nodes {
		addrs[i] = s.Addr()
	}
	return addrs
}

// Node returns node i (0-based).
func (c *Cluster) Node(i int) *Server { return c.nodes[i] }

// Leader waits up to 10 s until a running node leads and has established
// its term, and returns its index. It fails the test if none does.
func (c *Cluster) Leader() int {
	c.t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		var changed []<-chan struct{}
		for i, s := range c.nodes {
			srv := s.server()
			if srv == nil {
				continue
			}
			if srv.IsLeader() {
				return i
			}
			changed = append(changed, srv.LeaderChanged())
		}
		if len(changed) == 0 || time.Now().After(deadline) {
			c.t.Fatalf("waymakertest: no node leads within 10s")
		}
		// Any node's change may be the one; waiting on the first with a
		// short bound covers the others without a goroutine per node.
		select {
		case <-changed[0]:
		case <-changed[len(changed)-1]:
		case <-time.After(10 * time.Millisecond):
		}
	}
}

// Kill stops node i as a crash would (server.Server.Kill): connections
// cut, no reply to calls in flight, no leadership transfer.
func (c *Cluster) Kill(i int) {
	s := c.nodes[i]
	s.mu.Lock()
	srv, served := s.srv, s.served
	s.srv = nil
	s.mu.Unlock()
	if srv == nil {
		return
	}
	srv.Kill()
	<-served
}

// Restart starts node i again, after Kill or Stop (or stops it first), on
// the same data dir and addresses. It returns once the node has a leader
// and has caught up; it fails the test otherwise.
func (c *Cluster) Restart(i int) {
	c.t.Helper()
	s := c.nodes[i]
	s.Stop()
	lis, err := listenAgain(s.addr)
	if err != nil {
		c.t.Fatalf("waymakertest: restart node %d: listen on %s: %v", i, s.addr, err)
	}
	raftLis, err := listenAgain(s.raftAddr)
	if err != nil {
		lis.Close()
		c.t.Fatalf("waymakertest: restart node %d: listen on %s: %v", i, s.raftAddr, err)
	}
	if err := s.startCluster(lis, raftLis); err != nil {
		c.t.Fatalf("waymakertest: restart node %d: %v", i, err)
	}
}

// RestartAll starts the given nodes again at once (every node when none is
// given), after Kill or Stop, each on its data dir and addresses, as after
// a power cut of the whole cluster: no node can elect a leader until a
// quorum of them is starting. It returns once every one has a leader and
// has caught up; it fails the test if any does not.
func (c *Cluster) RestartAll(idx ...int) {
	c.t.Helper()
	if len(idx) == 0 {
		for i := range c.nodes {
			idx = append(idx, i)
		}
	}
	errs := make([]error, len(idx))
	var wg sync.WaitGroup
	for k, i := range idx {
		s := c.nodes[i]
		s.Stop()
		wg.Go(func() {
			lis, err := listenAgain(s.addr)
			if err != nil {
				errs[k] = fmt.Errorf("listen on %s: %w", s.addr, err)
				return
			}
			raftLis, err := listenAgain(s.raftAddr)
			if err != nil {
				lis.Close()
				errs[k] = fmt.Errorf("listen on %s: %w", s.raftAddr, err)
				return
			}
			errs[k] = s.startCluster(lis, raftLis)
		})
	}
	wg.Wait()
	for k, err := range errs {
		if err != nil {
			c.t.Fatalf("waymakertest: restart node %d: %v", idx[k], err)
		}
	}
}

// Partition splits the cluster: nodes in different groups can no longer
// reach each other, neither for raft nor for forwarding calls. A node in
// no group is alone. Clients still reach every node. Heal undoes it.
func (c *Cluster) Partition(groups ...[]int) {
	group := make([]int, len(c.nodes))
	for i := range group {
		group[i] = -1 - i // alone unless listed
	}
	for g, members := range groups {
		for _, i := range members {
			group[i] = g
		}
	}
	for i := range c.nodes {
		for j := range c.nodes {
			if i != j && group[i] != group[j] {
				c.faults[i].Cut(c.ids[j], true, true)
			}
		}
	}
}

// CutOneWay stops node from's messages to node to (raft and forwarding),
// leaving the other direction open.
func (c *Cluster) CutOneWay(from, to int) {
	c.faults[from].Cut(c.ids[to], true, false)
	c.faults[to].Cut(c.ids[from], false, true)
}

// Heal removes every partition and cut.
func (c *Cluster) Heal() {
	for _, f := range c.faults {
		f.Heal()
	}
}

// Running returns the indexes of the nodes not killed or stopped.
func (c *Cluster) Running() []int {
	var r []int
	for i, s := range c.nodes {
		if s.server() != nil {
			r = append(r, i)
		}
	}
	return slices.Clip(r)
}

// State tells, in one line for a failure message, what each node knows
// of the leader: down, or whether it leads and the leader it knows.
func (c *Cluster) State() string {
	var b strings.Builder
	for i, s := range c.nodes {
		if i > 0 {
			b.WriteString("; ")
		}
		srv := s.server()
		if srv == nil {
			fmt.Fprintf(&b, "node %d down", i)
			continue
		}
		id, addr := srv.Leader()
		fmt.Fprintf(&b, "node %d leads=%v knows leader %q at %q", i, srv.IsLeader(), id, addr)
	}
	return b.String()
}

func (s *Server) server() *server.Server {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.srv
}
