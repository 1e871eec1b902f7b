package e2e

import (
	"context"
	"errors"
	"fmt"
	"net"

	waymaker "git.awesomike.com/pub/waymaker-client/go"
	"git.awesomike.com/pub/waymaker-client/go/server"
)

// kvExampleServer starts an in-memory server for an Example (which has no
// testing.T) and returns its address and a stop function.
func kvExampleServer() (string, func()) {
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

// Buckets, compare-and-set and a watch, against a real server.
func ExampleClient_GetOrCreateKV() {
	addr, stop := kvExampleServer()
	defer stop()
	ctx := context.Background()
	client, err := waymaker.Connect(ctx, addr)
	if err != nil {
		panic(err)
	}
	defer client.Close()

	bucket, err := client.GetOrCreateKV(ctx, waymaker.KVConfig{Name: "profiles", History: 3})
	if err != nil {
		panic(err)
	}
	rev, _ := bucket.Put(ctx, "user.1.name", []byte("Ada"))
	fmt.Println("put at revision", rev)

	_, err = bucket.Update(ctx, "user.1.name", []byte("Grace"), rev+1)
	fmt.Println("stale update refused:", errors.Is(err, waymaker.ErrWrongRevision))
	rev, _ = bucket.Update(ctx, "user.1.name", []byte("Ada L."), rev)
	fmt.Println("update at revision", rev)

	w, err := bucket.Watch(ctx, "user.*.name")
	if err != nil {
		panic(err)
	}
	defer w.Stop()
	_, _ = bucket.Put(ctx, "user.2.name", []byte("Alan"))
	for i := 0; i < 3; i++ {
		ev, _ := w.Next()
		switch {
		case ev.Put != nil:
			fmt.Printf("watch: %s=%s @%d\n", ev.Put.Key, ev.Put.Value, ev.Put.Revision)
		case ev.InitialDone:
			fmt.Println("watch: initial values done")
		}
	}
	// Output:
	// put at revision 1
	// stale update refused: true
	// update at revision 2
	// watch: user.1.name=Ada L. @2
	// watch: initial values done
	// watch: user.2.name=Alan @3
}
