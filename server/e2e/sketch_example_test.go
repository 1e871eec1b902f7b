package e2e

import (
	"context"
	"fmt"
	"net"

	waymaker "git.awesomike.com/pub/waymaker-client/go"
	"git.awesomike.com/pub/waymaker-client/go/server"
)

// sketchExampleServer starts an in-memory server for an Example and
// returns its address and a stop function.
func sketchExampleServer() (string, func()) {
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

// A Bloom filter answers "certainly not seen" or "probably seen", and BF.ADD
// tells whether an item was new.
func ExampleClient_CreateBloom() {
	addr, stop := sketchExampleServer()
	defer stop()
	ctx := context.Background()
	client, err := waymaker.Connect(ctx, addr)
	if err != nil {
		panic(err)
	}
	defer client.Close()

	seen, err := client.CreateBloom(ctx, waymaker.BloomConfig{Name: "seen", Capacity: 1000, ErrorRate: 0.001})
	if err != nil {
		panic(err)
	}
	first, _ := seen.Add(ctx, []byte("order-17"))
	again, _ := seen.Add(ctx, []byte("order-17"))
	exists, _ := seen.MExists(ctx, []byte("order-17"), []byte("order-18"))
	fmt.Println("added:", first, again)
	fmt.Println("exists:", exists)
	// Output:
	// added: true false
	// exists: [true false]
}

// Distinct counts with HyperLogLog, heavy hitters with Top-K, and
// percentiles with a t-digest.
func ExampleClient_CreateTDigest() {
	addr, stop := sketchExampleServer()
	defer stop()
	ctx := context.Background()
	client, err := waymaker.Connect(ctx, addr)
	if err != nil {
		panic(err)
	}
	defer client.Close()

	visitors, _ := client.CreateHLL(ctx, waymaker.HLLConfig{Name: "visitors"})
	_, _ = visitors.Add(ctx, []byte("ada"), []byte("grace"), []byte("ada"))
	n, _ := visitors.Count(ctx)
	fmt.Println("distinct visitors:", n)

	pages, _ := client.CreateTopK(ctx, waymaker.TopKConfig{Name: "pages", K: 2})
	_, _ = pages.Add(ctx, []byte("/"), []byte("/docs"), []byte("/"), []byte("/blog"), []byte("/"), []byte("/docs"))
	top, _ := pages.List(ctx)
	for _, p := range top {
		fmt.Printf("%s %d\n", p.Item, p.Count)
	}

	latency, _ := client.CreateTDigest(ctx, waymaker.TDigestConfig{Name: "latency-ms"})
	_ = latency.Add(ctx, 12, 15, 11, 14, 13, 250, 12, 16, 13, 14)
	q, _ := latency.Quantile(ctx, 0.5)
	rank, _ := latency.Rank(ctx, 250)
	fmt.Println("median:", q[0], "rank of 250:", rank[0])
	// Output:
	// distinct visitors: 2
	// / 3
	// /docs 2
	// median: 14 rank of 250: 9
}
