package lock_test

import (
	"context"
	"fmt"
	"time"

	"git.awesomike.com/pub/waymaker-client/go/lock"
	"git.awesomike.com/pub/waymaker-client/go/transport"
)

// Leader election with the lock client alone: try once, renew in the
// background, and stop working as soon as the lock is lost.
func ExampleClient_Acquire() {
	ctx := context.Background()
	conn, err := transport.Dial(ctx, []string{"localhost:8818"})
	if err != nil {
		panic(err)
	}
	defer conn.Close()
	locks := lock.New(conn)

	l, err := locks.Acquire(ctx, "leader:reports", lock.Config{LeaseTTL: 30 * time.Second})
	if transport.IsServerCode(err, "expired") {
		fmt.Println("someone else leads")
		return
	}
	if err != nil {
		panic(err)
	}
	defer l.Unlock(ctx)
	renewal := l.SpawnRenewal(10 * time.Second)
	defer renewal.Stop()

	for !l.IsLost() {
		fmt.Println("leading with fence token", l.FenceToken())
		select {
		case <-l.Watch(): // a renewal, or the loss
		case <-time.After(time.Second):
		}
	}
	fmt.Println("lost:", l.Err())
}

// Take several keys at once, all or none, waiting up to five seconds.
func ExampleClient_MultiLock() {
	ctx := context.Background()
	conn, err := transport.Dial(ctx, []string{"localhost:8818"})
	if err != nil {
		panic(err)
	}
	defer conn.Close()

	l, err := lock.New(conn).MultiLock(ctx, []string{"account:1", "account:2"}, lock.Config{MaxWait: 5 * time.Second})
	if err != nil {
		panic(err)
	}
	defer l.Unlock(ctx)
	for _, g := range l.Grants() {
		fmt.Println(g.Key, g.FenceToken)
	}
}

// An election: campaign, lead with fenced writes, resign; an observer
// elsewhere sees every change of leader.
func ExampleElection() {
	ctx := context.Background()
	conn, err := transport.Dial(ctx, []string{"localhost:8818"})
	if err != nil {
		panic(err)
	}
	defer conn.Close()
	e, err := lock.New(conn).Election("leader:reports", lock.ElectionConfig{LeaseTTL: 10 * time.Second})
	if err != nil {
		panic(err)
	}
	leadership, err := e.Campaign(ctx, []byte("worker-1"))
	if err != nil {
		panic(err)
	}
	defer leadership.Resign(ctx)
	fmt.Println("leading with fence", leadership.Fence()) // pass it to kv.WithFence and the others
	if ld, err := e.Leader(ctx); err == nil {
		fmt.Printf("leader %s, token %d\n", ld.Value, ld.Fence.Token)
	}
}
