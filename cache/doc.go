// Package cache is the waymaker cache client: policies that turn a KV bucket into a bounded LRU or LFU cache.
//
// It can be used alone, without the root package:
//
//	conn, err := transport.Dial(ctx, []string{"localhost:8818"})
//	c := cache.New(conn)
package cache
