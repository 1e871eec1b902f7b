// Command leader runs a leader election as a program, with lock.Election:
// campaign (wait in line for the election's lock), write fenced while
// leading (kv.WithFence(leadership.Fence()): the server refuses the write
// once the term is over), and campaign again when leadership is lost. An
// observer prints every change of leader (Election.Observe).
//
// Against a server, build the binaries, start two instances and kill the
// leader with the PID it printed first:
//
//	go build -o /tmp/waymakerd ./server/cmd/waymakerd
//	go build -o /tmp/leader ./examples/leader
//	/tmp/waymakerd --data-dir /tmp/wm &
//	WAYMAKER_ADDR=127.0.0.1:8818 /tmp/leader -name a &
//	WAYMAKER_ADDR=127.0.0.1:8818 /tmp/leader -name b &
//	kill -9 <the PID the leader printed>
//
// Build first: under go run, kill -9 ends only the go command, and the
// program it started keeps running and keeps the lock. The other instance
// takes over within the lease TTL, with a higher fence token.
//
// Against a three-node cluster the servers fail over too: start one with
// scripts/local-cluster.sh, give both instances every node, and kill the
// leading waymakerd (wm cluster status names it) instead of, or as well as,
// the leading instance. The leading instance keeps its lock through the
// server's failover (same fence token: its renewals go to the new leader),
// and a killed instance's lock passes to the other as before:
//
//	scripts/local-cluster.sh /tmp/lc &
//	export WAYMAKER_ADDR=127.0.0.1:8818,127.0.0.1:8819,127.0.0.1:8820
//	/tmp/leader -name a & /tmp/leader -name b &
//	go run ./cmd/wm cluster status      # then kill -9 the leading node's waymakerd
//
// Without WAYMAKER_ADDR it embeds a three-node cluster, which only this
// process can reach, so it plays both instances itself: a leads, the
// cluster's raft leader node is killed and a's term rides through, then a
// "crashes" (drops its connection without resigning), b takes over, and a
// write with a's old fence is refused. It ends by itself in about 15 s.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"syscall"
	"time"

	waymaker "git.awesomike.com/pub/waymaker-client/go"
	"git.awesomike.com/pub/waymaker-client/go/examples/internal/embed"
	"git.awesomike.com/pub/waymaker-client/go/kv"
	"git.awesomike.com/pub/waymaker-client/go/transport"
)

func main() {
	key := flag.String("key", "leader:reports", "the lock that elects the leader")
	ttl := flag.Duration("ttl", 5*time.Second, "lease TTL: how long a crashed leader blocks the others")
	name := flag.String("name", fmt.Sprintf("pid-%d", os.Getpid()), "this instance's name in the output")
	runFor := flag.Duration("for", 0, "stop after this long (0: until interrupted)")
	flag.Parse()

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if *runFor > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, *runFor)
		defer cancel()
	}
	var err error
	if os.Getenv("WAYMAKER_ADDR") == "" {
		say("pid %d plays both instances, a and b, against a cluster in this process\n", os.Getpid())
		err = demo(ctx, *key, *ttl)
	} else {
		say("[%s] pid %d (kill -9 %d crashes this instance)\n", *name, os.Getpid(), os.Getpid())
		err = single(ctx, *key, *ttl, *name)
	}
	if err != nil && !errors.Is(err, context.Canceled) && !errors.Is(err, context.DeadlineExceeded) {
		fmt.Fprintln(os.Stderr, "leader:", err)
		os.Exit(1)
	}
}

// single is one instance against the server at WAYMAKER_ADDR.
func single(ctx context.Context, key string, ttl time.Duration, name string) error {
	client, stopAll, err := embed.Connect(ctx)
	if err != nil {
		return err
	}
	defer stopAll()
	octx, stopObserver := context.WithCancel(ctx)
	observed := make(chan struct{})
	go func() { defer close(observed); observe(octx, client, key) }()
	defer func() { stopObserver(); <-observed }()
	return contend(ctx, client, key, ttl, name, nil)
}

// demo plays two instances against an embedded three-node cluster, with an
// observer printing every change of leadership: a leads and writes fenced;
// the cluster's raft leader is killed, and a's term rides through the
// failover (same token, its writes go on through the new raft leader);
// then a crashes (its connection closes without resigning), b takes over
// once a's lease has run out, and a write still carrying a's fence, as a
// paused a would send on waking, is refused.
func demo(ctx context.Context, key string, ttl time.Duration) error {
	nodes, stopCluster, err := startCluster(ctx, 3)
	if err != nil {
		return fmt.Errorf("start the embedded cluster: %w", err)
	}
	defer stopCluster()
	var addrs []string
	for _, nd := range nodes {
		addrs = append(addrs, nd.addr)
	}
	say("started an embedded three-node waymaker cluster on %v\n", addrs)
	connect := func() (*waymaker.Client, error) { return waymaker.ConnectMulti(ctx, addrs) }
	a, err := connect()
	if err != nil {
		return err
	}
	defer a.Close()
	b, err := connect()
	if err != nil {
		return err
	}
	defer b.Close()
	watcher, err := connect()
	if err != nil {
		return err
	}
	defer watcher.Close()

	octx, stopObserver := context.WithCancel(ctx)
	observed := make(chan struct{})
	go func() { defer close(observed); observe(octx, watcher, key) }()
	defer func() { stopObserver(); <-observed }()

	actx, crash := context.WithCancel(ctx)
	defer crash()
	aLed, bLed := make(chan term, 8), make(chan term, 8)
	aDone := make(chan error, 1)
	go func() { aDone <- contend(actx, a, key, ttl, "a", aLed) }()
	// Let a lead first, so the roles are predictable.
	var aTerm term
	select {
	case aTerm = <-aLed:
	case <-ctx.Done():
		return ctx.Err()
	}
	bctx, stopB := context.WithCancel(ctx)
	defer stopB()
	bDone := make(chan error, 1)
	go func() { bDone <- contend(bctx, b, key, ttl, "b", bLed) }()

	if err := pause(ctx, 2500*time.Millisecond); err != nil {
		return err
	}
	l, err := leaderNode(ctx, nodes)
	if err != nil {
		return err
	}
	say("killing node%d, the cluster's raft leader: a's term must ride through the failover\n", l+1)
	kill(nodes, l)
	if err := pause(ctx, 3*time.Second); err != nil {
		return err
	}

	say("[a] crashing now: connection dropped, NOT resigned (b must wait out the %v lease)\n", ttl)
	crashed := time.Now()
	_ = a.Close()
	<-aDone
	var bTerm term
	select {
	case bTerm = <-bLed:
		say("b took over %v after a crashed, with fence token %d > a's %d\n", bTerm.at.Sub(crashed).Round(100*time.Millisecond), bTerm.token, aTerm.token)
	case <-ctx.Done():
		return ctx.Err()
	}
	// A paused a, waking now, would still write with its old fence.
	bucket, err := watcher.KeyValue().Open(ctx, bucketName)
	if err != nil {
		return err
	}
	_, err = bucket.Put(ctx, "report", []byte("a, late"), kv.WithFence(transport.Fence{Key: key, Token: aTerm.token}))
	if !errors.Is(err, waymaker.ErrFenced) {
		return fmt.Errorf("a write with a's old fence was not refused: %v", err)
	}
	say("[a, waking late] write with token %d refused by the server: %v\n", aTerm.token, err)
	if err := pause(ctx, 2*time.Second); err != nil {
		return err
	}
	stopB()
	return <-bDone
}

// pause waits d, or less if ctx ends.
func pause(ctx context.Context, d time.Duration) error {
	select {
	case <-time.After(d):
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}
