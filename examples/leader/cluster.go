package main

import (
	"context"
	"fmt"
	"net"
	"os"
	"time"

	"git.awesomike.com/pub/waymaker-client/go/server"
)

// node is one node of the embedded demo cluster.
type node struct {
	srv    *server.Server
	addr   string
	served chan error
}

// startCluster starts n waymaker nodes in this process, bootstrapped
// together on loopback, each with its own temporary data dir, as
// scripts/local-cluster.sh starts three waymakerd. stop stops every node
// still running and removes the data.
func startCluster(ctx context.Context, n int) (nodes []*node, stop func(), err error) {
	dir, err := os.MkdirTemp("", "waymaker-leader-demo-")
	if err != nil {
		return nil, nil, err
	}
	stop = func() {
		for _, nd := range nodes {
			if nd.srv != nil {
				nd.srv.Stop()
			}
			<-nd.served
		}
		_ = os.RemoveAll(dir)
	}
	var boot []server.Peer
	clientLis := make([]net.Listener, n)
	raftLis := make([]net.Listener, n)
	for i := range n {
		if clientLis[i], err = net.Listen("tcp", "127.0.0.1:0"); err != nil {
			return nil, stop, err
		}
		if raftLis[i], err = net.Listen("tcp", "127.0.0.1:0"); err != nil {
			return nil, stop, err
		}
		boot = append(boot, server.Peer{ID: fmt.Sprintf("node%d", i+1), Addr: raftLis[i].Addr().String()})
	}
	for i := range n {
		cfg := server.Config{
			DataDir: fmt.Sprintf("%s/node%d", dir, i+1), NodeID: boot[i].ID,
			RaftListen: boot[i].Addr, RaftListener: raftLis[i], Advertise: clientLis[i].Addr().String(),
			Bootstrap: boot, HeartbeatTimeout: 200 * time.Millisecond, ElectionTimeout: 200 * time.Millisecond,
			UnsafeNoFsync: true, // a demo's data dies with it
		}
		srv, err := server.Open(cfg)
		if err != nil {
			return nil, stop, err
		}
		nd := &node{srv: srv, addr: cfg.Advertise, served: make(chan error, 1)}
		go func() { nd.served <- srv.Serve(clientLis[i]) }()
		nodes = append(nodes, nd)
	}
	// Every node must be starting before any can elect a leader.
	errs := make(chan error, n)
	for _, nd := range nodes {
		go func() { errs <- nd.srv.Start(ctx) }()
	}
	for range nodes {
		if err := <-errs; err != nil {
			return nil, stop, err
		}
	}
	return nodes, stop, nil
}

// leaderNode returns the index of the node that leads the cluster now.
func leaderNode(ctx context.Context, nodes []*node) (int, error) {
	tick := time.NewTicker(10 * time.Millisecond)
	defer tick.Stop()
	for {
		for i, nd := range nodes {
			if nd.srv != nil && nd.srv.IsLeader() {
				return i, nil
			}
		}
		select {
		case <-tick.C:
		case <-ctx.Done():
			return 0, ctx.Err()
		}
	}
}

// kill crashes node i: connections cut, no answer to calls in flight.
func kill(nodes []*node, i int) {
	nodes[i].srv.Kill()
	<-nodes[i].served
	nodes[i].served <- nil // stop finds it ended
	nodes[i].srv = nil
}
