// Package cache is the waymaker cache client: policies that turn a KV bucket
// into a bounded LRU or LFU cache.
//
// A policy attaches to an existing KV bucket and bounds it by live keys
// (MaxEntries), by bytes of live keys and values (MaxBytes), or both; the
// server evicts the least recently (LRU) or least frequently (LFU) used keys
// to stay within the bounds, and optionally expires keys DefaultTTL after
// they were written. Reads and writes go through the KV client as usual;
// Stats counts the bucket's hits, misses, evictions and expirations.
// Detaching a policy stops eviction and keeps the data.
//
// # Fenced writes
//
// AttachPolicy and DetachPolicy take cache.WithFence(l.Fence()), the fence
// of a held lock (transport.Fence): the server applies the change only
// while that lock is held exclusively with that token, and otherwise
// changes nothing and fails with ErrFenced (result code "fenced").
//
// It can be used alone, without the root package:
//
//	conn, err := transport.Dial(ctx, []string{"localhost:8818"})
//	c := cache.New(conn)
//	_, err = c.AttachPolicy(ctx, cache.Policy{Bucket: "sessions", MaxEntries: 10000})
//
// A server with caching off answers Unimplemented; every call then returns
// an error for which errors.Is(err, transport.ErrUnimplemented) holds, at
// once and without retrying.
//
// # Runnable examples
//
// This package's Examples compile but do not run: they dial a server at
// localhost:8818. ExampleClient_CacheAttachPolicy in
// server/e2e/cache_test.go (the server module) starts a server in its own
// process and checks its output. Run it with:
//
//	cd server && go test -run Example ./e2e/
package cache
