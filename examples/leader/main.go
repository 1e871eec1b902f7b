// Command leader runs the published README's leader-election pattern as a
// program: try the lock once (MaxWait 0), renew it in the background, do
// fenced work while leading, and go back to contending when leadership is
// lost.
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
// Without WAYMAKER_ADDR it embeds a server, which only this process can
// reach, so it plays both instances itself: a leads, then "crashes" (drops
// its connection without unlocking), and b takes over.
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
		say("pid %d plays both instances, a and b, against a server in this process\n", os.Getpid())
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
	return contend(ctx, client, key, ttl, name, nil)
}

// demo plays two instances against an embedded server: a leads; after a
// few fenced writes it crashes (closes its connection without Unlock) and b
// takes over once a's lease has run out.
func demo(ctx context.Context, key string, ttl time.Duration) error {
	client, stopAll, err := embed.Connect(ctx)
	if err != nil {
		return err
	}
	defer stopAll()
	other, err := waymaker.Connect(ctx, client.Conn().Addrs()[0])
	if err != nil {
		return err
	}
	defer other.Close()

	actx, crash := context.WithCancel(ctx)
	defer crash()
	aLed, bLed := make(chan leadership, 8), make(chan leadership, 8)
	aDone := make(chan error, 1)
	go func() { aDone <- contend(actx, client, key, ttl, "a", aLed) }()
	// Let a lead first, so the roles are predictable.
	var a leadership
	select {
	case a = <-aLed:
	case <-ctx.Done():
		return ctx.Err()
	}
	bctx, stopB := context.WithCancel(ctx)
	defer stopB()
	bDone := make(chan error, 1)
	go func() { bDone <- contend(bctx, other, key, ttl, "b", bLed) }()

	select {
	case <-time.After(3 * time.Second):
	case <-ctx.Done():
		return ctx.Err()
	}
	say("[a] crashing now: connection dropped, lock NOT released (b must wait out the %v lease)\n", ttl)
	crashed := time.Now()
	_ = client.Close()
	<-aDone
	select {
	case b := <-bLed:
		say("b took over %v after a crashed, with fence token %d > a's %d\n", b.at.Sub(crashed).Round(100*time.Millisecond), b.token, a.token)
	case <-ctx.Done():
		return ctx.Err()
	}
	select {
	case <-time.After(2 * time.Second):
	case <-ctx.Done():
	}
	stopB()
	return <-bDone
}
