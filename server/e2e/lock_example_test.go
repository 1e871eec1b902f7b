package e2e

import (
	"context"
	"fmt"
	"net"
	"time"

	waymaker "git.awesomike.com/pub/waymaker-client/go"
	"git.awesomike.com/pub/waymaker-client/go/server"
)

// lockExampleServer starts an in-memory server for an Example (which has
// no testing.T) and returns its address and a stop function.
func lockExampleServer() (string, func()) {
	srv, err := server.New(server.Config{})
	if err != nil {
		panic(err)
	}
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		panic(err)
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		_ = srv.Serve(lis)
	}()
	return lis.Addr().String(), func() { srv.Stop(); <-done }
}

// Leader election against a real server: the first instance leads, the
// second finds the lock held, and after the leader steps down the second
// leads with a higher fence token.
func ExampleClient_AcquireLock() {
	addr, stop := lockExampleServer()
	defer stop()
	ctx := context.Background()
	first, err := waymaker.Connect(ctx, addr)
	if err != nil {
		panic(err)
	}
	defer first.Close()
	second, err := waymaker.Connect(ctx, addr)
	if err != nil {
		panic(err)
	}
	defer second.Close()

	cfg := waymaker.LockConfig{MaxWait: 0, LeaseTTL: 10 * time.Second, Scope: waymaker.ScopeQuorum}
	leader, err := first.AcquireLock(ctx, "leader:reports", cfg)
	if err != nil {
		panic(err)
	}
	renewal := leader.SpawnRenewal(5 * time.Second)
	fmt.Println("first leads with fence token", leader.FenceToken())

	_, err = second.AcquireLock(ctx, "leader:reports", cfg)
	fmt.Println("second tries:", waymaker.IsServerCode(err, "expired"))

	renewal.Stop()
	if err := leader.Unlock(ctx); err != nil {
		panic(err)
	}
	next, err := second.AcquireLock(ctx, "leader:reports", cfg)
	if err != nil {
		panic(err)
	}
	defer next.Unlock(ctx)
	fmt.Println("second leads with fence token", next.FenceToken())
	// Output:
	// first leads with fence token 1
	// second tries: true
	// second leads with fence token 2
}

// Several keys at once, all or none, each with its own fence token.
func ExampleClient_MultiLock() {
	addr, stop := lockExampleServer()
	defer stop()
	ctx := context.Background()
	client, err := waymaker.Connect(ctx, addr)
	if err != nil {
		panic(err)
	}
	defer client.Close()

	l, err := client.MultiLock(ctx, []string{"account:1", "account:2"}, waymaker.LockConfig{MaxWait: 5 * time.Second})
	if err != nil {
		panic(err)
	}
	for _, g := range l.Grants() {
		fmt.Println(g.Key, g.FenceToken)
	}
	fmt.Println(l.Unlock(ctx), l.State().Released)
	// Output:
	// account:1 1
	// account:2 1
	// <nil> true
}
