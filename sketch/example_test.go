package sketch_test

import (
	"context"
	"fmt"

	"git.awesomike.com/pub/waymaker-client/go/sketch"
	"git.awesomike.com/pub/waymaker-client/go/transport"
)

// Using the sketch package alone: a Bloom filter that scales past its
// capacity, and a HyperLogLog counting distinct visitors. (Runnable
// examples against an embedded server are in server/e2e.)
func Example() {
	ctx := context.Background()
	conn, err := transport.Dial(ctx, []string{"localhost:8818"})
	if err != nil {
		panic(err)
	}
	defer conn.Close()
	c := sketch.New(conn)

	seen, err := c.CreateBloom(ctx, sketch.BloomConfig{Name: "seen-urls", Capacity: 1_000_000, ErrorRate: 0.001})
	if err != nil {
		panic(err)
	}
	if added, _ := seen.Add(ctx, []byte("https://example.com/")); added {
		fmt.Println("first visit")
	}

	visitors, _ := c.CreateHLL(ctx, sketch.HLLConfig{Name: "visitors-today"})
	_, _ = visitors.Add(ctx, []byte("alice"), []byte("bob"), []byte("alice"))
	n, _ := visitors.Count(ctx)
	fmt.Println("about", n, "distinct visitors")
}
