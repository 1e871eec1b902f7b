// Package collections is the waymaker collections client: Redis-shaped hashes and sets, and a reliable SQS-like queue.
//
// It can be used alone, without the root package:
//
//	conn, err := transport.Dial(ctx, []string{"localhost:8818"})
//	c := collections.New(conn)
package collections
