// Package kv is the waymaker KV client: buckets of keys with revisions, compare-and-set, history, TTL and watches.
//
// It can be used alone, without the root package:
//
//	conn, err := transport.Dial(ctx, []string{"localhost:8818"})
//	c := kv.New(conn)
package kv
