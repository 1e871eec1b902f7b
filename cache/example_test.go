package cache_test

import (
	"context"
	"fmt"

	"git.awesomike.com/pub/waymaker-client/go/cache"
	"git.awesomike.com/pub/waymaker-client/go/transport"
)

// Bound a KV bucket to 1000 keys, evicting the least recently used. (A
// runnable example against a server lives in server/e2e.)
func Example() {
	ctx := context.Background()
	conn, err := transport.Dial(ctx, []string{"localhost:8818"})
	if err != nil {
		panic(err)
	}
	defer conn.Close()
	c := cache.New(conn)
	if _, err := c.AttachPolicy(ctx, cache.Policy{Bucket: "sessions", MaxEntries: 1000, Eviction: cache.LRU}); err != nil {
		panic(err)
	}
	st, err := c.Stats(ctx, "sessions")
	if err != nil {
		panic(err)
	}
	fmt.Println(st.Hits, st.Misses, st.Evictions, st.Entries)
}
